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

"""ExecutorCore: schedule + blend -> adapters -> safety, holds and provenance; seam metrics."""

from executor_config import executor_config
import numpy as np
from pi0fast_ros.core.control.adapter_chain import build_adapter_chain
from pi0fast_ros.core.control.chunks import NS
from pi0fast_ros.core.control.executor import ExecutorCore
from pi0fast_ros.testing.seams import seam_report, step_limit
import pytest

T0 = 5_000 * NS
TICK = NS // 50
NAMES = ('a', 'b', 'grip')


def core(**kwargs):
    adapters = kwargs.pop('adapters', None)
    return ExecutorCore(executor_config(**kwargs), adapters)


def chunk_args(stamp, positions, names=NAMES):
    positions = np.asarray(positions, float)
    return stamp, list(names), np.arange(len(positions)) / 50.0, positions


def ramp(n=50, start=0.0):
    return start + np.arange(n)[:, None] * np.array([0.01, -0.01, 0.0])


def test_commands_follow_the_chunk_through_the_adapters():
    adapters = build_adapter_chain({'chain': ['u'], 'u': {'type': 'scale_offset',
                                                          'scale': [2.0], 'offset': [1.0]}})
    c = core(adapters=adapters)
    assert c.submit(*chunk_args(T0, ramp()), now_ns=T0 + 3) is None
    for k in range(10):
        tick = c.tick(T0 + k * TICK)
        assert tick.state == 'tracking' and tick.active_stamp_ns == T0
        # robot = (policy - offset) / scale
        np.testing.assert_allclose(tick.command, (ramp()[k] - 1.0) / 2.0, atol=1e-12)


def test_hold_when_the_chunk_runs_out_repeats_the_last_command():
    c = core()
    c.submit(*chunk_args(T0, ramp(5, start=3.0)), now_ns=T0)
    ticks = [c.tick(T0 + k * TICK) for k in range(8)]
    last = ramp(5, start=3.0)[-1]
    for t in ticks[5:]:
        assert t.state == 'holding' and t.hold_reason == 'chunk_exhausted'
        np.testing.assert_array_equal(t.command, last)  # never zeros, never a mean
        assert t.active_stamp_ns == T0
    assert c.counts['holds']['chunk_exhausted'] == 1 and c.counts['held_ticks'] == 3


def test_waiting_disabled_hold_requested_and_policy_silent():
    c = core(watchdog_timeout_s=0.1, start_enabled=False)
    assert c.tick(T0).state == 'disabled'
    c.set_enabled(True)
    first = c.tick(T0 + TICK)
    assert first.state == 'waiting' and first.command is None and first.hold_reason == 'no_chunk'
    c.submit(*chunk_args(T0 + TICK, ramp(200)), now_ns=T0 + TICK)
    assert c.tick(T0 + 2 * TICK).state == 'tracking'
    c.set_hold(True)
    held = c.tick(T0 + 3 * TICK)
    assert held.hold_reason == 'hold_requested'
    np.testing.assert_array_equal(held.command, ramp(200)[1])
    c.set_hold(False)
    assert c.tick(T0 + 4 * TICK).state == 'blending'  # resumes from the held command
    c.set_enabled(False)
    off = c.tick(T0 + 5 * TICK)
    assert off.state == 'disabled' and off.command is None
    c.set_enabled(True)
    # 0.1 s after the last chunk arrived the policy counts as silent, chunk or not
    silent = c.tick(T0 + TICK + 100_000_001)
    assert silent.hold_reason == 'policy_silent' and silent.command is not None


def test_resume_after_hold_has_no_jump():
    c = core(blend_steps=9)
    c.submit(*chunk_args(T0, ramp(200)), now_ns=T0)
    commands = []
    for k in range(60):
        c.set_hold(10 <= k < 30)  # the chunk keeps moving during the hold
        commands.append(c.tick(T0 + k * TICK).command)
    steps = np.abs(np.diff(commands, axis=0)).max(axis=0)
    # the chunk moves 0.01 per tick; from the held 0.09 the resume spreads a gap of 0.21,
    # growing to 0.30 while the held side stays put, over 10 ticks: <= 0.01 + 0.30 / 10 per
    # tick, where cutting over at once would step 0.21
    assert steps[0] <= 0.01 + 0.30 / 10 + 1e-9
    assert commands[-1][0] == pytest.approx(ramp(200)[59][0])


def test_first_chunk_blends_in_from_the_measured_pose_and_steps_are_limited():
    c = core(max_velocity=(1.0, 1.0, 1.0))  # 0.02 per tick at 50 Hz
    c.observe_robot([0.5, 0.5, 0.5])
    c.submit(*chunk_args(T0, np.zeros((100, 3))), now_ns=T0)
    commands = np.array([c.tick(T0 + k * TICK).command for k in range(40)])
    full = np.vstack([[0.5, 0.5, 0.5], commands])
    assert np.abs(np.diff(full, axis=0)).max() <= 0.02 + 1e-12
    np.testing.assert_allclose(commands[-1], 0.0, atol=1e-12)
    assert c.counts['step_limited']['a'] > 0


