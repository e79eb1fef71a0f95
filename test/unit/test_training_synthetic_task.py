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

"""The synthetic SO-100 task: the expert does what each instruction says, in closed loop."""

import numpy as np
from pi0fast_ros.testing import synthetic_task as st
import pytest
import scipy.fft

HORIZON = 30


@pytest.mark.parametrize('instruction', ['go home', 'reach left', 'reach right'])
def test_reaching_skills_converge_from_anywhere(instruction):
    rng = np.random.default_rng(1)
    target = np.asarray(st.skill(instruction).target)
    for q0 in st.sample_states(rng, 5):
        traj = st.simulate(q0, instruction, seconds=6.0, horizon=HORIZON, replan_every=6)
        np.testing.assert_allclose(traj[-1], target, atol=0.5)


@pytest.mark.parametrize('lag_tau, min_swings', [(0.0, 4), (0.08, 3)])
def test_wave_circles_the_wrist(lag_tau, min_swings):
    # Re-planning from a lagging arm slows the swing (each chunk starts where the arm IS),
    # but it must keep oscillating.
    rng = np.random.default_rng(2)
    for q0 in st.sample_states(rng, 3):
        traj = st.simulate(q0, 'wave', seconds=8.0, horizon=HORIZON, replan_every=6,
                           lag_tau=lag_tau)
        wrist = traj[60:, st.WRIST_FLEX]   # after the first 2 s of getting into the pose
        half = st.WAVE_AMPLITUDE / 2
        side = np.sign(wrist[np.abs(wrist) > half])
        swings = np.count_nonzero(np.diff(side))
        assert swings >= min_swings, f'wrist_flex swung {swings} times in 6 s'
        roll = traj[60:, st.WRIST_ROLL]       # the hand circles: roll swings too
        assert roll.max() > half and roll.min() < -half
        # the rest of the arm holds the wave pose
        np.testing.assert_allclose(traj[-1, st.SHOULDER_PAN], 0.0, atol=0.5)


def test_chunks_are_smooth_and_speed_limited():
    rng = np.random.default_rng(3)
    states = st.sample_states(rng, 200)
    for instruction in st.INSTRUCTIONS:
        chunks = st.expert_chunk(states, instruction, HORIZON)
        steps = np.diff(np.concatenate([states[:, None], chunks], axis=1), axis=1)
        # the wave turns the wrist about the centre: at most radius * angle per step more
        radius = np.hypot(states[:, st.WRIST_FLEX], states[:, st.WRIST_ROLL]).max()
        turn = max(radius, st.WAVE_AMPLITUDE) * 2 * np.pi * st.DT / st.WAVE_PERIOD_S
        limit = st.MAX_SPEED * st.DT + np.array([0, 0, 0, turn, turn, 0])
        assert np.all(np.abs(steps) <= limit + 1e-9)


def test_instructions_give_distinct_motions_from_the_same_state():
    q = np.zeros(6)
    chunks = {i: st.expert_chunk(q, i, HORIZON) for i in st.INSTRUCTIONS}
    # direction of shoulder_pan over the chunk tells left from right
    assert chunks['reach left'][-1, st.SHOULDER_PAN] > 15
    assert chunks['reach right'][-1, st.SHOULDER_PAN] < -15
    for a in st.INSTRUCTIONS:
        for b in st.INSTRUCTIONS:
            if a < b:
                assert np.abs(chunks[a] - chunks[b]).max() > 10, (a, b)


def test_dataset_is_deterministic_and_consistent():
    s1, i1, a1 = st.generate_dataset(seed=7, n=300, horizon=HORIZON)
    s2, i2, a2 = st.generate_dataset(seed=7, n=300, horizon=HORIZON)
    assert s1.shape == (300, 6) and a1.shape == (300, HORIZON, 6) and len(i1) == 300
    np.testing.assert_array_equal(s1, s2)
    np.testing.assert_array_equal(a1, a2)
    assert i1 == i2
    assert set(i1) == set(st.INSTRUCTIONS)
    # every sample's actions are the expert's chunk from its state
    for k in range(0, 300, 37):
        expected = st.expert_chunk(s1[k].astype(np.float64), i1[k], HORIZON)
        np.testing.assert_allclose(a1[k], expected, atol=1e-4)
    s3, _, _ = st.generate_dataset(seed=8, n=300, horizon=HORIZON)
    assert not np.array_equal(s1, s3)


def test_unknown_instruction_is_refused():
    with pytest.raises(KeyError, match='reach left'):
        st.expert_chunk(np.zeros(6), 'dance', HORIZON)


def test_band_limited_chunks_keep_only_low_frequencies_and_still_reach():
    rng = np.random.default_rng(4)
    states = st.sample_states(rng, 50)
    for instruction in st.INSTRUCTIONS:
        raw = st.expert_chunk(states, instruction, HORIZON)
        smooth = st.expert_chunk(states, instruction, HORIZON, bandwidth=3)
        coeffs = scipy.fft.dct(smooth, axis=1, norm='ortho')
        assert np.abs(coeffs[:, 3:]).max() < 1e-9
        assert np.abs(smooth - raw).mean() < 5.0          # the same motion, smoothed
    traj = st.simulate(np.zeros(6), 'reach right', seconds=6.0, horizon=HORIZON,
                       replan_every=6, bandwidth=3)
    np.testing.assert_allclose(traj[-1], st.skill('reach right').target, atol=1.0)
