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

"""The policy node's output messages (nodes/policy/chunk_messages.py) against DESIGN §3."""

import types

import numpy as np
from pi0fast_ros.nodes.policy.chunk_messages import chunk_info_values, chunk_message, ns_to_time
from pi0fast_ros.nodes.policy.observation import Observation


def test_chunk_follows_the_design_contract():
    actions = np.arange(12, dtype=np.float32).reshape(4, 3) / 7.0
    msg = chunk_message(1_700_000_000_987_654_321, ['a', 'b', 'c'], actions, 30.0)
    assert (msg.header.stamp.sec, msg.header.stamp.nanosec) == (1_700_000_000, 987_654_321)
    assert list(msg.joint_names) == ['a', 'b', 'c']
    assert len(msg.points) == 4
    for i, point in enumerate(msg.points):
        ns = point.time_from_start.sec * 10**9 + point.time_from_start.nanosec
        assert ns == round(i * 1e9 / 30.0)        # i / action_rate_hz
        np.testing.assert_array_equal(point.positions, actions[i].astype(np.float64))


def test_time_from_start_past_one_second():
    msg = chunk_message(0, ['a'], np.zeros((60, 1), np.float32), 50.0)
    last = msg.points[-1].time_from_start
    assert (last.sec, last.nanosec) == (1, 180_000_000)   # 59 / 50 s


def test_ns_to_time():
    t = ns_to_time(5 * 10**9 + 7)
    assert (t.sec, t.nanosec) == (5, 7)


def test_chunk_info_names_the_inputs_and_the_timings():
    obs = Observation(images={}, state=np.zeros(3, np.float32),
                      stamps_ns={'joint_states': 11, 'observation.images.front': 9},
                      instruction='pick', generation=1, convert_ms=1.5)
    result = types.SimpleNamespace(status='ok', error=None, actions=np.zeros((4, 3)),
                                   tokens=np.arange(7), decode_steps=7)
    record = types.SimpleNamespace(observation=obs, result=result, convert_ms=1.5,
                                   inputs_during_inference=4)
    values = chunk_info_values(record, ['observation.images.side'],
                               {'preprocess': 2.0, 'prefill': 3.0, 'decode': 4.0,
                                'detokenize': 0.5, 'total': 9.5}, latency_ms=20.0,
                               publish_ms=0.25)
    assert values['status'] == 'ok' and values['error'] == '' and values['instruction'] == 'pick'
    assert values['stamp_ns.joint_states'] == '11'
    assert values['stamp_ns.observation.images.front'] == '9'
    assert values['masked.observation.images.side'] == 'true'
    assert (values['tokens'], values['horizon'], values['action_dim']) == ('7', '4', '3')
    assert values['decode_steps'] == '7' and 'steps_ms' not in values
    assert values['overhead_ms'] == '3.75'          # convert + preprocess + publish
    assert values['inference_ms'] == '9.50' and values['inputs_during_inference'] == '4'
