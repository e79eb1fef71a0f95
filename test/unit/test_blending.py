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
The chunk scheduler against a plain offline reference.

The model is LeRobot's ACTTemporalEnsembler test, which checks the online ensembler against
an offline formula.
"""

import math

import numpy as np
from pi0fast_ros.core.control.blend_rule import blend_weights, BlendRule, FLOOR_GRACE
from pi0fast_ros.core.control.blending import ChunkScheduler, MAX_NESTING
from pi0fast_ros.core.control.chunks import ChunkError, NS, uniform_chunk
import pytest

T0 = 1_000 * NS
CONTROL_HZ, ACTION_HZ, H, D = 50.0, 30.0, 15, 4


def ref_weights(schedule, n):
    # written out from the RTC prefix-weight definitions (pi0fast-facts §7)
    if schedule == 'hard':
        return []
    lin = [(n - j) / (n + 1) for j in range(n)]
    if schedule == 'linear':
        return lin
    return [w * (math.exp(w) - 1) / (math.e - 1) for w in lin]


def ref_sample(stamp_ns, positions, t_ns):
    times = np.arange(len(positions)) / ACTION_HZ
    t = (t_ns - stamp_ns) / NS
    return np.array([np.interp(t, times, positions[:, j]) for j in range(positions.shape[1])])


def reference(chunks, ticks, schedule, n, hard):
    """Offline: chunk c is active from the first tick at or after its arrival and stamp."""
    weights = ref_weights(schedule, n)
    starts = [next(k for k, t in enumerate(ticks) if t >= max(arr, st))
              for arr, st, _ in chunks]
    out = []
    for k, t in enumerate(ticks):
        live = [i for i, s in enumerate(starts) if s <= k]
        if not live:
            out.append(None)
            continue
        i = live[-1]
        _, stamp, pos = chunks[i]
        if t >= stamp + int(round(H / ACTION_HZ * NS)):
            out.append(None)
            continue
        value = ref_sample(stamp, pos, t)
        j = k - starts[i]
        if len(live) > 1 and j < len(weights):
            _, old_stamp, old_pos = chunks[live[-2]]
            old_end = old_stamp + int(round(H / ACTION_HZ * NS))
            if t < old_end:
                old = ref_sample(old_stamp, old_pos, t)
            else:
                # the old chunk has ended: its last value moves along with the new chunk;
                # that is its sample at the last tick it covered during this blend, or, if it
                # had ended before, the last command sent
                covered = [kk for kk in range(starts[i], k) if ticks[kk] < old_end]
                ta = ticks[covered[-1]] if covered else ticks[starts[i]]
                last = ref_sample(old_stamp, old_pos, ta) if covered else \
                    [o for o in out[:starts[i]] if o is not None][-1]
                old = last + value - ref_sample(stamp, pos, ta)
            w = np.where(hard, 0.0, weights[j])
            value = w * old + (1 - w) * value
        out.append(value)
    return out


# Delays (s) of successive chunks, arriving every 0.22 s with a 0.5 s horizon: the old chunk
# still covers the whole blend (0.05, 0.1), ends during it (0.2, 0.22), or has ended before
# the next one arrives, leaving a gap (0.3, 0.4).
DELAYS = [0.05, 0.2, 0.3, 0.22, 0.4, 0.1, 0.3]


def make_stream(rng, spacing_ticks=11):
    ticks = [T0 + int(round(k / CONTROL_HZ * NS)) + 3_000_000 for k in range(90)]
    chunks = []
    for c, delay in enumerate(DELAYS):
        arrival = T0 + int(round(c * spacing_ticks / CONTROL_HZ * NS)) + 1_000_000
        chunks.append((arrival, arrival - int(delay * NS),
                       rng.normal(size=(H, D)).cumsum(axis=0)))
    return ticks, chunks


def scheduler(dim, schedule, steps, hard=None):
    # a fixed schedule: no step budget (so no tick period or minimum progress), linear sampling
    return ChunkScheduler(dim, BlendRule(schedule, steps, 0.0, 1.0, 0, 'linear'), hard)


def run_scheduler(scheduler, chunks, ticks):
    out, pending = [], list(chunks)
    for t in ticks:
        while pending and pending[0][0] <= t:
            arrival, stamp, pos = pending.pop(0)
            scheduler.submit(uniform_chunk(stamp, pos, ACTION_HZ), arrival)
        out.append(scheduler.step(t))
    return out


@pytest.mark.parametrize('schedule, n', [('linear', 4), ('linear', 1), ('exponential', 5),
                                         ('hard', 4), ('linear', 0)])
def test_scheduler_matches_offline_reference(schedule, n):
    rng = np.random.default_rng(2)
    ticks, chunks = make_stream(rng)
    hard = np.array([False, False, False, True])  # the last joint is a gripper
    got = run_scheduler(scheduler(D, schedule, n, hard), chunks, ticks)
    expected = reference(chunks, ticks, schedule, n, hard)
    assert sum(e is not None for e in expected) > 40
    assert sum(e is None for e in expected[10:]) > 3  # gaps after ended chunks
    for k, (g, e) in enumerate(zip(got, expected)):
        if e is None:
            assert g.target is None, f'tick {k}'
        else:
            np.testing.assert_allclose(g.target, e, atol=1e-12, err_msg=f'tick {k}')


def test_weights_and_provenance_during_a_blend():
    np.testing.assert_allclose(blend_weights('linear', 4), [0.8, 0.6, 0.4, 0.2])
    assert blend_weights('hard', 4).size == 0
    with pytest.raises(ValueError, match='schedule'):
        blend_weights('cosine', 3)
    s = scheduler(2, 'linear', 4)
    old, new = T0, T0 + 100_000_000
    s.submit(uniform_chunk(old, np.zeros((30, 2)), ACTION_HZ), old)
    assert s.step(old + 1).previous_stamp_ns == 0
    s.submit(uniform_chunk(new, np.ones((30, 2)), ACTION_HZ), new)
    samples = [s.step(new + k * 20_000_000) for k in range(6)]
    assert [x.blend_weight for x in samples] == pytest.approx([0.8, 0.6, 0.4, 0.2, 0, 0])
    assert [x.previous_stamp_ns for x in samples] == [old] * 4 + [0, 0]
    assert all(x.active_stamp_ns == new for x in samples)
    np.testing.assert_allclose([x.target[0] for x in samples], [0.2, 0.4, 0.6, 0.8, 1, 1])


def test_stale_out_of_order_and_superseded():
    s = scheduler(2, 'linear', 5)
    horizon = int(H / ACTION_HZ * NS)
    with pytest.raises(ChunkError) as info:
        s.submit(uniform_chunk(T0, np.zeros((H, 2)), ACTION_HZ), T0 + horizon)
    assert info.value.reason == 'stale'
    s.submit(uniform_chunk(T0, np.zeros((H, 2)), ACTION_HZ), T0 + horizon - 1)
    with pytest.raises(ChunkError) as info:
        s.submit(uniform_chunk(T0, np.ones((H, 2)), ACTION_HZ), T0 + 1)
    assert info.value.reason == 'out_of_order'
    # a newer chunk that has started too replaces one that has not run yet
    assert s.submit(uniform_chunk(T0 + 1, np.ones((H, 2)), ACTION_HZ), T0 + 2) is not None
    with pytest.raises(ChunkError) as info:
        s.submit(uniform_chunk(T0, np.zeros((H, 3)), ACTION_HZ), T0)
    assert info.value.reason == 'shape'


def test_future_chunk_waits_for_its_stamp_and_exhaustion_is_reported():
    s = scheduler(1, 'linear', 0)
    assert s.step(T0).reason == 'no_chunk'
    s.submit(uniform_chunk(T0 + 50_000_000, np.full((3, 1), 7.0), ACTION_HZ), T0)
    assert s.step(T0 + 49_000_000).target is None
    assert s.step(T0 + 50_000_000).target[0] == 7.0
    end = T0 + 50_000_000 + int(3 / ACTION_HZ * NS)
    late = s.step(end)
    assert late.target is None and late.reason == 'chunk_exhausted'
    assert late.active_stamp_ns == T0 + 50_000_000


def test_chunks_arriving_mid_blend_never_jump():
    # constant chunks 0, 1, 2, 3 arriving every 2 ticks while blends last 6 ticks: the output
    # must move monotonically, with steps well below the hard switch's 1.0 (blending from the
    # previous *chunk* instead of the blend in progress would step 6/7 at the third chunk)
    s = scheduler(1, 'linear', 6)
    values = []
    for k in range(30):
        t = T0 + k * 20_000_000
        if k % 2 == 0 and k <= 6:
            s.submit(uniform_chunk(t, np.full((60, 1), k / 2), ACTION_HZ), t)
        values.append(s.step(t).target[0])
    steps = np.diff(values)
    assert np.all(steps >= -1e-12)
    assert steps.max() <= 0.6
    assert values[-1] == pytest.approx(3.0)


def test_a_new_chunk_takes_over_from_the_last_command_at_any_nesting_depth():
    # constant chunks 0, 2, 4, ... arriving every 2 ticks while blends last 6 ticks: blends
    # nest, and beyond MAX_NESTING the old side is collapsed into a held value. Either way the
    # old side is what was commanded at the tick before (a blend keeps its weight once a newer
    # chunk takes over), so every takeover is 6/7 * previous + 1/7 * new. The collapse used to
    # advance the old blend's fade one more tick first: a step about twice the others.
    s = scheduler(1, 'linear', 6)
    values, depths = [], []
    for k in range(24):
        t = T0 + k * 20_000_000
        if k % 2 == 0:
            s.submit(uniform_chunk(t, np.full((60, 1), float(k)), ACTION_HZ), t)
        values.append(s.step(t).target[0])
        depths.append(s._source.depth())   # white-box: the collapse did happen
    assert max(depths) == MAX_NESTING and depths.count(1) > 2
    for k in range(2, 24, 2):
        assert values[k] == pytest.approx(6 / 7 * values[k - 1] + 1 / 7 * k, abs=1e-12), k


def test_rebase_blends_from_the_held_value():
    s = scheduler(1, 'linear', 3)
    s.submit(uniform_chunk(T0, np.full((60, 1), 10.0), ACTION_HZ), T0)
    s.step(T0)
    s.rebase(np.array([4.0]), T0 + 1)
    got = [s.step(T0 + k * 20_000_000).target[0] for k in range(1, 6)]
    np.testing.assert_allclose(got, [4 + 6 * 0.25, 4 + 6 * 0.5, 4 + 6 * 0.75, 10, 10])


def test_step_budget_keeps_seams_within_the_chunks_own_steps():
    # two sinusoidal chunks offset by (0.5, -0.4): an unbudgeted 5-tick blend steps far beyond
    # what the chunks do; with a budget of 1.0 a tick could exceed the chunks' largest step
    # only by the forced progress of the floor (at most 0.05 / 0.75 / 6 of the offset), and
    # the blend still ends on the new chunk
    t = np.arange(200) / ACTION_HZ
    old = np.stack([np.sin(2 * np.pi * 0.5 * t), np.cos(2 * np.pi * 0.3 * t)], axis=1)
    new = old + np.array([0.5, -0.4])
    chunk_step = np.abs(np.diff(old, axis=0)).max(axis=0)
    results = {}
    for budget in (0.0, 1.0):
        rule = BlendRule('linear', 5, step_budget=budget, min_progress=0.05,
                         tick_ns=int(NS / ACTION_HZ), interpolation='linear')
        s = ChunkScheduler(2, rule)
        s.submit(uniform_chunk(T0, old, ACTION_HZ), T0)
        ticks = [T0 + int(round(k / ACTION_HZ * NS)) for k in range(190)]
        samples = []
        for k, tk in enumerate(ticks):
            if k == 20:
                s.submit(uniform_chunk(tk, new[20:], ACTION_HZ), tk)
            samples.append(s.step(tk))
        results[budget] = samples
    steps = {b: np.abs(np.diff([x.target for x in r], axis=0)) for b, r in results.items()}
    assert np.any(steps[0.0] > chunk_step * 1.5)
    assert np.all(steps[1.0] <= chunk_step + 0.05 / 6 * np.array([0.5, 0.4]) + 1e-7)
    assert np.mean(np.all(steps[1.0] <= chunk_step + 1e-9, axis=1)) > 0.9
    last_blend = max(k for k, x in enumerate(results[1.0]) if x.blend_weight > 0)
    assert 25 < last_blend < 20 + 6 / 0.05  # slower than 5 ticks, within the progress floor
    np.testing.assert_allclose(results[1.0][-1].target, new[189], atol=1e-12)
    weights = [x.blend_weight for x in results[1.0][20:last_blend + 1]]
    assert all(a >= b for a, b in zip(weights, weights[1:]))  # the fade never goes back


def budgeted_blend(old, new, min_progress, switch=20, ticks=None):
    """Run ``old`` [T, D] then ``new`` from tick ``switch`` (linear 5, budget 1); targets."""
    rule = BlendRule('linear', 5, step_budget=1.0, min_progress=min_progress,
                     tick_ns=int(NS / ACTION_HZ), interpolation='linear')
    s = ChunkScheduler(old.shape[1], rule)
    s.submit(uniform_chunk(T0, old, ACTION_HZ), T0)
    out = []
    for k in range(ticks or len(old) - 1):
        tk = T0 + int(round(k / ACTION_HZ * NS))
        if k == switch:
            s.submit(uniform_chunk(tk, new[switch:], ACTION_HZ), tk)
        sample = s.step(tk)
        out.append((sample.target, sample.blending, sample.blend_weight))
    return np.array([o[0] for o in out]), [o[1] for o in out], [o[2] for o in out]


def test_a_joint_the_chunks_hold_still_does_not_hold_back_the_others():
    # joint 0 moves (the same slow sine in both chunks, 0.3 apart): it has room to fade;
    # joint 1 is constant in both chunks but 1.0 apart: its budget is zero, so it is forced
    # along the floor. Each joint fades at its own pace: joint 0 is on the new chunk long
    # before joint 1 (one weight for both made joint 0 wait the whole 120 ticks).
    t = np.arange(200) / ACTION_HZ
    old = np.stack([np.sin(2 * np.pi * 0.3 * t), np.zeros_like(t)], axis=1)
    new = old + np.array([0.3, 1.0])
    targets, blending, weights = budgeted_blend(old, new, min_progress=0.05, ticks=190)
    on_new = np.isclose(targets[:, 0], new[:190, 0], atol=1e-9)
    first = int(np.argmax(on_new[20:])) + 20
    assert on_new[first:].all() and first < 20 + 40, first
    assert blending[first] and not np.isclose(targets[first, 1], 1.0)   # joint 1: still fading
    # joint 1 follows the floor from the first tick (no grace for a joint that never moves):
    # after k ticks its old-side weight is 1 - k * 0.05 / 6, and so is the reported weight
    for k in (1, 10, 40):
        w = 1.0 - k * 0.05 / 6
        assert targets[20 + k - 1, 1] == pytest.approx(1.0 - w, abs=1e-9)
        assert weights[20 + k - 1] == pytest.approx(w, abs=1e-9)
    assert np.isclose(targets[20 + 120 - 1:, 1], 1.0).all()   # ends within blend_max_steps


def test_a_joint_at_full_speed_waits_out_the_grace_before_it_is_forced():
    # both chunks ramp at the same constant speed (every tick at the budget), 2.0 apart: there
    # is never room, so only the floor moves the blend. For the grace (25 % of the 60 ticks)
    # every step stays exactly at the chunks' own step; after it the blend is forced and still
    # ends by tick 60.
    speed = 0.1
    ramp = (np.arange(200) * speed)[:, None]
    targets, _, _ = budgeted_blend(ramp, ramp + 2.0, min_progress=6 / 60, ticks=150)
    steps = np.abs(np.diff(targets[:, 0]))
    grace = int(FLOOR_GRACE * 60)
    assert np.all(steps[19:19 + grace] <= speed * (1 + 1e-6))   # (ticks are whole ns)
    assert steps[19 + grace + 1] > speed * 1.2   # then forced forward
    np.testing.assert_allclose(targets[20 + 60 - 1:, 0], ramp[20 + 60 - 1:150, 0] + 2.0,
                               atol=1e-9)


def test_a_blend_out_of_a_collapsed_chain_keeps_the_old_chunks_budget():
    # chunks ramping joint 0 arrive every other tick until the nesting collapses into a held
    # value; then one holds joint 0 still, 2.0 ahead. The blend out of the collapsed chain may
    # move as fast as the chain's chunks did (not 0, the new chunk's own step on joint 0): no
    # step of the grace is forced beyond the ramp's speed.
    speed = 0.1
    rule = BlendRule('linear', 5, step_budget=1.0, min_progress=6 / 60,
                     tick_ns=int(NS / ACTION_HZ), interpolation='linear')
    s = ChunkScheduler(1, rule)
    ramp = lambda k: (np.arange(k, k + 60) * speed)[:, None] + 0.01 * k   # noqa: E731
    targets = []
    switch = 2 * (MAX_NESTING + 1)   # the chunk that finds the chain MAX_NESTING deep
    for k in range(switch + 15):
        tk = T0 + int(round(k / ACTION_HZ * NS))
        if k < switch and k % 2 == 0:
            s.submit(uniform_chunk(tk, ramp(k), ACTION_HZ), tk)
        elif k == switch:
            s.submit(uniform_chunk(tk, np.full((60, 1), targets[-1][0] + 2.0), ACTION_HZ), tk)
        targets.append(s.step(tk).target)
    steps = np.abs(np.diff(np.array(targets)[:, 0]))
    assert np.all(steps[switch - 1:] <= speed * 1.0001 + 0.01), steps[switch - 1:]


@pytest.mark.parametrize('delay', [0.3, 0.7])
def test_seam_evaluation_with_the_shipped_aloha_config(delay):
    # benchmarks/seam_eval.py, shortened: the shipped blending keeps every seam within the
    # chunks' own largest step, where the hard switch jumps several times that
    import pathlib
    import sys
    sys.path.insert(0, str(pathlib.Path(__file__).resolve().parents[2] / 'benchmarks'))
    import seam_eval
    compared = seam_eval.settings('aloha')
    worst = {}
    for name in ('hard', 'shipped config'):
        cmds, stamps, blending, ref, holds = seam_eval.simulate(
            'aloha', compared[name], delay, duration=12.0, seed=0, period_frac=0.3)
        worst[name] = seam_eval.seam_ratios(cmds, stamps, blending, ref, warmup=50)[0]
        assert holds == 0
    assert worst['hard'] > 3.0
    assert worst['shipped config'] <= 1.0