@pytest.mark.filterwarnings('ignore:overflow encountered')  # made on purpose below
def test_limits_clamp_and_non_finite_after_adapters_holds():
    adapters = build_adapter_chain({'chain': ['u'], 'u': {'type': 'scale_offset',
                                                          'scale': [1e-300]}})
    c = core(lower_limits=(-1.0,), upper_limits=(1.0,), adapters=adapters)
    c.submit(*chunk_args(T0, np.full((3, 3), 1e-300)), now_ns=T0)  # -> 1.0 on the robot
    ok = c.tick(T0)
    np.testing.assert_allclose(ok.command, [1.0, 1.0, 1.0])
    # 1.1 on the robot: inside the envelope margin (0.2 x the range), clamped to the limits
    c.submit(*chunk_args(T0 + TICK, np.full((3, 3), 1.1e-300)), now_ns=T0 + TICK)
    clamped = c.tick(T0 + 2 * TICK)
    assert clamped.clamped == NAMES and np.all(clamped.command == 1.0)
    # without limits nothing refuses the chunk up front: the tick holds on the inf command
    c = core(adapters=adapters)
    c.submit(*chunk_args(T0, np.full((3, 3), 1e-300)), now_ns=T0)
    c.tick(T0)
    c.submit(*chunk_args(T0 + 6 * TICK, np.full((3, 3), 1e10)), now_ns=T0 + 6 * TICK)  # inf
    bad = c.tick(T0 + 6 * TICK)
    assert bad.state == 'holding' and bad.hold_reason == 'non_finite'
    np.testing.assert_array_equal(bad.command, [1.0, 1.0, 1.0])


def test_rejections_are_counted_by_reason():
    c = core()
    assert c.submit(*chunk_args(T0, [[0, np.nan, 0]]), now_ns=T0).reason == 'non_finite'
    assert c.submit(*chunk_args(T0, ramp(3), ['a', 'b', 'x']), now_ns=T0).reason == \
        'joint_names'
    assert c.submit(*chunk_args(T0, ramp(3)), now_ns=T0 + NS).reason == 'stale'
    assert c.submit(*chunk_args(T0, ramp(60)), now_ns=T0) is None
    assert c.submit(*chunk_args(T0, ramp(60)), now_ns=T0).reason == 'out_of_order'
    assert dict(c.counts['rejected']) == {'non_finite': 1, 'joint_names': 1, 'stale': 1,
                                          'out_of_order': 1}


def test_aloha_hold_pose_uses_both_sides_of_the_adapters():
    names = tuple(f'j{i}' for i in range(14))
    adapters = build_adapter_chain({'chain': ['f', 'g'], 'f': {
        'type': 'joint_flip', 'mask': [1, -1, -1, 1, 1, 1, 1, 1, -1, -1, 1, 1, 1, 1]},
        'g': {'type': 'aloha_gripper'}}, names)
    c = core(joint_names=names, adapters=adapters, max_velocity=(1e-9,))
    measured = np.linspace(0.1, 0.9, 14)
    c.observe_robot(measured)
    c.submit(*chunk_args(T0, np.zeros((10, 14)), names), now_ns=T0)
    command = c.tick(T0).command
    # the step limit pins the first command to "stay where you are": the state mapped into
    # policy space (to_angular) and back out through the action side (from_angular)
    expected = adapters.action_to_robot(adapters.state_to_policy(measured))
    np.testing.assert_allclose(command, expected, atol=2e-9)
    assert not np.allclose(command[6], measured[6])


def test_seam_report_on_executor_output():
    rng = np.random.default_rng(3)
    results = {}
    for steps in (0, 8):
        c = core(blend_steps=steps, action_rate_hz=30.0)
        ticks = []
        for k in range(200):
            t = T0 + k * TICK
            if k % 15 == 0:
                stamp = t - int(0.1 * NS)
                base = np.sin(np.arange(30)[:, None] / 30 * np.pi + k / 40) + \
                    rng.normal(0, 0.05, 3)
                c.submit(*chunk_args(stamp, base), now_ns=t)
            ticks.append(c.tick(t))
        commands = [t.command for t in ticks]
        stamps = [t.active_stamp_ns for t in ticks]
        results[steps] = seam_report(commands, stamps, window=max(steps, 1))
    hard, blended = results[0], results[8]
    assert len(hard.seam_ticks) == len(blended.seam_ticks) == 13
    assert blended.max_ratio < hard.max_ratio
    assert hard.max_ratio > 1.0
    np.testing.assert_allclose(step_limit([1.0, 2.0], 50.0), [0.02, 0.04])


def test_status_series_round_trip():
    from pi0fast_ros.testing.seams import series_from_status
    rows = [{'command': '', 'state': 'waiting', 'active_chunk_stamp_ns': '0'},
            {'command': '0.1,0.2', 'state': 'blending', 'active_chunk_stamp_ns': '5'},
            {'command': repr(1 / 3) + ',-2.0', 'state': 'tracking',
             'active_chunk_stamp_ns': '5'}]
    commands, stamps, blending = series_from_status(rows)
    np.testing.assert_array_equal(commands, [[0.1, 0.2], [1 / 3, -2.0]])
    assert stamps.tolist() == [5, 5] and blending.tolist() == [True, False]


def test_periodic_thread_keeps_ticking_through_errors_and_stops():
    import threading
    from pi0fast_ros.nodes.realtime import PeriodicThread

    class Log:
        def __init__(self):
            self.errors = []

        def error(self, text, **kwargs):
            self.errors.append(text)

    calls, done = [], threading.Event()

    def tick():
        calls.append(1)
        if len(calls) == 3:
            raise RuntimeError('boom')
        if len(calls) >= 10:
            done.set()

    log = Log()
    ticker = PeriodicThread(0.005, tick, logger=log)
    ticker.start()
    assert done.wait(30)
    ticker.stop()
    n = len(calls)
    assert not ticker._thread.is_alive() and len(calls) == n
    assert 'boom' in log.errors[0] and len(ticker.errors) >= 9
    assert {'tick_period_error_p99_ms', 'tick_cost_p50_ms'} <= set(ticker.stats())
