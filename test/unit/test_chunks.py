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

"""Time-indexed chunks: sampling, coverage, validation (core/control/chunks.py)."""

import numpy as np
from pi0fast_ros.core.control.chunks import ChunkError, make_chunk, NS, uniform_chunk
import pytest

NAMES = ['a', 'b', 'c']
STAMP = 1_700_000_000 * NS


@pytest.fixture
def rng():
    return np.random.default_rng(1)


def test_linear_sampling_matches_np_interp(rng):
    rate = 30.0
    positions = rng.normal(size=(10, 3))
    chunk = uniform_chunk(STAMP, positions, rate)
    times = np.arange(10) / rate
    for t in rng.uniform(0.0, 9 / rate, 50):
        t_ns = STAMP + int(round(t * NS))
        expected = [np.interp((t_ns - STAMP) / NS, times, positions[:, j]) for j in range(3)]
        np.testing.assert_allclose(chunk.sample(t_ns), expected, atol=1e-12)


def test_hold_sampling_is_zero_order(rng):
    positions = rng.normal(size=(5, 3))
    chunk = uniform_chunk(STAMP, positions, 10.0)
    for i in range(5):
        for frac in (0.0, 0.4, 0.99):
            t_ns = STAMP + int(round((i + frac) / 10.0 * NS))
            np.testing.assert_array_equal(chunk.sample(t_ns, 'hold'), positions[i])


def test_coverage_is_stamp_to_last_action_plus_one_period():
    chunk = uniform_chunk(STAMP, np.zeros((10, 3)), 50.0)
    assert chunk.start_ns == STAMP
    assert chunk.end_ns == STAMP + 10 * NS // 50  # 200 ms: 10 actions of 20 ms
    assert chunk.covers(STAMP) and chunk.covers(chunk.end_ns - 1)
    assert not chunk.covers(STAMP - 1) and not chunk.covers(chunk.end_ns)


def test_late_sample_takes_the_part_that_is_due_now():
    # a chunk stamped 300 ms ago at 30 Hz: the action due now is number 9
    positions = np.arange(20, dtype=float)[:, None] * np.ones(3)
    chunk = uniform_chunk(STAMP, positions, 30.0)
    now = STAMP + 300_000_000
    assert chunk.index_at(now) == pytest.approx(9.0)
    np.testing.assert_allclose(chunk.sample(now), [9.0] * 3)


def test_columns_are_mapped_by_name(rng):
    positions = rng.normal(size=(4, 3))
    chunk = make_chunk(STAMP, ['c', 'a', 'b'], np.arange(4) / 30, positions, NAMES, 30.0)
    np.testing.assert_array_equal(chunk.positions, positions[:, [1, 2, 0]])


def test_inputs_are_copied_not_aliased(rng):
    positions = rng.normal(size=(4, 3))
    times = np.arange(4) / 30
    chunk = make_chunk(STAMP, NAMES, times, positions, NAMES, 30.0)
    positions[0, 0] = 99.0
    times[1] = 5.0
    assert chunk.positions[0, 0] != 99.0 and chunk.times_s[1] != 5.0
    assert times.flags.writeable and positions.flags.writeable


@pytest.mark.parametrize('names, times, positions, reason', [
    (NAMES, [], [], 'empty'),
    (NAMES, [0, 0.1], [[0, 0, 0], [0, 0]], 'shape'),
    (NAMES, [0, 0.1], [[0, 0], [0, 0]], 'shape'),
    (['a', 'b', 'x'], [0, 0.1], [[0, 0, 0]] * 2, 'joint_names'),
    (['a', 'a', 'b'], [0, 0.1], [[0, 0, 0]] * 2, 'joint_names'),
    (NAMES, [0, 0.1], [[0, np.nan, 0], [0, 0, 0]], 'non_finite'),
    (NAMES, [0, 0.1], [[0, 0, 0], [np.inf, 0, 0]], 'non_finite'),
    (NAMES, [0, 0], [[0, 0, 0]] * 2, 'bad_timing'),
    (NAMES, [0.1, 0.0], [[0, 0, 0]] * 2, 'bad_timing'),
    (NAMES, [-0.1, 0.0], [[0, 0, 0]] * 2, 'bad_timing'),
    (NAMES, [0.0], [[0, 0, 0]] * 2, 'bad_timing'),
])
def test_invalid_chunks_are_rejected_with_a_reason(names, times, positions, reason):
    with pytest.raises(ChunkError) as info:
        make_chunk(STAMP, names, times, positions, NAMES, 30.0)
    assert info.value.reason == reason
    assert str(info.value)  # a human-readable message


@pytest.mark.parametrize('interpolation', ['linear', 'hold'])
def test_vectorized_sampling_equals_single_samples(rng, interpolation):
    chunk = uniform_chunk(STAMP, rng.normal(size=(7, 3)), 30.0)
    t = STAMP + np.array([-5, 0, 1, 33_333_333, 100_000_000, 123_456_789, 250_000_000, 10**9])
    expected = np.array([chunk.sample(int(x), interpolation) for x in t])
    np.testing.assert_allclose(chunk.sample_many(t, interpolation), expected, atol=1e-12)
