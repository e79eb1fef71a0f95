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
The so100 and aloha graphs as `pi0fast-bringup` starts them (pip-env twins of the launch tests).

fake_robot + rollout_recorder + executor_node + policy_node (a tiny scripted checkpoint), all
separate processes over DDS, checked with the same GraphChecks as test_so100_launch.py and
test_aloha_launch.py; then the recorded bag is read back with rosbags and sampled commands are
traced to their chunk and observation.
"""

import os
import pathlib
import subprocess
import sys

from bringup_rig import Bringup
from graph_checks import check_recorded_provenance, GraphChecks, make_test_checkpoint
from graph_checks import graph_test_config
from harness import CONFIG_DIR, wait_for
import pytest

pytestmark = [pytest.mark.ros, pytest.mark.slow]
CONFIG = CONFIG_DIR / 'so100.yaml'


def run_graph(probe, tmp_path, shipped_config):
    """Bring up the shipped config's graph with fake hardware; run every GraphCheck on it."""
    config = graph_test_config(tmp_path, shipped_config)
    checkpoint = make_test_checkpoint(tmp_path / 'checkpoint', config)
    namespace = f'/graph_{pathlib.Path(shipped_config).stem}_{os.getpid()}'
    checks = GraphChecks(probe, namespace, config)
    bringup = Bringup(['--config', config, '--fake-hardware', '--checkpoint', checkpoint,
                       '--instruction', 'pick up the cube', '--namespace', namespace,
                       '--record', tmp_path / 'rollouts'], tmp_path / 'bringup.log')
    try:
        checks.run_all()
    except AssertionError as exc:
        raise AssertionError(f'{exc}\n--- bringup output ---\n{bringup.output()[-6000:]}')
    finally:
        code = bringup.stop()
    out = bringup.output()
    # SIGINT stops every node cleanly; only the killed policy node reports its SIGKILL.
    assert "'rollout_recorder': 0" in out and "'fake_robot': 0" in out, out[-3000:]
    assert "'executor_node': 0" in out and "'policy_node': -9" in out, out[-3000:]
    assert code == 1, 'a node that died is reported in the exit status'
    check_recorded_provenance(tmp_path / 'rollouts', 'pick up the cube', config)


def test_so100_graph_with_fake_hardware(probe, tmp_path):
    run_graph(probe, tmp_path, CONFIG)


def test_aloha_graph_with_fake_hardware(probe, tmp_path):
    # 14 joints, three policy cameras of four, 50 Hz, joint flips and gripper maps in the
    # executor: GraphChecks compares its commands with openpi's maps of the chunks.
    run_graph(probe, tmp_path, CONFIG_DIR / 'aloha.yaml')


@pytest.mark.parametrize('name', ['nosuch', 'missing.yaml'])
def test_bringup_refuses_a_missing_config_and_lists_the_valid_names(tmp_path, name):
    value = name if name == 'nosuch' else str(tmp_path / name)
    proc = subprocess.run([sys.executable, '-m', 'pi0fast_ros.tools.bringup', '--config',
                           value], capture_output=True, text=True, timeout=60)
    assert proc.returncode == 2
    assert f'--config {value!r}: not a file and not an embodiment name' in proc.stderr
    assert 'valid names: so100, aloha' in proc.stderr


@pytest.mark.ros
def test_a_node_that_cannot_start_stops_the_graph_with_its_reason(tmp_path):
    # The policy node cannot start without a checkpoint: the graph stops at once (not at the
    # end of --duration), bringup says why on its own line and exits 1; the other nodes get
    # SIGINT and exit cleanly.
    bringup = Bringup(['--config', CONFIG, '--fake-hardware', '--duration', 120,
                       '--namespace', f'/fail_{os.getpid()}', '--log-dir', tmp_path / 'logs',
                       '--quiet'], tmp_path / 'bringup.log')
    try:
        assert wait_for(lambda: bringup.proc.poll() is not None, 90), bringup.output()
    finally:
        code = bringup.stop()
    out = bringup.output()
    assert code == 1, out
    assert ('[bringup] stopping (policy_node exited with status 1: checkpoint_path is '
            'required') in out, out
    assert 'checkpoint:=DIR' in out, out
    assert "'fake_robot': 0" in out and "'executor_node': 0" in out, out


@pytest.mark.ros
def test_keep_going_leaves_the_graph_up_when_a_node_cannot_start(tmp_path):
    bringup = Bringup(['--config', CONFIG, '--fake-hardware', '--keep-going',
                       '--namespace', f'/keep_{os.getpid()}'], tmp_path / 'bringup.log')
    try:
        assert wait_for(lambda: 'policy_node exited with code 1' in bringup.output(), 90), \
            bringup.output()
        assert bringup.proc.poll() is None, bringup.output()
    finally:
        code = bringup.stop()
    out = bringup.output()
    assert 'stopping (stop requested (signal))' in out, out
    assert "'policy_node': 1" in out and "'fake_robot': 0" in out, out
    assert code == 1, 'the failed node is still reported in the exit status'
