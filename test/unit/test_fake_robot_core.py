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

"""The fake robot's ROS-free parts: servo dynamics (core/fake_arm) and frames (core/arm_render)."""

import math

import numpy as np
from pi0fast_ros.sim.arm_render import ArmLayout, ArmRenderer, VIEWS
from pi0fast_ros.sim.fake_arm import ArmLimits, CommandError, FakeArm
import pytest

SO100 = ['shoulder_pan', 'shoulder_lift', 'elbow_flex', 'wrist_flex', 'wrist_roll', 'gripper']
ALOHA = ArmLayout(arm_prefixes=('left_', 'right_'), yaw_joint='waist',
                  pitch_joints=('shoulder', 'elbow', 'wrist_angle'), roll_joint='wrist_rotate',
                  angle_scale=1.0, gripper_range=(0.0, 1.0))


def make_arm(tau=0.1, vmax=(), lower=(), upper=(), initial=None):
    limits = ArmLimits.build(3, lower, upper, vmax)
    return FakeArm(['a', 'b', 'c'], limits, tau, initial)


def test_first_order_lag_matches_the_exact_solution():
    arm = make_arm(tau=0.1, initial=[0.0, 1.0, -2.0])
    target = np.array([1.0, -1.0, 3.0])
    arm.command(target)
    dt, steps = 0.01, 25
    for _ in range(steps):
        arm.step(dt)
    t = dt * steps
    expected = target + (np.array([0.0, 1.0, -2.0]) - target) * math.exp(-t / 0.1)
    np.testing.assert_allclose(arm.positions, expected, rtol=1e-12, atol=1e-12)
    # The result does not depend on how the time is cut into steps.
    other = make_arm(tau=0.1, initial=[0.0, 1.0, -2.0])
    other.command(target)
    other.step(0.2)
    other.step(0.05)
    np.testing.assert_allclose(other.positions, expected, atol=1e-12)


def test_speed_limit_caps_each_step_and_velocity_is_reported():
    arm = make_arm(tau=0.0, vmax=[1.0, 2.0, 100.0])
    arm.command([10.0, -10.0, 0.5])
    arm.step(0.1)
    np.testing.assert_allclose(arm.positions, [0.1, -0.2, 0.5])
    np.testing.assert_allclose(arm.velocities, [1.0, -2.0, 5.0])


def test_zero_time_constant_reaches_the_target_in_one_step():
    arm = make_arm(tau=0.0)
    arm.command([1.0, 2.0, 3.0])
    np.testing.assert_allclose(arm.step(0.01), [1.0, 2.0, 3.0])


def test_targets_outside_the_limits_are_clamped_and_counted():
    arm = make_arm(tau=0.0, lower=[-1, -1, -1], upper=[1, 1, 1])
    arm.command([0.5, 0.5, 0.5])
    assert arm.clamped_commands == 0
    arm.command([5.0, -5.0, 0.0])
    assert arm.clamped_commands == 1
    np.testing.assert_allclose(arm.step(0.01), [1.0, -1.0, 0.0])


def test_named_commands_move_only_the_named_joints():
    arm = make_arm(tau=0.0, initial=[1.0, 2.0, 3.0])
    arm.command([9.0, 7.0], names=['c', 'a'])
    np.testing.assert_allclose(arm.step(0.01), [7.0, 2.0, 9.0])


@pytest.mark.parametrize('values, names, message', [
    ([1.0, 2.0], None, 'has 2 values'),
    ([1.0, float('nan'), 0.0], None, 'non-finite'),
    ([1.0], ['x'], 'unknown joints'),
    ([1.0, 2.0], ['a'], '1 names but 2 values'),
    ([1.0, 2.0], ['a', 'a'], 'twice'),
])
def test_bad_commands_are_refused_and_the_target_is_kept(values, names, message):
    arm = make_arm(tau=0.0, initial=[1.0, 2.0, 3.0])
    arm.command([4.0, 5.0, 6.0])
    with pytest.raises(CommandError, match=message):
        arm.command(values, names)
    np.testing.assert_allclose(arm.step(0.01), [4.0, 5.0, 6.0])


def test_initial_pose_defaults_to_the_middle_of_the_range():
    arm = FakeArm(['a', 'b'], ArmLimits.build(2, [0.0, -np.inf], [100.0, np.inf]), 0.1)
    np.testing.assert_allclose(arm.positions, [50.0, 0.0])


@pytest.mark.parametrize('kwargs, message', [
    ({'lower': [0.0, 0, 0], 'upper': [-1.0, 1, 1]}, 'must not exceed'),
    ({'vmax': [1.0, 0.0, 1.0]}, 'max_velocity must be > 0'),
    ({'lower': [0.0]}, 'position_min has 1 entries'),
])
def test_bad_limits_are_refused(kwargs, message):
    with pytest.raises(ValueError, match=message):
        make_arm(**kwargs)


def render_all(layout, state, arm=None, size=(96, 72)):
    return {v: ArmRenderer(layout, v, *size, arm if v == 'wrist' else None).render(state)
            for v in VIEWS}


def test_frames_are_rgb_uint8_and_deterministic():
    state = {'shoulder_pan': 10.0, 'elbow_flex': -20.0, 'gripper': 40.0}
    first, second = render_all(ArmLayout(), state), render_all(ArmLayout(), dict(state))
    for view in VIEWS:
        assert first[view].shape == (72, 96, 3) and first[view].dtype == np.uint8
        np.testing.assert_array_equal(first[view], second[view])


@pytest.mark.parametrize('joint', SO100)
def test_every_so100_joint_changes_what_the_cameras_see(joint):
    # The policy must be able to see the effect of each of its action dimensions.
    rest = render_all(ArmLayout(), {})
    moved = render_all(ArmLayout(), {joint: 35.0})
    changed = [v for v in VIEWS if not np.array_equal(rest[v], moved[v])]
    assert changed, f'no view changes when {joint} moves'


def test_aloha_wrist_cameras_follow_their_own_arm():
    left = ArmRenderer(ALOHA, 'wrist', 96, 72, 'left_')
    right = ArmRenderer(ALOHA, 'wrist', 96, 72, 'right_')
    before = left.render({}), right.render({})
    after = left.render({'left_gripper': 1.0}), right.render({'left_gripper': 1.0})
    assert not np.array_equal(before[0], after[0])
    np.testing.assert_array_equal(before[1], after[1])
    # The top view shows both arms: moving either one changes it.
    top = ArmRenderer(ALOHA, 'top', 96, 72)
    rest = top.render({})
    assert not np.array_equal(rest, top.render({'left_waist': 0.6}))
    assert not np.array_equal(rest, top.render({'right_waist': 0.6}))


def test_renderer_refuses_unknown_views_and_arms():
    with pytest.raises(ValueError, match='unknown camera view'):
        ArmRenderer(ArmLayout(), 'fisheye', 64, 48)
    with pytest.raises(ValueError, match='not one of arm_prefixes'):
        ArmRenderer(ALOHA, 'wrist', 64, 48, 'middle_')
