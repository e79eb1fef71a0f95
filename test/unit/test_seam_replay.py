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

"""benchmarks/seam_replay.py on a bag recorded from a real ExecutorCore run."""

import pathlib
import sys

import numpy as np
from pi0fast_ros.core.control.chunks import NS
from pi0fast_ros.core.control.executor import ExecutorCore
from pi0fast_ros.core.status import TickStatus
from pi0fast_ros.nodes.executor.params import validate
from pi0fast_ros.recording.bag_writer import RolloutBagWriter
from pi0fast_ros.recording.rollout import load_rollout
import pytest
from rollout_builder import chunk_msg, header, NAMES, RATE, status, T, T0

sys.path.insert(0, str(pathlib.Path(__file__).resolve().parents[2] / 'benchmarks'))
import seam_replay  # noqa: E402  (a benchmark script, not a package)

CONFIG = f"""/**:
  ros__parameters:
    action_joint_names: {NAMES}
    action_rate_hz: {RATE}
    adapters: {{chain: []}}
/**/executor_node:
  ros__parameters:
    control_rate_hz: {RATE}
    blend_steps: 5
    blend_step_budget: 1.0
    blend_max_steps: 60
    realtime_priority: 50
    require_envelope: false
"""


def record(path, chunks=40, every=6, horizon=30):
    """
    Run an ExecutorCore on a stream of chunks and record it as the nodes would; return ticks.

    j0 follows a sine that every chunk predicts with its own error (up to 0.3); j1 holds
    still in every chunk, at a place each chunk chooses anew (up to 1.0 apart).
    """
    rng = np.random.default_rng(3)
    values = seam_replay.executor_values(CONFIG, {})
    config, adapters, _ = validate(values)
    core = ExecutorCore(config, adapters)
    bag = RolloutBagWriter(path, {'pi0fast.config': CONFIG, 'pi0fast.instruction': 'wave'})
    bag.add_topic('/action_chunk', 'trajectory_msgs/msg/JointTrajectory')
    bag.add_topic('/executor_node/status', 'diagnostic_msgs/msg/DiagnosticArray')
    bag.add_topic('/joint_states', 'sensor_msgs/msg/JointState')
    bag.write_message('/joint_states', T0, T['sensor_msgs/msg/JointState'](
        header=header(T0), name=NAMES, position=np.array([0.2, -0.1]), velocity=np.zeros(0),
        effort=np.zeros(0)))
    period = int(NS / RATE)
    core.observe_robot(np.array([0.2, -0.1]))
    sent = []
    for k in range(chunks * every + horizon // 2):
        t = T0 + k * period + 1234
        if k % every == 0 and k // every < chunks:
            stamp = t - 2 * period   # observed two ticks ago, arriving now
            times = (stamp - T0) / NS + np.arange(horizon) / RATE
            positions = np.stack([np.sin(2 * np.pi * 0.4 * times) + rng.uniform(-0.3, 0.3),
                                  np.full(horizon, rng.uniform(-0.5, 0.5))], axis=1)
            core.submit(stamp, NAMES, np.arange(horizon) / RATE, positions, t)
            bag.write_message('/action_chunk', t, chunk_msg(stamp, positions))
        tick = core.tick(t)
        bag.write_message('/executor_node/status', t + 5000,
                          status(t, TickStatus.from_tick(tick, NAMES).encode()))
        sent.append(tick.command)
    bag.close()
    return sent


def test_replay_reproduces_the_recorded_run_and_compares_the_rules(tmp_path, capsys):
    recorded = record(tmp_path / 'rollout')
    rollout = load_rollout(tmp_path / 'rollout')
    values = seam_replay.executor_values(rollout.metadata['pi0fast.config'], {})
    commands, stamps, times, _ = seam_replay.replay(rollout, values)
    # the same executor on the same chunks at the same times: the same commands (to the
    # nanosecond rounding of time_from_start in the message)
    expected = np.array([c for c in recorded if c is not None])
    assert len(commands) == len(expected)
    np.testing.assert_allclose(commands, expected, rtol=0, atol=1e-6)
    blended = np.array([True, True])
    now = seam_replay.figures(rollout, commands, stamps, times, blended, NS / RATE)
    base = seam_replay.figures(rollout, *seam_replay.replay(rollout, values, 'one-weight')[:3],
                               blended, NS / RATE)
    # j1 never moves inside a chunk: under one weight it forces the fade of j0 as well
    assert now['ratio'] <= 1.0 + 1e-6 < base['ratio']
    assert now['over'] == 0 < base['over']
    assert seam_replay.main([str(tmp_path / 'rollout'), '--set', 'blend_max_steps=120']) == 0
    rows = [line for line in capsys.readouterr().out.splitlines() if 'rollout |' in line]
    assert [row.split('|')[2].strip() for row in rows] == ['per-joint', 'one-weight']


def test_replay_names_a_bad_override(tmp_path):
    record(tmp_path / 'rollout', chunks=3)
    with pytest.raises(Exception, match='blend_max_steps'):
        seam_replay.main([str(tmp_path / 'rollout'), '--set', 'blend_max_steps=-1'])


def test_a_bag_with_nothing_to_replay_is_skipped_and_named(tmp_path, capsys):
    record(tmp_path / 'rollout', chunks=3)
    bag = RolloutBagWriter(tmp_path / 'empty', {'pi0fast.config': CONFIG})
    bag.add_topic('/action_chunk', 'trajectory_msgs/msg/JointTrajectory')
    bag.close()
    assert seam_replay.main([str(tmp_path / 'empty'), str(tmp_path / 'rollout')]) == 0
    out = capsys.readouterr().out
    assert '| empty | skipped: 0 chunks, 0 commands recorded' in out
    assert '| rollout | per-joint |' in out
    assert seam_replay.main([str(tmp_path / 'empty')]) == 1
    assert 'no bag had chunks and commands' in capsys.readouterr().err
