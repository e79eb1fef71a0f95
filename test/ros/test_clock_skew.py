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
Input ages with the policy on another host (nodes/policy/clock_skew.py), without DDS.

Stamps come from the robot's clock; receive times and `now` from the policy host's clock,
offset by SKEW (2 s either way) as on two unsynchronised hosts.
"""

from pi0fast_ros.nodes.image_conversion import ImageConverter
from pi0fast_ros.nodes.policy import input_slots as slots_mod
from pi0fast_ros.nodes.policy.clock_skew import ClockOffset
from pi0fast_ros.nodes.policy.input_slots import check_age, Entry, InputError, InputSlots
from pi0fast_ros.nodes.policy.input_slots import JOINT_STATES, JointStateMapper
from pi0fast_ros.nodes.policy.observation import ObservationBuilder
from policy_node_msgs import image, joint_state, NAMES, SEC
import pytest

CAM = 'observation.images.front'
MAX_AGE = SEC // 2                 # max_input_age_s 0.5
TRANSIT = 5_000_000                # 5 ms on the wire
ROBOT_NOW = 100 * SEC              # the robot's clock when it stamps the newest joint state


def _builder():
    return ObservationBuilder({CAM: CAM}, [], JointStateMapper(NAMES), None,
                              ImageConverter('rosbags-image'))


def _robot_inputs(skew, cam_lag=30_000_000, js_late=0, received_ago=0):
    """
    Slots as the policy host holds them: joint state stamped ROBOT_NOW, a frame cam_lag older.

    The policy's clock reads robot clock + skew; each message arrived TRANSIT after its stamp
    (the joint state js_late later still). Returns (slots, the policy's now, offset tracker).
    """
    offset = ClockOffset()
    for k in range(20, 0, -1):       # a history of punctual joint states at 100 Hz
        stamp = ROBOT_NOW - k * 10_000_000
        offset.observe(stamp, stamp + skew + TRANSIT)
    js_received = ROBOT_NOW + skew + TRANSIT + js_late
    late = offset.observe(ROBOT_NOW, js_received)
    slots = InputSlots([JOINT_STATES, CAM])
    slots.put(JOINT_STATES, Entry(joint_state(NAMES, [1, 2, 3], ROBOT_NOW), ROBOT_NOW,
                                  received_ns=js_received, late_ns=late))
    cam_stamp = ROBOT_NOW - cam_lag
    slots.put(CAM, Entry(image(9, cam_stamp), cam_stamp, received_ns=cam_stamp + skew + TRANSIT))
    return slots, js_received + received_ago + 1_000_000, offset


@pytest.mark.parametrize('skew', [2 * SEC, -2 * SEC, 0])
def test_a_two_second_skew_does_not_block_inference(skew):
    slots, now, offset = _robot_inputs(skew)
    obs = _builder().build(slots.snapshot(), now, MAX_AGE)
    # the observation (and so the chunk) keeps the robot's stamp: the executor's clock
    assert obs.stamp_ns == ROBOT_NOW
    assert offset.offset_ns == skew + TRANSIT
    if skew:
        # the old rule (stamp vs this host's clock) refused these very inputs
        with pytest.raises(InputError) as info:
            check_age(JOINT_STATES, ROBOT_NOW, now, MAX_AGE)
        assert info.value.reason in (slots_mod.STALE, slots_mod.FUTURE_STAMP)


@pytest.mark.parametrize('skew', [2 * SEC, -2 * SEC])
def test_a_stale_camera_is_refused_whatever_the_skew(skew):
    slots, now, _ = _robot_inputs(skew, cam_lag=800_000_000)
    with pytest.raises(InputError) as info:
        _builder().build(slots.snapshot(), now, MAX_AGE)
    assert (info.value.reason, info.value.input_name) == (slots_mod.STALE, CAM)
    assert '0.800 s older than the joint state' in str(info.value)


def test_a_camera_ahead_of_the_joint_state_is_a_future_stamp():
    slots, now, _ = _robot_inputs(2 * SEC, cam_lag=-700_000_000)
    with pytest.raises(InputError) as info:
        _builder().check(slots.snapshot(), now, MAX_AGE)
    assert (info.value.reason, info.value.input_name) == (slots_mod.FUTURE_STAMP, CAM)


def test_a_joint_state_not_received_for_a_while_is_stale():
    # the robot stopped publishing: the last message is old by this host's own clock
    slots, now, _ = _robot_inputs(-2 * SEC, received_ago=700_000_000)
    with pytest.raises(InputError) as info:
        _builder().build(slots.snapshot(), now, MAX_AGE)
    assert (info.value.reason, info.value.input_name) == (slots_mod.STALE, JOINT_STATES)
    assert 'last received 0.70' in str(info.value)


def test_a_joint_state_that_arrives_late_is_stale():
    # held up 0.9 s on the way (or stamped late): its stamp is old on arrival
    slots, now, _ = _robot_inputs(2 * SEC, js_late=900_000_000)
    with pytest.raises(InputError) as info:
        _builder().build(slots.snapshot(), now, MAX_AGE)
    assert (info.value.reason, info.value.input_name) == (slots_mod.STALE, JOINT_STATES)
    assert 'arrived 0.900 s later than the quickest' in str(info.value)


def test_clock_offset_is_the_smallest_transit_of_its_window():
    offset = ClockOffset(window=3)
    assert offset.offset_ns is None
    assert offset.observe(0, 50) == 0
    assert offset.observe(100, 130) == 0           # quicker: the new minimum
    assert offset.observe(200, 260) == 30
    offset.observe(300, 360)
    offset.observe(400, 460)                       # 130 has left the window
    assert offset.offset_ns == 60
