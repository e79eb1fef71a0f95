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

"""Adapters: exact formulas of pi0fast-facts §6, round trips, spec validation, ROS params."""

import math

from harness import CONFIG_DIR
import numpy as np
from pi0fast_ros.core.control.adapter_chain import AdapterSpecError, build_adapter_chain
from pi0fast_ros.core.control.adapter_chain import load_adapter_spec
import pytest

ALOHA_NAMES = [f'{side}_{j}' for side in ('left', 'right') for j in
               ('waist', 'shoulder', 'elbow', 'forearm_roll', 'wrist_angle', 'wrist_rotate',
                'gripper')]
FLIP = [1, -1, -1, 1, 1, 1, 1, 1, -1, -1, 1, 1, 1, 1]


# ---- the facts-sheet formulas, written out plainly (independent of the code under test) ----
def ref_to_angular(v, lo=0.5476, hi=1.6296):
    length = v * (0.05800 - 0.01844) + 0.01844
    arg = (0.022 ** 2 + length ** 2 - 0.036 ** 2) / (2 * 0.022 * length)
    theta = math.asin(min(1.0, max(-1.0, arg)))
    return (theta - lo) / (hi - lo)


def ref_from_angular_openpi(v):
    return (v + 0.5476 + 0.6213) / 2.1123


def ref_inv_openpi(v):
    return v * 2.1123 - 0.6213 - 0.5476


def ref_from_angular_lerobot(v):
    unnorm = v * (1.5 - 0.4) + 0.4
    return (unnorm - (-0.6213)) / (1.4910 - (-0.6213))


def ref_inv_lerobot(v):
    unnorm = v * (1.4910 - (-0.6213)) + (-0.6213)
    return (unnorm - 0.4) / (1.5 - 0.4)


def aloha_chain(constants='openpi'):
    return build_adapter_chain({
        'chain': ['flip', 'gripper'],
        'flip': {'type': 'joint_flip', 'mask': FLIP},
        'gripper': {'type': 'aloha_gripper', 'indices': [6, 13], 'constants': constants}},
        ALOHA_NAMES)


@pytest.fixture
def rng():
    return np.random.default_rng(0)


@pytest.mark.parametrize('constants', ['openpi', 'lerobot'])
def test_aloha_chain_matches_facts_formulas(rng, constants):
    chain = aloha_chain(constants)
    lo, hi = (0.5476, 1.6296) if constants == 'openpi' else (0.4, 1.5)
    from_ang = ref_from_angular_openpi if constants == 'openpi' else ref_from_angular_lerobot
    inv = ref_inv_openpi if constants == 'openpi' else ref_inv_lerobot
    state = rng.uniform(-1.0, 1.0, 14)
    state[[6, 13]] = rng.uniform(0.0, 1.0, 2)
    # state side: flip, then to_angular on the grippers
    expected = np.array(FLIP, float) * state
    expected[6], expected[13] = (ref_to_angular(state[i], lo, hi) for i in (6, 13))
    np.testing.assert_allclose(chain.state_to_policy(state), expected, rtol=0, atol=1e-12)
    # action side (a whole chunk): flip, then from_angular
    actions = rng.uniform(-1.0, 1.0, (10, 14))
    expected = np.array(FLIP, float) * actions
    for i in (6, 13):
        expected[:, i] = [from_ang(v) for v in actions[:, i]]
    np.testing.assert_allclose(chain.action_to_robot(actions), expected, rtol=0, atol=1e-12)
    # training actions: flip, then the inverse map
    expected = np.array(FLIP, float) * actions
    for i in (6, 13):
        expected[:, i] = [inv(v) for v in actions[:, i]]
    np.testing.assert_allclose(chain.robot_to_action(actions), expected, rtol=0, atol=1e-12)


def test_state_and_action_sides_differ():
    # facts §6: to_angular and from_angular are different maps, not inverses of each other
    chain = aloha_chain()
    x = np.full(14, 0.5)
    assert not np.allclose(chain.state_to_policy(x)[6], chain.robot_to_action(x)[6])


def test_to_angular_clips_and_fully_open_is_90_degrees():
    chain = aloha_chain()
    grip = np.zeros(14)
    grip[6], grip[13] = 1.0, 5.0  # 1.0: argument exactly 1; 5.0: clipped
    out = chain.state_to_policy(grip)
    expected = (math.pi / 2 - 0.5476) / (1.6296 - 0.5476)
    np.testing.assert_allclose(out[[6, 13]], [expected, expected], atol=1e-12)


