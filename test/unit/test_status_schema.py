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
The status / provenance schema (core/status.py) against the text the nodes publish.

The literal key/values below are written out by hand as executor_node/status and
policy_node/chunk_info published them (and recorded bags hold them): a change of the wire
format fails here, before an old bag stops loading.
"""

import math

from pi0fast_ros.core.control.executor import Tick
from pi0fast_ros.core.status import ChunkInfo, StatusFormatError, TickStatus
import pytest

# executor_node/status of a blending tick, key by key in the published order
BLENDING_TICK = [
    ('seq', '7'), ('state', 'blending'), ('active_chunk_stamp_ns', '1700000000000000001'),
    ('previous_chunk_stamp_ns', '1699999999500000000'), ('blend_weight', '0.3'),
    ('chunk_index', '2.75'), ('hold_reason', ''), ('clamped_joints', 'a'),
    ('step_limited_joints', 'a,b'), ('joint_names', 'j1,j2,j3'),
    ('command', '0.1257302210933933,-0.1321048632913019,0.6404226504432821')]
# ... of a waiting tick (nothing sent; chunk_index nan)
WAITING_TICK = [
    ('seq', '9'), ('state', 'waiting'), ('active_chunk_stamp_ns', '0'),
    ('previous_chunk_stamp_ns', '0'), ('blend_weight', '0.0'), ('chunk_index', 'nan'),
    ('hold_reason', 'no_chunk'), ('clamped_joints', ''), ('step_limited_joints', ''),
    ('joint_names', 'j1,j2,j3'), ('command', '')]
# policy_node/chunk_info of a decode failure, key by key in the published order
FAILED_CHUNK_INFO = [
    ('status', 'no_end_marker'), ('error', 'no | in 5 tokens'),
    ('instruction', 'pick up the cube'),
    ('stamp_ns.joint_states', '1700000000000000011'),
    ('stamp_ns.observation.images.front', '1699999999990000000'),
    ('masked.observation.images.side', 'true'), ('tokens', '7'), ('decode_steps', '7'),
    ('horizon', '0'), ('action_dim', '0'), ('latency_ms', '20.00'), ('convert_ms', '1.23'),
    ('preprocess_ms', '2.00'), ('prefill_ms', 'nan'), ('decode_ms', 'nan'),
    ('detokenize_ms', 'nan'), ('inference_ms', 'nan'), ('publish_ms', '0.25'),
    ('overhead_ms', '3.48'), ('inputs_during_inference', '4'), ('weights_sha256', 'ab' * 32),
    ('engine_path', 'compact: verified against exact at warm-up')]


def test_a_published_tick_status_decodes_to_its_values_and_encodes_to_the_same_text():
    record = TickStatus.decode(dict(BLENDING_TICK))
    assert record == TickStatus(
        seq=7, state='blending', active_chunk_stamp_ns=1_700_000_000_000_000_001,
        previous_chunk_stamp_ns=1_699_999_999_500_000_000, blend_weight=0.3, chunk_index=2.75,
        hold_reason='', clamped_joints=('a',), step_limited_joints=('a', 'b'),
        joint_names=('j1', 'j2', 'j3'),
        command=(0.1257302210933933, -0.1321048632913019, 0.6404226504432821))
    assert list(record.encode().items()) == BLENDING_TICK
    assert (record.level, record.message) == ('ok', 'blending')


def test_a_tick_without_a_command_round_trips():
    record = TickStatus.decode(dict(WAITING_TICK))
    assert record.command is None and math.isnan(record.chunk_index)
    assert record.hold_reason == 'no_chunk' and record.clamped_joints == ()
    assert list(record.encode().items()) == WAITING_TICK
    assert record.message == 'waiting (no_chunk)'


def test_tick_status_from_an_executor_tick_round_trips():
    tick = Tick(123, 8, 'holding', [0.1, -2e-3, 1 / 3], 4, chunk_index=9.5,
                hold_reason='policy_silent')
    record = TickStatus.from_tick(tick, ['a', 'b', 'c'])
    assert TickStatus.decode(record.encode()) == record
    assert record.command == (0.1, -0.002, 1 / 3)       # exact: repr keeps every bit
    assert record.encode()['command'] == '0.1,-0.002,0.3333333333333333'
    assert (record.level, record.message) == ('warn', 'holding (policy_silent)')


def test_a_published_chunk_info_decodes_and_encodes_to_the_same_text():
    record = ChunkInfo.decode(dict(FAILED_CHUNK_INFO))
    assert not record.ok and record.error == 'no | in 5 tokens'
    assert record.joint_state_stamp_ns == 1_700_000_000_000_000_011
    assert record.frame_stamps_ns == {'observation.images.front': 1_699_999_999_990_000_000}
    assert record.masked == ('observation.images.side',)
    assert (record.tokens, record.decode_steps, record.horizon, record.action_dim) == (7, 7, 0, 0)
    assert record.latency_ms == 20.0 and math.isnan(record.inference_ms)
    assert record.inputs_during_inference == 4 and record.weights_sha256 == 'ab' * 32
    assert list(record.encode().items()) == FAILED_CHUNK_INFO


def test_chunk_info_encode_decode_is_the_identity():
    record = ChunkInfo(status='ok', instruction='wave', stamps_ns={'joint_states': 5, 'cam': 4},
                       tokens=12, decode_steps=12, horizon=10, action_dim=6, latency_ms=81.25,
                       convert_ms=1.5, preprocess_ms=2.0, prefill_ms=30.0, decode_ms=40.0,
                       detokenize_ms=0.5, inference_ms=72.5, publish_ms=0.25, overhead_ms=3.75,
                       inputs_during_inference=3, weights_sha256='cd' * 32, engine_path='exact')
    assert ChunkInfo.decode(record.encode()) == record
    assert record.ok and record.encode()['inference_ms'] == '72.50'


def test_absent_keys_take_the_defaults_of_a_partial_record():
    tick = TickStatus.decode({'command': '0.5,-1.0', 'active_chunk_stamp_ns': '5'})
    assert tick.command == (0.5, -1.0) and tick.active_chunk_stamp_ns == 5
    assert (tick.seq, tick.state, tick.blend_weight, tick.joint_names) == (0, '', 0.0, ())
    info = ChunkInfo.decode({'status': 'ok'})
    assert info.joint_state_stamp_ns == 0 and math.isnan(info.inference_ms)


@pytest.mark.parametrize('values, key', [
    ({'seq': '7.0'}, 'seq'),
    ({'active_chunk_stamp_ns': 'none'}, 'active_chunk_stamp_ns'),
    ({'blend_weight': 'half'}, 'blend_weight'),
    ({'command': '0.1;0.2'}, 'command'),
])
def test_a_malformed_tick_value_is_refused_by_name(values, key):
    with pytest.raises(StatusFormatError, match=key) as info:
        TickStatus.decode(values)
    assert info.value.key == key


@pytest.mark.parametrize('values, key', [
    ({'stamp_ns.joint_states': '1.7e18'}, 'stamp_ns.joint_states'),
    ({'masked.cam': 'yes'}, 'masked.cam'),
    ({'tokens': '7 tokens'}, 'tokens'),
    ({'inference_ms': 'slow'}, 'inference_ms'),
])
def test_a_malformed_chunk_info_value_is_refused_by_name(values, key):
    with pytest.raises(StatusFormatError) as info:
        ChunkInfo.decode(values)
    assert info.value.key == key and repr(key) in str(info.value)
