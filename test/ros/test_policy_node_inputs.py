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

"""The policy node's input handling without DDS: joints by name, ages, slots, observations."""

import threading

import numpy as np
from pi0fast_ros.nodes.image_conversion import ImageConverter
from pi0fast_ros.nodes.policy import input_slots as slots_mod
from pi0fast_ros.nodes.policy.input_slots import check_age, Entry, InputError, InputSlots
from pi0fast_ros.nodes.policy.input_slots import JOINT_STATES, JointStateMapper, stamp_to_ns
from pi0fast_ros.nodes.policy.observation import ObservationBuilder
from policy_node_msgs import compressed_msg, image, joint_state, NAMES, SEC
import pytest


def test_joint_states_are_mapped_by_name_not_position():
    mapper = JointStateMapper(NAMES)
    out = mapper.positions(joint_state(['c', 'a', 'b'], [3.0, 1.0, 2.0]))
    np.testing.assert_array_equal(out, [1.0, 2.0, 3.0])
    # A second message with another order must not reuse the first one's index.
    out = mapper.positions(joint_state(['b', 'c', 'a'], [20.0, 30.0, 10.0]))
    np.testing.assert_array_equal(out, [10.0, 20.0, 30.0])


@pytest.mark.parametrize('names,positions,reason,text', [
    (['a', 'b'], [1, 2], slots_mod.MISSING_JOINT, "missing joints ['c']"),
    (['a', 'b', 'c', 'd'], [1, 2, 3, 4], slots_mod.UNKNOWN_JOINT, "unknown joints ['d']"),
    (['a', 'b', 'c'], [1, 2], slots_mod.BAD_JOINT_STATE, '3 names but 2 positions'),
    (['a', 'a', 'b', 'c'], [1, 1, 2, 3], slots_mod.BAD_JOINT_STATE, 'duplicate'),
    (['a', 'b', 'c'], [1, float('nan'), 3], slots_mod.NON_FINITE, "for ['b']"),
    (['a', 'b', 'c'], [float('inf'), 2, -float('inf')], slots_mod.NON_FINITE, "['a', 'c']"),
])
def test_bad_joint_states_are_refused_with_their_reason(names, positions, reason, text):
    with pytest.raises(InputError) as info:
        JointStateMapper(NAMES).positions(joint_state(names, positions))
    assert info.value.reason == reason
    assert info.value.input_name == JOINT_STATES
    assert text in str(info.value)


def test_extra_joints_can_be_ignored_explicitly():
    mapper = JointStateMapper(NAMES, ignore_extra=True)
    out = mapper.positions(joint_state(['x', 'c', 'b', 'a'], [9, 3, 2, 1]))
    np.testing.assert_array_equal(out, [1, 2, 3])