SPECS = {
    'joint_flip': {'type': 'joint_flip', 'mask': FLIP},
    'aloha_openpi': {'type': 'aloha_gripper'},
    'aloha_lerobot': {'type': 'aloha_gripper', 'indices': [13, 6], 'constants': 'lerobot'},
    'deg_to_rad': {'type': 'scale_offset', 'scale': [math.pi / 180], 'indices': [0, 1, 2]},
    'affine_all': {'type': 'scale_offset', 'scale': list(np.linspace(0.5, 2, 14)),
                   'offset': list(np.linspace(-1, 1, 14))},
    'percent_metres': {'type': 'range_map', 'indices': [6, 13], 'robot_min': [0.0],
                       'robot_max': [0.04], 'policy_min': [0.0], 'policy_max': [100.0]},
    'index_map': {'type': 'index_map', 'indices': list(range(13, -1, -1))},
    'name_map': {'type': 'name_map', 'robot_names': sorted(ALOHA_NAMES)},
}


@pytest.mark.parametrize('key', sorted(SPECS))
def test_round_trips(rng, key):
    chain = build_adapter_chain({'chain': ['a'], 'a': SPECS[key]}, ALOHA_NAMES)
    # gripper values stay in [0, 0.95]: to_angular's clip makes it non-invertible beyond 1
    x = rng.uniform(-2.0, 2.0, (7, 14))
    x[:, [6, 13]] = rng.uniform(0.0, 0.95, (7, 2))
    before = x.copy()
    np.testing.assert_allclose(chain.policy_to_state(chain.state_to_policy(x)), x, atol=1e-9)
    np.testing.assert_allclose(chain.state_to_policy(chain.policy_to_state(x)), x, atol=1e-9)
    np.testing.assert_allclose(chain.robot_to_action(chain.action_to_robot(x)), x, atol=1e-9)
    np.testing.assert_allclose(chain.action_to_robot(chain.robot_to_action(x)), x, atol=1e-9)
    np.testing.assert_array_equal(x, before)  # inputs are never modified in place


def test_composed_chain_round_trip_and_order(rng):
    spec = {'chain': ['names', 'flip', 'grip', 'units'], 'names': SPECS['name_map'],
            'flip': SPECS['joint_flip'], 'grip': SPECS['aloha_openpi'],
            'units': SPECS['deg_to_rad']}
    chain = build_adapter_chain(spec, ALOHA_NAMES)
    robot = rng.uniform(-1.0, 1.0, 14)
    robot[[sorted(ALOHA_NAMES).index('left_gripper'),
           sorted(ALOHA_NAMES).index('right_gripper')]] = 0.3
    policy = chain.state_to_policy(robot)
    np.testing.assert_allclose(chain.policy_to_state(policy), robot, atol=1e-9)
    # the name map runs first: policy dim i is the robot joint named ALOHA_NAMES[i]
    by_name = dict(zip(sorted(ALOHA_NAMES), robot))
    assert policy[3] == pytest.approx(by_name['left_forearm_roll'])
    assert policy[1] == pytest.approx(-by_name['left_shoulder'] * math.pi / 180)
    assert chain.robot_names(ALOHA_NAMES) == sorted(ALOHA_NAMES)


def test_scale_offset_units():
    chain = build_adapter_chain({'chain': ['u'], 'u': SPECS['deg_to_rad']}, ALOHA_NAMES)
    robot = np.zeros(14)
    robot[:4] = [180.0, 90.0, -45.0, 7.0]
    np.testing.assert_allclose(chain.state_to_policy(robot)[:4],
                               [math.pi, math.pi / 2, -math.pi / 4, 7.0])
    pct = build_adapter_chain({'chain': ['p'], 'p': SPECS['percent_metres']}, ALOHA_NAMES)
    np.testing.assert_allclose(pct.action_to_robot(np.full(14, 50.0))[[6, 13]], [0.02, 0.02])


def test_empty_spec_is_identity(rng):
    x = rng.normal(size=(3, 6))
    for spec in (None, {}, {'chain': []}):
        np.testing.assert_array_equal(build_adapter_chain(spec).action_to_robot(x), x)


