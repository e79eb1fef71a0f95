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

"""The policy node's parameters: camera mapping, slot resolution, start-up errors."""

import os

from harness import CONFIG_DIR, wait_for
from pi0fast_ros.nodes.common import StartupError
from pi0fast_ros.nodes.policy.config import CameraInput, parse_cameras, resolve_slots
import pytest
import yaml

SLOTS = ['observation.images.base', 'observation.images.left', 'observation.images.right']


def test_parallel_lists_become_camera_inputs():
    cams = parse_cameras(['base', 'left'], ['cam/base/image_raw', 'cam/left/compressed'], [])
    assert cams == (CameraInput('base', 'cam/base/image_raw', False),
                    CameraInput('left', 'cam/left/compressed', True))
    cams = parse_cameras(['base'], ['cam/base/compressed'], ['raw'])
    assert cams[0].compressed is False


@pytest.mark.parametrize('slots,topics,transports,match', [
    (['a', 'b'], ['t'], [], 'camera_topics has 1 entries but camera_slots has 2'),
    (['a'], ['t'], ['raw', 'raw'], 'camera_transports has 2 entries'),
    (['a'], ['t'], ['jpeg'], "camera_transports\\[0\\] is 'jpeg'"),
    (['a', 'a'], ['t', 'u'], [], 'duplicates'),
    ([''], ['t'], [], 'camera_slots\\[0\\] is empty'),
])
def test_inconsistent_camera_lists_are_refused(slots, topics, transports, match):
    with pytest.raises(StartupError, match=match):
        parse_cameras(slots, topics, transports)


def test_slots_resolve_with_or_without_prefix_and_unfed_slots_are_masked():
    cams = parse_cameras(['base', 'observation.images.right'], ['b', 'r'], [])
    inputs, masked = resolve_slots(cams, SLOTS)
    assert list(inputs) == ['observation.images.base', 'observation.images.right']
    assert inputs['observation.images.right'].topic == 'r'
    assert masked == ['observation.images.left']


def test_an_empty_topic_masks_its_slot():
    inputs, masked = resolve_slots(parse_cameras(['base', 'left'], ['b', ''], []), SLOTS)
    assert list(inputs) == ['observation.images.base']
    assert masked == ['observation.images.left', 'observation.images.right']


@pytest.mark.parametrize('slots,topics,match', [
    (['top'], ['t'], r"camera slot 'top' is not in the checkpoint; its image slots are \["),
    (['base', 'observation.images.base'], ['t', 'u'], 'configured twice'),
    (['base'], [''], 'no camera topic configured'),
])
def test_bad_slot_mappings_are_refused(slots, topics, match):
    with pytest.raises(StartupError, match=match):
        resolve_slots(parse_cameras(slots, topics, []), SLOTS)


@pytest.mark.parametrize('name', ['so100.yaml', 'aloha.yaml'])
def test_config_files_have_a_consistent_policy_node_section(name):
    doc = yaml.safe_load((CONFIG_DIR / name).read_text())
    params = doc['/**/policy_node']['ros__parameters']
    shared = doc['/**']['ros__parameters']
    cams = parse_cameras(params['camera_slots'], params['camera_topics'],
                         params['camera_transports'])
    assert cams and all(c.topic for c in cams)
    assert shared['action_joint_names'] and shared['action_rate_hz'] > 0


def _startup_failure(spawn, params):
    proc = spawn('pi0fast_ros.nodes.policy', params=params)
    assert proc.proc.wait(timeout=60) == 1, proc.output()
    return proc.output()


@pytest.mark.ros
def test_missing_checkpoint_is_a_clear_startup_error(spawn):
    out = _startup_failure(spawn, {'action_joint_names': ['a']})
    assert 'checkpoint_path is required' in out


@pytest.mark.ros
def test_mismatched_camera_lists_are_a_startup_error(spawn, tmp_path):
    out = _startup_failure(spawn, {'checkpoint_path': str(tmp_path), 'action_joint_names': ['a'],
                                   'camera_slots': ['front', 'wrist'], 'camera_topics': ['x']})
    assert 'camera_topics has 1 entries but camera_slots has 2' in out


@pytest.mark.ros
def test_out_of_range_parameter_is_a_startup_error(spawn, tmp_path):
    out = _startup_failure(spawn, {'checkpoint_path': str(tmp_path), 'action_rate_hz': -5.0})
    assert 'invalid parameter' in out and 'action_rate_hz' in out


@pytest.mark.ros
def test_unavailable_device_is_a_startup_error(spawn, tmp_path):
    import torch
    if torch.cuda.is_available():
        pytest.skip('this machine has CUDA: the error cannot happen here')
    out = _startup_failure(spawn, {'checkpoint_path': str(tmp_path), 'device': 'cuda',
                                   'action_joint_names': ['a']})
    assert "device 'cuda': CUDA is not available" in out


@pytest.mark.ros
def test_unknown_engine_mode_is_a_startup_error(spawn, tmp_path):
    out = _startup_failure(spawn, {'checkpoint_path': str(tmp_path), 'engine_mode': 'fastest',
                                   'action_joint_names': ['a']})
    assert "engine_mode 'fastest': use one of" in out


@pytest.mark.ros
def test_unknown_lerobot_version_is_a_startup_error(spawn, tmp_path):
    out = _startup_failure(spawn, {'checkpoint_path': str(tmp_path), 'lerobot_version': '0.6',
                                   'action_joint_names': ['a']})
    assert "lerobot_version '0.6': use one of ['auto', '0.4', '0.5']" in out


@pytest.mark.ros
def test_fatal_startup_error_reaches_rosout_under_the_node_name(probe, spawn):
    # The reason a node cannot start is logged with the node's own logger (not a package
    # logger), before the node is destroyed: /rosout carries it, named after the node.
    from rcl_interfaces.msg import Log
    from rclpy.qos import DurabilityPolicy, QoSProfile, ReliabilityPolicy
    qos = QoSProfile(depth=1000, reliability=ReliabilityPolicy.RELIABLE,
                     durability=DurabilityPolicy.TRANSIENT_LOCAL)
    logs = probe.collect(Log, '/rosout', qos)
    namespace = f'/rosout_{os.getpid()}'
    proc = spawn('pi0fast_ros.nodes.policy', namespace=namespace,
                 params={'action_joint_names': ['a']})
    assert proc.proc.wait(timeout=60) == 1, proc.output()
    assert f'[{namespace[1:]}.policy_node]: checkpoint_path is required' in proc.output()

    def fatal():
        return [m for _, m in list(logs) if m.level == Log.FATAL
                and m.name == f'{namespace[1:]}.policy_node']
    assert wait_for(fatal, 10), [(m.name, m.msg) for _, m in logs]
    assert 'checkpoint_path is required' in fatal()[0].msg
    assert 'checkpoint:=DIR' in fatal()[0].msg
