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
Every node exits cleanly on SIGINT, once or twice.

Once: Ctrl-C, ros2 launch. Twice in quick succession: a supervisor signalling the whole process
group, then launch forwarding it once more.

Also a signal that lands while a node is still importing its module (rclpy, torch: seconds),
as soon as the entry point (nodes/entry.py) has its handler in place.

Each node runs as its own process with the shipped so100 config (the policy node with a tiny
scripted checkpoint); after it said it is ready it gets the signal(s), and the test asserts
exit status 0 and no traceback in its output. PI0FAST_EXIT_RUNS (default 5) sets how many
runs each node and signal pattern gets.
"""

import os
import pathlib
import shutil
import signal
import subprocess
import sys
import time

from graph_checks import make_test_checkpoint
from harness import CONFIG_DIR, NodeProcess, wait_for
import pytest

pytestmark = [pytest.mark.ros, pytest.mark.slow]
CONFIG = CONFIG_DIR / 'so100.yaml'
RUNS = int(os.environ.get('PI0FAST_EXIT_RUNS', '5'))
READY_TIMEOUT_S = 120.0
EXIT_TIMEOUT_S = 60.0
# (package run with -m, line its node logs once it is up)
NODES = {
    'policy_node': ('pi0fast_ros.nodes.policy', 'ready:'),
    'executor_node': ('pi0fast_ros.nodes.executor', 'executor ready'),
    'fake_robot': ('pi0fast_ros.nodes.fake_robot', 'fake robot ready'),
    'rollout_recorder': ('pi0fast_ros.nodes.recorder', 'recording to'),
}
BAD_OUTPUT = ('Traceback', 'KeyboardInterrupt', 'Exception ignored', 'RuntimeError')


@pytest.fixture(scope='module')
def checkpoint(tmp_path_factory):
    return make_test_checkpoint(tmp_path_factory.mktemp('exits') / 'checkpoint', CONFIG)


def _params(name, checkpoint, tmp_path):
    if name == 'policy_node':
        return {'checkpoint_path': str(checkpoint), 'instruction': 'wave', 'torch_threads': 1}
    if name == 'rollout_recorder':
        return {'output_dir': str(tmp_path / 'rollouts'), 'autostart': True}
    return {}


def _run_once(name, signals, checkpoint, tmp_path, run):
    module, ready = NODES[name]
    proc = NodeProcess(module, log_dir=tmp_path, name=name, params_file=CONFIG,
                       params=_params(name, checkpoint, tmp_path),
                       namespace=f'/exit_{os.getpid()}_{run}')
    try:
        assert proc.wait_for_output(ready, READY_TIMEOUT_S), proc.output()
        for _ in range(signals):
            proc.proc.send_signal(signal.SIGINT)
            time.sleep(0.01)
        code = proc.proc.wait(EXIT_TIMEOUT_S)
    finally:
        proc.stop()
    out = proc.output()
    assert code == 0, f'{name} run {run}: exit status {code} after {signals} SIGINT(s)\n{out}'
    bad = [text for text in BAD_OUTPUT if text in out]
    assert not bad, f'{name} run {run}: {bad} in the output after {signals} SIGINT(s)\n{out}'


# A policy node start takes 10-30 s on a busy 2-core machine: scale pytest's 600 s timeout.
@pytest.mark.timeout(max(600, RUNS * 90))
@pytest.mark.parametrize('signals', [1, 2], ids=['single', 'double'])
@pytest.mark.parametrize('name', list(NODES))
def test_node_exits_cleanly_on_sigint(name, signals, checkpoint, tmp_path):
    for run in range(RUNS):
        _run_once(name, signals, checkpoint, tmp_path, run)


def test_signal_during_startup_is_a_clean_stop(checkpoint, tmp_path):
    # SIGINT while the policy node is still loading: it stops at once, status 0, no traceback.
    proc = NodeProcess(NODES['policy_node'][0], log_dir=tmp_path, params_file=CONFIG,
                       params=_params('policy_node', checkpoint, tmp_path),
                       namespace=f'/exit_start_{os.getpid()}')
    try:
        assert proc.wait_for_output('loading checkpoint', READY_TIMEOUT_S), proc.output()
        proc.proc.send_signal(signal.SIGINT)
        code = proc.proc.wait(EXIT_TIMEOUT_S)
    finally:
        proc.stop()
    out = proc.output()
    assert code == 0 and 'stopped during start-up' in out, out
    assert 'Traceback' not in out and 'ready:' not in out, out


def _catches_sigterm(pid):
    # Python itself only catches SIGINT; StopSignals also catches SIGTERM (bit 14 of SigCgt).
    try:
        status = pathlib.Path(f'/proc/{pid}/status').read_text()
    except OSError:
        return False
    caught = next(line for line in status.splitlines() if line.startswith('SigCgt:'))
    return bool(int(caught.split()[1], 16) & (1 << (signal.SIGTERM - 1)))


@pytest.mark.parametrize('signals', [1, 2], ids=['single', 'double'])
@pytest.mark.parametrize('how', ['python -m', 'ros2 run executable'])
@pytest.mark.parametrize('name', list(NODES))
def test_signal_while_importing_is_a_clean_stop(name, how, signals, tmp_path):
    # The signal lands while the node's module is still being imported: before run_node and
    # rclpy.init, so the only line said is the entry point's own (no ROS logger timestamp).
    if how == 'python -m':
        cmd = [sys.executable, '-u', '-m', NODES[name][0]]
    else:
        cmd = [shutil.which(name) or pytest.fail(f'{name} is not on PATH (colcon build)')]
    log = tmp_path / 'out.log'
    with open(log, 'wb') as out:
        proc = subprocess.Popen(cmd + ['--ros-args', '-r', f'__ns:=/imp_{os.getpid()}'],
                                stdout=out, stderr=subprocess.STDOUT, start_new_session=True)
    try:
        assert wait_for(lambda: _catches_sigterm(proc.pid) or proc.poll() is not None, 60)
        for _ in range(signals):
            proc.send_signal(signal.SIGINT)
            time.sleep(0.01)
        code = proc.wait(EXIT_TIMEOUT_S)
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.wait()
    text = log.read_text(errors='replace')
    assert code == 0, f'{how} {name}: exit status {code}\n{text}'
    assert text.strip() == f'[INFO] [{name}]: stopped during start-up', text
