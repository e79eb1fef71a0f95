# Copyright 2026 The pi0fast_ros Authors
#
# Licensed under the Apache License, Version 2.0 (the "License");
# you may not use this file except in compliance with the License.
# You may obtain a copy of the License at
#
#     http://www.apache.org/licenses/LICENSE-2.0
#
# Unless required by applicable law or agreed to in writing, software
# distributed under the License is distributed on an "AS IS" BASIS,
# WITHOUT WARRANTIES OR CONDITIONS OF ANY KIND, either express or implied.
# See the License for the specific language governing permissions and
# limitations under the License.

"""
`pi0fast-ctl` against the real graph, started by pi0fast-bringup.

policy_node (the demo checkpoint), executor_node, fake_robot and rollout_recorder run as
separate processes over DDS.

pi0fast-ctl runs as the installed console script (from PATH, as a user types it); its effects
are checked from a probe: the policy's chunk_info names the new instruction, the executor's
status says disabled / holding, the recorder's bag exists.
"""

import hashlib
import os
import shutil
import subprocess

from bringup_rig import Bringup
from diagnostic_msgs.msg import DiagnosticArray
from harness import CONFIG_DIR, REPO, wait_for
import pytest

pytestmark = [pytest.mark.ros, pytest.mark.slow]
DEMO = REPO / 'demo' / 'so100_synthetic'


def ctl(*args, timeout=20.0):
    """Run the installed pi0fast-ctl; return the CompletedProcess (text output)."""
    exe = shutil.which('pi0fast-ctl')
    assert exe, 'pi0fast-ctl is not on PATH (source scripts/env.sh)'
    return subprocess.run([exe, '--timeout', str(timeout), *map(str, args)],
                          capture_output=True, text=True, timeout=timeout * 3 + 30)


def _values(item):
    msg = item[1]   # the probe collects (receive time, message)
    return {kv.key: kv.value for kv in msg.status[0].values}


@pytest.fixture
def graph(probe, tmp_path):
    namespace = f'/ctl_{os.getpid()}'
    bringup = Bringup(['--config', CONFIG_DIR / 'so100.yaml', '--fake-hardware',
                       '--checkpoint', DEMO, '--instruction', 'wave', '--namespace', namespace,
                       '--record', tmp_path / 'rollouts'], tmp_path / 'bringup.log')
    try:
        yield namespace, bringup, tmp_path / 'rollouts'
    finally:
        bringup.stop()


def test_ctl_drives_policy_executor_and_recorder(probe, graph):
    ns, bringup, rollouts = graph
    info = probe.collect(DiagnosticArray, f'{ns}/policy_node/chunk_info')
    status = probe.collect(DiagnosticArray, f'{ns}/executor_node/status')
    assert wait_for(lambda: any(_values(m).get('instruction') == 'wave' for m in info), 120), \
        bringup.output()[-4000:]

    done = ctl('--namespace', ns, 'instruction', 'reach left')
    assert done.returncode == 0, done.stderr
    assert "now runs 'reach left'" in done.stdout
    assert wait_for(lambda: any(_values(m).get('instruction') == 'reach left' for m in info),
                    60), 'the policy never computed a chunk for the new instruction'
    # The policy subscribes reliable + volatile (what the ros2 CLI offers), so the chunk above
    # proves ctl's publisher matches such a subscription. (A second volatile probe here raced
    # DDS discovery: a volatile reader that matches late never gets the message.)

    done = ctl('--namespace', ns, 'enable', 'false')
    assert done.returncode == 0 and "message='disabled" in done.stdout, done.stderr
    count = len(status)
    assert wait_for(lambda: any(m.status[0].message.startswith('disabled')
                                for _, m in list(status)[count:]), 20)
    assert ctl('--namespace', ns, 'enable', 'true').returncode == 0
    done = ctl('--namespace', ns, 'hold', 'on')
    assert done.returncode == 0 and 'success=True' in done.stdout, done.stderr
    assert ctl('--namespace', ns, 'hold', 'off').returncode == 0
    done = ctl('--namespace', ns, 'pause', 'true')
    assert done.returncode == 0 and "message='paused'" in done.stdout, done.stderr
    assert ctl('--namespace', ns, 'pause', 'false').returncode == 0

    stopped = ctl('--namespace', ns, 'recorder', 'stop')
    assert stopped.returncode == 0, stopped.stderr
    closed = [p for p in rollouts.iterdir() if p.is_dir() and str(p) in stopped.stdout]
    assert len(closed) == 1, (stopped.stdout, sorted(rollouts.iterdir()))
    # the closed bag names the demo's weights, and its chunks were computed by them
    prov = subprocess.run([shutil.which('pi0fast-provenance'), str(closed[0])],
                          capture_output=True, text=True, timeout=300)
    weights = b''.join(p.read_bytes() for p in sorted(DEMO.glob('*.safetensors')))
    assert f'weights sha256 {hashlib.sha256(weights).hexdigest()}, ' in prov.stdout, prov.stdout
    assert 'computed by weights' not in prov.stdout and prov.returncode == 0, prov.stdout
    again = ctl('--namespace', ns, 'recorder', 'stop')
    assert again.returncode == 1 and 'success=False' in again.stderr   # the node said no
    started = ctl('--namespace', ns, 'recorder', 'start')
    assert started.returncode == 0, started.stderr
    bags = [p for p in rollouts.iterdir() if p.name in started.stdout]
    assert bags and bags[0].is_dir(), (started.stdout, sorted(rollouts.iterdir()))


def test_ctl_says_what_is_missing_and_fails(probe):
    ns = f'/nobody_{os.getpid()}'
    done = ctl('--namespace', ns, 'enable', 'false', timeout=2)
    assert done.returncode == 3
    assert f'service {ns}/executor_node/enable is not available' in done.stderr
    done = ctl('--namespace', ns, 'recorder', 'start', timeout=2)
    assert done.returncode == 3 and f'{ns}/rollout_recorder/start' in done.stderr
    done = ctl('--namespace', ns, 'instruction', 'go home', timeout=2)
    assert done.returncode == 3
    assert f'no policy_node subscribes to {ns}/policy_node/instruction' in done.stderr


def test_ctl_rejects_bad_usage():
    assert ctl('hold', 'maybe').returncode == 2
    done = ctl('instruction', '   ', timeout=2)
    assert done.returncode == 2 and 'empty' in done.stderr
