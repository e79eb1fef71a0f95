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
`ros2 param dump` of every node, and the dump as a `--params-file`, round trip.

The pip environment has no ros2cli: Probe.dump_parameters does what its dump verb does (the
node's list_parameters and get_parameters services, the same YAML). Each node starts with a
shipped config, is dumped, stopped, started again from the dump alone, and dumped again: both
dumps must be equal, and every declared parameter must have a value in them (rclpy answers a
request naming a parameter without one with nothing at all: `ros__parameters: {}`).
"""

import os

from graph_checks import make_test_checkpoint
from harness import CONFIG_DIR, NodeProcess
import pytest

pytestmark = [pytest.mark.ros, pytest.mark.slow]
READY_TIMEOUT_S = 120.0
NODES = {
    'policy_node': ('pi0fast_ros.nodes.policy', 'ready:'),
    'executor_node': ('pi0fast_ros.nodes.executor', 'executor ready'),
    'fake_robot': ('pi0fast_ros.nodes.fake_robot', 'fake robot ready'),
    'rollout_recorder': ('pi0fast_ros.nodes.recorder', 'recording to'),
}


def _leaves(tree, prefix=''):
    for key, value in tree.items():
        if isinstance(value, dict):
            yield from _leaves(value, f'{prefix}{key}.')
        else:
            yield f'{prefix}{key}', value


def _start(name, namespace, tmp_path, params_file, params=None):
    module, ready = NODES[name]
    proc = NodeProcess(module, log_dir=tmp_path, name=name, namespace=namespace,
                       params_file=params_file, params=params)
    assert proc.wait_for_output(ready, READY_TIMEOUT_S), proc.output()
    return proc


def _dump(probe, node_name, proc):
    from rcl_interfaces.srv import ListParameters
    listed = probe.call(ListParameters, f'{node_name}/list_parameters',
                        ListParameters.Request(), retries=2).result.names
    dump, text = probe.dump_parameters(node_name)
    leaves = dict(_leaves(dump[node_name]['ros__parameters']))
    assert sorted(leaves) == sorted(listed), f'values missing in the dump:\n{text}'
    unset = [k for k, v in leaves.items() if v is None]
    assert not unset, f'parameters without a value: {unset}\n{text}'
    return dump, text


@pytest.mark.parametrize('config,name', [
    ('so100', 'policy_node'), ('so100', 'executor_node'), ('aloha', 'policy_node'),
    ('aloha', 'executor_node'), ('so100', 'fake_robot'), ('so100', 'rollout_recorder')])
def test_dump_reloads_to_the_same_parameters(probe, tmp_path, config, name):
    config_file = CONFIG_DIR / f'{config}.yaml'
    params = {}
    if name == 'policy_node':
        params = {'checkpoint_path': str(make_test_checkpoint(tmp_path / 'ckpt', config_file)),
                  'instruction': 'wave', 'torch_threads': 1}
    elif name == 'rollout_recorder':
        params = {'output_dir': str(tmp_path / 'rollouts'), 'autostart': True}
    namespace = f'/dump_{config}_{os.getpid()}'
    node_name = f'{namespace}/{name}'
    first = _start(name, namespace, tmp_path, config_file, params)
    try:
        dump, text = _dump(probe, node_name, first)
    finally:
        first.stop()
    dumped = tmp_path / 'dumped.yaml'
    dumped.write_text(text)
    second = _start(name, namespace, tmp_path, dumped)
    try:
        again, _ = _dump(probe, node_name, second)
    finally:
        second.stop()
    assert again == dump, f'first dump:\n{text}\nafter reloading it:\n{again}'
