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

"""The envelope from checkpoint statistics, and the executor core refusing chunks outside it."""

import numpy as np
from pi0fast_ros.core.control.adapter_chain import build_adapter_chain
from pi0fast_ros.core.control.chunks import NS
from pi0fast_ros.core.control.envelope import checkpoint_envelopes, Envelope, envelope_from_stats
from pi0fast_ros.core.control.envelope import EnvelopeError
from pi0fast_ros.core.control.executor import ExecutorConfig, ExecutorCore
from pi0fast_ros.testing.random_checkpoint import make_random_checkpoint
import pytest

T0 = 5_000 * NS
TICK = NS // 50
NAMES = ('a', 'b', 'grip')
STATS = {'min': [-10.0, 0.0, 0.0], 'max': [10.0, 50.0, 100.0], 'q01': [-9.0, 1.0, 2.0],
         'q99': [9.0, 49.0, 98.0], 'mean': [0.0, 25.0, 50.0], 'std': [3.0, 10.0, 30.0]}


def core(**kwargs):
    adapters = kwargs.pop('adapters', None)
    config = {'joint_names': kwargs.pop('joint_names', NAMES), 'action_rate_hz': 50.0,
              'control_rate_hz': 50.0, 'blend_steps': 4, 'blend_schedule': 'linear',
              'blend_step_budget': 0.0, 'blend_max_steps': 100, 'hard_switch_joints': (),
              'interpolation': 'linear', 'watchdog_timeout_s': 0.0, 'lower_limits': (),
              'upper_limits': (), 'max_velocity': (), 'start_enabled': True,
              'envelope_margin': 0.2, 'require_envelope': True, 'max_future_s': 0.5}
    config.update(kwargs)
    return ExecutorCore(ExecutorConfig(**config), adapters)


def submit(c, stamp, positions, now=None, names=NAMES):
    positions = np.asarray(positions, float)
    return c.submit(stamp, list(names), np.arange(len(positions)) / 50.0, positions,
                    stamp if now is None else now)


def policy_envelope(margin=0.2):
    return envelope_from_stats('action', STATS, NAMES, margin, 'auto')[0]


# ---- the envelope from statistics ----

def test_envelope_is_the_data_range_widened_by_the_margin():
    env, warnings = envelope_from_stats('action', STATS, NAMES, margin=0.1, which='auto')
    np.testing.assert_allclose(env.lower, [-12.0, -5.0, -10.0])
    np.testing.assert_allclose(env.upper, [12.0, 55.0, 110.0])
    assert warnings == [] and 'min/max' in env.source
    quant = envelope_from_stats('action', STATS, NAMES, margin=0.0, which='quantiles')[0]
    np.testing.assert_allclose(quant.upper, [9.0, 49.0, 98.0])
    assert env.violations([[0.0, 25.0, 100.0], [12.0, -5.0, 110.0]]) == ''
    message = env.violations([[0.0, 25.0, 1e9]])
    assert 'grip = 1e+09 > 110' in message and 'min/max' in message


def test_quantiles_are_the_fallback_and_missing_bounds_are_an_error():
    only_q = {k: STATS[k] for k in ('mean', 'std', 'q01', 'q99')}
    env = envelope_from_stats('action', only_q, NAMES, margin=0.0, which='auto')[0]
    np.testing.assert_allclose(env.lower, [-9.0, 1.0, 2.0])
    with pytest.raises(EnvelopeError, match=r"no min/max or q01/q99 \(only \['mean', 'std'\]"):
        envelope_from_stats('action', {'mean': [0] * 3, 'std': [1] * 3}, NAMES, 0.2, 'auto')
    with pytest.raises(EnvelopeError, match='not finite'):
        envelope_from_stats('action', {**STATS, 'max': [1.0, np.nan, 1.0]}, NAMES, 0.2,
                            'auto')
    with pytest.raises(EnvelopeError, match='3 / 3 values, expected 2'):
        envelope_from_stats('action', STATS, ('a', 'b'), 0.2, 'auto')


def test_a_joint_constant_in_the_data_gets_the_widest_range_as_margin():
    stats = {'min': [0.0, 5.0], 'max': [10.0, 5.0]}
    env, warnings = envelope_from_stats('observation.state', stats, ('x', 'y'), margin=0.2,
                                        which='auto')
    np.testing.assert_allclose(env.lower, [-2.0, 3.0])
    np.testing.assert_allclose(env.upper, [12.0, 7.0])
    assert "['y'] never moved" in warnings[0]


def test_envelope_round_trips_through_json_by_name():
    env = policy_envelope()
    back = Envelope.from_json(env.to_json(), ('grip', 'a', 'b'))
    np.testing.assert_array_equal(back.upper, env.upper[[2, 0, 1]])
    assert back.source == env.source
    with pytest.raises(EnvelopeError, match='do not match'):
        Envelope.from_json(env.to_json(), ('a', 'b', 'c'))
    with pytest.raises(EnvelopeError, match='malformed'):
        Envelope.from_json('{"joint_names": 3}', NAMES)


def test_checkpoint_envelopes_read_both_stats_files(tmp_path):
    stats = {'action': {'mean': [0.0] * 6, 'std': [1.0] * 6, 'min': [-1.0] * 6,
                        'max': [2.0] * 6},
             'observation.state': {'mean': [10.0] * 6, 'std': [2.0] * 6}}
    path = make_random_checkpoint(tmp_path / 'ckpt', seed=1, stats=stats)
    names = tuple(f'j{i}' for i in range(6))
    state, action, _ = checkpoint_envelopes(path, names, names, margin=0.0, which='auto')
    np.testing.assert_allclose(action.lower, -1.0)
    np.testing.assert_allclose(action.upper, 2.0)
    # a mean/std override moves the made-up min/max with it (mean +- 3 std)
    np.testing.assert_allclose(state.lower, 4.0, rtol=1e-6)
    np.testing.assert_allclose(state.upper, 16.0, rtol=1e-6)