def test_age_check():
    check_age('cam', stamp_ns=10 * SEC, now_ns=10 * SEC + SEC // 2, max_age_ns=SEC)
    with pytest.raises(InputError, match='stale: 1.500 s old') as info:
        check_age('cam', stamp_ns=10 * SEC, now_ns=11 * SEC + SEC // 2, max_age_ns=SEC)
    assert info.value.reason == slots_mod.STALE
    with pytest.raises(InputError, match='in the future') as info:
        check_age('cam', stamp_ns=13 * SEC, now_ns=11 * SEC, max_age_ns=SEC)
    assert info.value.reason == slots_mod.FUTURE_STAMP
    with pytest.raises(InputError, match='unstamped') as info:
        check_age('cam', stamp_ns=0, now_ns=11 * SEC, max_age_ns=SEC)
    assert info.value.reason == slots_mod.STALE


def test_stamp_to_ns():
    msg = joint_state(NAMES, [0, 0, 0], stamp_ns=1_700_000_000_123_456_789)
    assert stamp_to_ns(msg.header.stamp) == 1_700_000_000_123_456_789


def test_slots_keep_only_the_latest_message_and_count():
    slots = InputSlots([JOINT_STATES, 'cam'])
    for i in range(5):
        slots.put('cam', Entry(msg=i, stamp_ns=i))
    snap = slots.snapshot()
    assert snap.entries['cam'].msg == 4
    assert snap.received == {JOINT_STATES: 0, 'cam': 5}
    assert snap.entries[JOINT_STATES] is None


def test_instruction_changes_bump_the_generation_once():
    slots = InputSlots([JOINT_STATES])
    assert slots.set_instruction('pick') is True
    assert slots.set_instruction('pick') is False
    assert slots.set_instruction('place') is True
    assert (slots.instruction, slots.generation) == ('place', 2)


def test_wait_for_wakes_on_put_from_another_thread():
    slots = InputSlots([JOINT_STATES])
    timer = threading.Timer(0.05, slots.put, (JOINT_STATES, Entry(msg='x', stamp_ns=1)))
    timer.start()
    snap = slots.wait_for(lambda s: s.entries[JOINT_STATES] is not None, timeout=30.0)
    timer.join()
    assert snap.entries[JOINT_STATES].msg == 'x'


def _builder(state_transform=None):
    return ObservationBuilder({'observation.images.front': 'observation.images.front'},
                              ['observation.images.wrist'], JointStateMapper(NAMES),
                              state_transform, ImageConverter('rosbags-image'))


def _slots(js_stamp=5 * SEC, cam_stamp=5 * SEC, cam=None, js=None):
    slots = InputSlots([JOINT_STATES, 'observation.images.front'])
    js = js or joint_state(['b', 'a', 'c'], [2, 1, 3], js_stamp)
    slots.put(JOINT_STATES, Entry(js, stamp_to_ns(js.header.stamp)))
    cam = cam or image(200, cam_stamp)
    slots.put('observation.images.front', Entry(cam, stamp_to_ns(cam.header.stamp)))
    slots.set_instruction('pick up the cube')
    return slots


def test_observation_carries_inputs_and_their_stamps():
    obs = _builder().build(_slots(js_stamp=5 * SEC, cam_stamp=5 * SEC - 1000).snapshot(),
                           now_ns=5 * SEC + 10, max_age_ns=SEC)
    np.testing.assert_array_equal(obs.state, np.float32([1, 2, 3]))
    assert obs.state.dtype == np.float32
    assert obs.images['observation.images.wrist'] is None          # masked slot
    front = obs.images['observation.images.front']
    assert front.shape == (6, 8, 3) and front.dtype == np.uint8 and (front == 200).all()
    assert obs.stamps_ns == {JOINT_STATES: 5 * SEC, 'observation.images.front': 5 * SEC - 1000}
    assert obs.stamp_ns == 5 * SEC
    assert (obs.instruction, obs.generation) == ('pick up the cube', 1)


def test_state_transform_is_applied_to_the_named_joints():
    obs = _builder(lambda s: s * 10.0).build(_slots().snapshot(), 5 * SEC, SEC)
    np.testing.assert_array_equal(obs.state, np.float32([10, 20, 30]))


@pytest.mark.parametrize('kwargs,reason,name', [
    ({'cam_stamp': 3 * SEC}, slots_mod.STALE, 'observation.images.front'),
    ({'js_stamp': 3 * SEC}, slots_mod.STALE, JOINT_STATES),
    ({'cam': image(1, encoding='16UC1')}, slots_mod.BAD_IMAGE, 'observation.images.front'),
    ({'js': joint_state(['a', 'b'], [1, 2])}, slots_mod.MISSING_JOINT, JOINT_STATES),
    ({'js': joint_state(NAMES, [1, float('nan'), 2])}, slots_mod.NON_FINITE, JOINT_STATES),
])
def test_bad_inputs_give_no_observation(kwargs, reason, name):
    with pytest.raises(InputError) as info:
        _builder().build(_slots(**kwargs).snapshot(), now_ns=5 * SEC, max_age_ns=SEC)
    assert (info.value.reason, info.value.input_name) == (reason, name)


def test_a_callback_verdict_is_respected():
    slots = _slots()
    err = InputError(slots_mod.BAD_IMAGE, 'observation.images.front', 'bad')
    slots.put('observation.images.front', Entry(image(1), 5 * SEC, error=err))
    with pytest.raises(InputError) as info:
        _builder().build(slots.snapshot(), 5 * SEC, SEC)
    assert info.value is err


def test_missing_input_is_reported_as_no_message():
    slots = InputSlots([JOINT_STATES, 'observation.images.front'])
    js = joint_state(NAMES, [1, 2, 3])
    slots.put(JOINT_STATES, Entry(js, 5 * SEC))
    with pytest.raises(InputError) as info:
        _builder().check(slots.snapshot(), 5 * SEC, SEC)
    assert info.value.reason == slots_mod.NO_MESSAGE
    assert info.value.input_name == 'observation.images.front'


def test_several_cameras_are_converted_concurrently_and_errors_keep_their_slot():
    cams = {'observation.images.front': 'observation.images.front',
            'observation.images.wrist': 'observation.images.wrist'}
    builder = ObservationBuilder(cams, [], JointStateMapper(NAMES), None,
                                 ImageConverter('rosbags-image'))
    try:
        slots = InputSlots([JOINT_STATES, *cams])
        slots.put(JOINT_STATES, Entry(joint_state(NAMES, [1, 2, 3]), 5 * SEC))
        slots.put('observation.images.front', Entry(image(7), 5 * SEC))
        slots.put('observation.images.wrist', Entry(image(9, width=4), 5 * SEC))
        obs = builder.build(slots.snapshot(), 5 * SEC, SEC)
        assert (obs.images['observation.images.front'] == 7).all()
        assert obs.images['observation.images.wrist'].shape == (6, 4, 3)
        assert (obs.images['observation.images.wrist'] == 9).all()
        slots.put('observation.images.wrist', Entry(image(9, encoding='bgra8'), 5 * SEC))
        with pytest.raises(InputError) as info:
            builder.build(slots.snapshot(), 5 * SEC, SEC)
        assert info.value.input_name == 'observation.images.wrist'
        assert info.value.reason == slots_mod.BAD_IMAGE
    finally:
        builder.close()


def test_compressed_frames_of_several_cameras_are_decoded():
    cams = {f'observation.images.{n}': f'observation.images.{n}' for n in ('a', 'b', 'c')}
    builder = ObservationBuilder(cams, [], JointStateMapper(NAMES), None,
                                 ImageConverter('rosbags-image'))
    try:
        slots = InputSlots([JOINT_STATES, *cams])
        slots.put(JOINT_STATES, Entry(joint_state(NAMES, [1, 2, 3]), 5 * SEC))
        for value, slot in zip((10, 120, 240), cams):
            gray = np.full((8, 8), value, np.uint8)
            slots.put(slot, Entry(compressed_msg(gray, '.png'), 5 * SEC))
        obs = builder.build(slots.snapshot(), 5 * SEC, SEC)
        for value, slot in zip((10, 120, 240), cams):
            assert obs.images[slot].shape == (8, 8, 3) and (obs.images[slot] == value).all()
    finally:
        builder.close()