@pytest.mark.parametrize('spec, message', [
    ({'chain': ['x'], 'x': {'type': 'warp'}}, 'unknown adapter type'),
    ({'chain': ['x']}, 'no adapters.<name> entry'),
    ({'chain': ['x'], 'x': {'type': 'joint_flip'}}, "needs keys ['mask']"),
    ({'chain': ['x'], 'x': {'type': 'joint_flip', 'mask': FLIP, 'mas': 1}}, 'unknown keys'),
    ({'chain': ['x'], 'x': {'type': 'joint_flip', 'mask': [1, 2] * 7}}, '1 / -1'),
    ({'chain': ['x'], 'x': {'type': 'joint_flip', 'mask': [1, -1]}}, 'mask has 2 entries'),
    ({'chain': ['x'], 'x': {'type': 'aloha_gripper', 'constants': 'new'}}, 'constants'),
    ({'chain': ['x'], 'x': {'type': 'aloha_gripper', 'indices': [6, 14]}}, 'out of range'),
    ({'chain': ['x'], 'x': {'type': 'scale_offset', 'scale': [0.0]}}, 'non-zero'),
    ({'chain': ['x'], 'x': {'type': 'scale_offset', 'scale': [1, 2], 'indices': [0, 1, 2]}},
     'scale has 2 entries'),
    ({'chain': ['x'], 'x': {'type': 'index_map', 'indices': [0, 0] + list(range(2, 14))}},
     'permutation'),
    ({'chain': ['x'], 'x': {'type': 'name_map', 'robot_names': ['a', 'b']}}, 'same unique'),
    ({'chain': ['x', 'x'], 'x': {'type': 'joint_flip', 'mask': FLIP}}, 'unique'),
])
def test_invalid_specs_are_rejected_with_the_key(spec, message):
    with pytest.raises(AdapterSpecError, match='adapters') as info:
        build_adapter_chain(spec, ALOHA_NAMES)
    assert message in str(info.value)


def test_wrong_vector_size_at_call_time():
    with pytest.raises(AdapterSpecError, match='out of range for 6-dim vectors'):
        aloha_chain().action_to_robot(np.zeros(6))


def test_config_files_give_the_documented_chains(rng):
    aloha = build_adapter_chain(load_adapter_spec(CONFIG_DIR / 'aloha.yaml'), ALOHA_NAMES)
    x = rng.uniform(0.0, 0.9, (4, 14))
    np.testing.assert_allclose(aloha.action_to_robot(x), aloha_chain().action_to_robot(x))
    np.testing.assert_allclose(aloha.state_to_policy(x), aloha_chain().state_to_policy(x))
    so100 = build_adapter_chain(load_adapter_spec(CONFIG_DIR / 'so100.yaml'))
    assert len(so100) == 0


@pytest.mark.ros
def test_ros_helper_reads_the_same_spec_as_the_yaml_loader(tmp_path, rng):
    import rclpy
    from pi0fast_ros.nodes.adapter_params import adapter_chain_from_parameters
    from pi0fast_ros.nodes.adapter_params import declare_adapter_parameters
    from pi0fast_ros.nodes.common import StartupError

    bad = tmp_path / 'bad.yaml'
    bad.write_text('/**:\n  ros__parameters:\n    adapters:\n      chain: [x]\n'
                   '      x: {type: warp}\n')
    for path in (CONFIG_DIR / 'aloha.yaml', CONFIG_DIR / 'so100.yaml', bad):
        context = rclpy.Context()
        rclpy.init(args=['--ros-args', '--params-file', str(path)], context=context)
        node = rclpy.create_node('adapter_params_test', context=context)
        other = rclpy.create_node('adapter_params_test2', context=context)
        try:
            if path == bad:
                with pytest.raises(StartupError, match="unknown adapter type 'warp'"):
                    declare_adapter_parameters(node)
                continue
            expected = load_adapter_spec(path)
            expected['chain'] = expected.get('chain') or []
            assert declare_adapter_parameters(node) == expected
            assert node.describe_parameter('adapters.chain').read_only
            chain = adapter_chain_from_parameters(other, ALOHA_NAMES)
            x = rng.uniform(0.0, 0.9, (4, 14))
            reference = build_adapter_chain(expected, ALOHA_NAMES)
            np.testing.assert_allclose(chain.action_to_robot(x), reference.action_to_robot(x))
            assert len(chain) == (2 if path.name == 'aloha.yaml' else 0)
        finally:
            other.destroy_node()
            node.destroy_node()
            rclpy.shutdown(context=context)


def test_node_sections_override_the_shared_spec(tmp_path):
    path = tmp_path / 'p.yaml'
    path.write_text('/**:\n  ros__parameters:\n    adapters:\n      chain: [f]\n'
                    '      f: {type: joint_flip, mask: [1, -1]}\n'
                    '/**/executor_node:\n  ros__parameters:\n    adapters.f.mask: [-1, 1]\n')
    assert load_adapter_spec(path)['f']['mask'] == [1, -1]
    spec = load_adapter_spec(path, 'executor_node')
    assert spec == {'chain': ['f'], 'f': {'type': 'joint_flip', 'mask': [-1, 1]}}