# ---- the executor core ----

def test_without_limits_or_envelope_every_chunk_is_refused_and_nothing_moves():
    c = core()
    c.observe_robot([0.0, 0.0, 0.0])
    error = submit(c, T0, np.zeros((50, 3)))
    assert error.reason == 'no_envelope' and "['a', 'b', 'grip']" in str(error)
    ticks = [c.tick(T0 + k * TICK) for k in range(5)]
    assert all(t.command is None for t in ticks)
    assert c.counts['rejected']['no_envelope'] == 1


def test_a_huge_chunk_is_refused_and_never_ramped_towards():
    c = core(max_velocity=(5.0,))
    c.set_envelope(policy_envelope())
    c.observe_robot([0.0, 10.0, 20.0])
    good = np.tile([0.0, 10.0, 20.0], (200, 1))
    assert submit(c, T0, good) is None
    for k in range(3):
        c.tick(T0 + k * TICK)
    error = submit(c, T0 + 3 * TICK, np.full((50, 3), 1e9))
    assert error.reason == 'out_of_envelope'
    assert 'a = 1e+09 > 14' in str(error) and 'action min/max' in str(error)
    commands = np.array([c.tick(T0 + k * TICK).command for k in range(3, 40)])
    np.testing.assert_array_equal(commands, np.tile([0.0, 10.0, 20.0], (37, 1)))


def test_explicit_limits_win_over_the_policy_envelope():
    # 'a' has limits [-100, 100] (wider than the data's +-12): 50 is accepted there, while
    # the policy's envelope still bounds 'b' and 'grip'
    c = core(lower_limits=(-100.0, -np.inf, -np.inf), upper_limits=(100.0, np.inf, np.inf))
    c.set_envelope(policy_envelope())
    assert submit(c, T0, np.tile([50.0, 10.0, 20.0], (10, 1))) is None
    error = submit(c, T0 + TICK, np.tile([50.0, 10.0, 200.0], (10, 1)))
    assert error.reason == 'out_of_envelope' and 'grip = 200' in str(error)
    # beyond the limits by more than the margin (0.2 x 200): refused, named in robot units
    error = submit(c, T0 + 2 * TICK, np.tile([141.0, 10.0, 20.0], (10, 1)))
    assert error.reason == 'out_of_envelope' and 'a = 141 > 140' in str(error)
    assert 'joint_limits' in str(error)


def test_limits_on_every_joint_need_no_envelope():
    c = core(lower_limits=(-1.0,), upper_limits=(1.0,))
    assert submit(c, T0, np.full((10, 3), 1.3)) is None  # clamped at the tick
    assert np.all(c.tick(T0).command == 1.0)
    assert submit(c, T0 + TICK, np.full((10, 3), 1.5)).reason == 'out_of_envelope'


def test_aloha_gripper_limits_apply_after_the_adapters():
    names = tuple(f'j{i}' for i in range(14))
    adapters = build_adapter_chain({'chain': ['f', 'g'], 'f': {
        'type': 'joint_flip', 'mask': [1, -1, -1, 1, 1, 1, 1, 1, -1, -1, 1, 1, 1, 1]},
        'g': {'type': 'aloha_gripper'}}, names)
    lower, upper = [-np.inf] * 14, [np.inf] * 14
    lower[6] = lower[13] = 0.0
    upper[6] = upper[13] = 1.0
    c = core(joint_names=names, adapters=adapters, lower_limits=tuple(lower),
             upper_limits=tuple(upper), require_envelope=False)
    chunk = np.zeros((10, 14))
    chunk[:, 6] = 0.5  # from_angular: (0.5 + 0.5476 + 0.6213) / 2.1123 = 0.79 on the robot
    assert submit(c, T0, chunk, names=names) is None
    chunk[:, 13] = 7.0  # 3.87 on the robot, on a 0..1 range
    error = submit(c, T0 + TICK, chunk, names=names)
    assert error.reason == 'out_of_envelope' and 'j13 = 3.8673 > 1.2' in str(error)


def test_hard_switch_joint_blends_in_after_a_hold():
    # the gripper switches at once between chunks, but after a hold (the chunk ran out) the
    # next chunk blends it in like every other joint instead of jumping 25 units
    c = core(hard_switch_joints=('grip',), require_envelope=False)
    assert submit(c, T0, np.tile([0.0, 0.0, 0.0], (10, 1))) is None
    commands = [c.tick(T0 + k * TICK).command for k in range(20)]  # held after tick 10
    assert c.last_hold_reason == 'chunk_exhausted'
    assert submit(c, T0 + 20 * TICK, np.tile([0.0, 0.0, 25.0], (50, 1))) is None
    commands += [c.tick(T0 + k * TICK).command for k in range(20, 40)]
    steps = np.abs(np.diff(np.array(commands), axis=0))
    assert steps[:, 2].max() <= 25.0 / 5 + 1e-9  # blend_steps 4: five ticks
    assert commands[-1][2] == 25.0
    # between chunks it still switches at once
    assert submit(c, T0 + 40 * TICK, np.tile([0.0, 0.0, 5.0], (50, 1))) is None
    assert c.tick(T0 + 40 * TICK).command[2] == 5.0
