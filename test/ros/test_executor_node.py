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
The executor node as a separate process, driven over DDS by the test probe.

Count-based assertions with generous timeouts; nothing asserts on wall-clock timing.
"""

from diagnostic_msgs.msg import DiagnosticArray
from executor_rig import connected, NAMES, NS, start_executor, statuses, trajectory, values
from harness import CONFIG_DIR, wait_for
import numpy as np
from pi0fast_ros.core.control.adapter_chain import build_adapter_chain, load_adapter_spec
import pytest
from sensor_msgs.msg import JointState
from std_msgs.msg import Float64MultiArray
from std_srvs.srv import SetBool
from trajectory_msgs.msg import JointTrajectory
import yaml

pytestmark = pytest.mark.ros
ALOHA = yaml.safe_load((CONFIG_DIR / 'aloha.yaml').read_text())


def command_of(status):
    return np.array([float(v) for v in status['command'].split(',')])


def now_ns(probe):
    return probe.now().nanoseconds


def test_delayed_chunk_runs_from_now_through_the_adapters(spawn, probe, tmp_path):
    # ALOHA adapters, JointTrajectory output; the chunk is stamped 0.3 s in the past
    names = ALOHA['/**']['ros__parameters']['action_joint_names']
    shared = {'action_joint_names': names, 'action_rate_hz': 50.0,
              'adapters': ALOHA['/**']['ros__parameters']['adapters']}
    start_executor(spawn, tmp_path, shared, command_type='joint_trajectory',
                   watchdog_timeout_s=0.0)
    status = probe.collect(DiagnosticArray, 'executor_node/status')
    commands = probe.collect(JointTrajectory, 'joint_commands')
    pub = connected(probe, JointTrajectory, 'action_chunk')
    ramp = np.arange(300)[:, None] * 0.001 + np.linspace(0.1, 0.9, 14)  # 6 s at 50 Hz
    stamp = now_ns(probe) - 300_000_000
    pub.publish(trajectory(stamp, ramp, names))
    assert wait_for(lambda: sum(s['state'] == 'tracking' for _, s in statuses(status)) >= 60,
                    30), [(s['seq'], s['state'], s['hold_reason']) for _, s in statuses(status)]
    chain = build_adapter_chain(load_adapter_spec(CONFIG_DIR / 'aloha.yaml'), names)
    tracking = [(t, s) for t, s in statuses(status) if s['state'] == 'tracking']
    for t, s in tracking:
        assert int(s['active_chunk_stamp_ns']) == stamp
        index = (t - stamp) / NS * 50.0  # from the tick stamp, independently of the node
        assert index >= 15.0 - 1e-6  # the 0.3 s already past is never executed
        policy = ramp[0] + 0.001 * index
        np.testing.assert_allclose(command_of(s), chain.action_to_robot(policy), atol=1e-9)
    # every tick sent a single-point trajectory stamped like its status, at the control rate
    stamps = [t for t, _ in tracking]
    assert 0.010 < np.median(np.diff(stamps)) / NS < 0.040
    assert wait_for(lambda: len(commands) >= 60, 10)
    sent = {c.header.stamp.sec * NS + c.header.stamp.nanosec: c for _, c in list(commands)}
    matched = [t for t in stamps if t in sent]
    assert len(matched) >= 50
    msg = sent[matched[-1]]
    assert msg.joint_names == names and len(msg.points) == 1
    np.testing.assert_array_equal(msg.points[0].positions, command_of(dict(tracking)[
        matched[-1]]))


def test_holds_when_the_chunk_runs_out_and_when_the_policy_is_silent(spawn, probe, tmp_path):
    proc = start_executor(spawn, tmp_path, watchdog_timeout_s=2.0)
    status = probe.collect(DiagnosticArray, 'executor_node/status')
    commands = probe.collect(Float64MultiArray, 'joint_commands')
    pub = connected(probe, JointTrajectory, 'action_chunk')
    # 0.5 s of actions starting 0.3 s from now: it still covers a while even if delivery is
    # slow on a loaded machine, and it runs out long before the 2 s watchdog
    short = np.arange(25)[:, None] * np.array([0.01, -0.01, 0.005]) + 1.0
    pub.publish(trajectory(now_ns(probe) + 300_000_000, short))
    assert wait_for(lambda: any(s['hold_reason'] == 'chunk_exhausted'
                                for _, s in statuses(status)), 20), proc.output()
    seq = statuses(status)
    first = next(i for i, (_, s) in enumerate(seq) if s['hold_reason'] == 'chunk_exhausted')
    # the last command sent is held: the chunk's end (within one action step), not zeros.
    # Compared with the tick just before by its seq: on a loaded machine the probe may miss a
    # status message, so the previous entry received is not always the previous tick.
    held = command_of(seq[first][1])
    by_seq = {int(s['seq']): s for _, s in seq}
    before = by_seq.get(int(seq[first][1]['seq']) - 1)
    if before is not None:
        np.testing.assert_array_equal(held, command_of(before))
    np.testing.assert_allclose(held, short[-1], atol=0.0101)
    after = by_seq.get(int(seq[first][1]['seq']) + 1)
    assert after is None or np.array_equal(command_of(after), held)
    long_chunk = np.full((500, 3), 2.0)
    pub.publish(trajectory(now_ns(probe), long_chunk))
    assert wait_for(lambda: any(s['hold_reason'] == 'policy_silent'
                                for _, s in statuses(status)), 20)
    assert wait_for(lambda: sum(s['hold_reason'] == 'policy_silent'
                                for _, s in statuses(status)) >= 10, 20)
    seq = statuses(status)
    first = next(i for i, (_, s) in enumerate(seq) if s['hold_reason'] == 'policy_silent')
    before = command_of(seq[first - 1][1])
    assert seq[first - 1][1]['state'] in ('tracking', 'blending')
    for _, s in seq[first:]:
        assert s['state'] == 'holding'
        np.testing.assert_array_equal(command_of(s), before)
    assert wait_for(lambda: len(commands) >= len(seq) - 5, 10)
    assert all(np.all(np.isfinite(c.data)) for _, c in list(commands))


def test_disable_sends_nothing_and_hold_freezes(spawn, probe, tmp_path):
    start_executor(spawn, tmp_path, start_enabled=False, command_type='joint_state',
                   watchdog_timeout_s=0.0)
    status = probe.collect(DiagnosticArray, 'executor_node/status')
    commands = probe.collect(JointState, 'joint_commands')
    pub = connected(probe, JointTrajectory, 'action_chunk')
    pub.publish(trajectory(now_ns(probe), np.arange(1500)[:, None] * np.ones(3) * 0.001))
    assert wait_for(lambda: sum(s['state'] == 'disabled' for _, s in statuses(status)) >= 25,
                    20)
    assert len(commands) == 0
    assert probe.call(SetBool, 'executor_node/enable', SetBool.Request(data=True)).success
    assert wait_for(lambda: len(commands) >= 20, 20)
    assert probe.call(SetBool, 'executor_node/hold', SetBool.Request(data=True)).success
    assert wait_for(lambda: sum(s['hold_reason'] == 'hold_requested'
                                for _, s in statuses(status)) >= 10, 20)
    held = [command_of(s) for _, s in statuses(status) if s['hold_reason'] == 'hold_requested']
    assert all(np.array_equal(h, held[0]) for h in held)
    assert probe.call(SetBool, 'executor_node/hold', SetBool.Request(data=False)).success
    assert wait_for(lambda: any(s['state'] == 'blending' for _, s in statuses(status)[-20:]),
                    20)
    assert probe.call(SetBool, 'executor_node/enable', SetBool.Request(data=False)).success

    def disabled_since_last_command():
        seq = statuses(status)
        last = max(i for i, (_, s) in enumerate(seq) if s['command'])
        return len(seq) - last - 1 >= 25

    assert wait_for(disabled_since_last_command, 20)
    seq = statuses(status)
    last_sent = max(i for i, (_, s) in enumerate(seq) if s['command'])
    tail = seq[last_sent + 1:]
    assert len(tail) >= 25 and all(s['state'] == 'disabled' for _, s in tail)
    stamps = [c.header.stamp.sec * NS + c.header.stamp.nanosec for _, c in list(commands)]
    assert max(stamps) < tail[0][0]  # nothing was sent once disabled


def test_limits_step_limit_and_nan_rejection(spawn, probe, tmp_path):
    # no blend: the step limit alone ramps from the measured pose
    start_executor(spawn, tmp_path, use_joint_states=True, max_velocity=[1.0],
                   watchdog_timeout_s=0.0, blend_steps=0,
                   **{'joint_limits.lower': [-0.5, -0.5, -0.5],
                      'joint_limits.upper': [0.5, 0.5, 0.5]})
    status = probe.collect(DiagnosticArray, 'executor_node/status')
    diagnostics = probe.collect(DiagnosticArray, '/diagnostics')
    joints = connected(probe, JointState, 'joint_states')
    # like a robot: joint states keep coming (order by name differs from the command's)
    probe.node.create_timer(0.02, lambda: joints.publish(
        JointState(name=['c', 'b', 'a'], position=[0.0, 0.0, 0.0])))
    assert wait_for(lambda: any(int(values(m).get('joint_states_used', 0)) > 0
                                for _, m in list(diagnostics)), 20)
    pub = connected(probe, JointTrajectory, 'action_chunk')
    # 'a' beyond its limit (within the envelope margin, 0.2 x 1.0), far from the pose
    far = np.tile([0.65, -0.3, 0.4], (500, 1))
    pub.publish(trajectory(now_ns(probe), far))

    def arrived():
        sent = [s for _, s in statuses(status) if s['command']]
        return sent and np.allclose(command_of(sent[-1]), [0.5, -0.3, 0.4])

    assert wait_for(arrived, 30)
    bad = far.copy()
    bad[3, 1] = np.nan
    pub.publish(trajectory(now_ns(probe), bad))
    assert wait_for(lambda: any('rejected.non_finite' in values(m)
                                for _, m in list(diagnostics)), 20)
    ticks = {int(s['seq']): command_of(s) if s['command'] else None
             for _, s in statuses(status)}
    sent = [c for _, c in sorted(ticks.items()) if c is not None]
    # Steps are compared between consecutive ticks only, so that a status lost by the probe
    # under load cannot look like a jump; a command after a tick without one starts from the
    # measured pose (0).
    steps = [np.abs(ticks[q] - (0.0 if ticks[q - 1] is None else ticks[q - 1]))
             for q in ticks if ticks[q] is not None and q - 1 in ticks]
    assert np.max(steps) <= 1.0 / 50.0 + 1e-9  # ramps from the measured pose at <= 1 rad/s
    assert np.all(np.abs(np.vstack(sent)) <= 0.5 + 1e-12)
    np.testing.assert_allclose(sent[-1], [0.5, -0.3, 0.4])  # arrived, 'a' clamped
    assert any('a' in s['clamped_joints'].split(',') for _, s in statuses(status))
    assert any(s['step_limited_joints'] for _, s in statuses(status))
    diag = [values(m) for _, m in list(diagnostics) if 'rejected.non_finite' in values(m)]
    assert diag[-1]['rejected.non_finite'] == '1' and int(diag[-1]['clamped.a']) > 0


def test_sim_time_stamps_and_startup_errors(spawn, probe, tmp_path):
    from rosgraph_msgs.msg import Clock
    start_executor(spawn, tmp_path, use_sim_time=True)
    status = probe.collect(DiagnosticArray, 'executor_node/status')
    clock = connected(probe, Clock, '/clock')
    sim = 1000 * NS

    def publish_clock():
        msg = Clock()
        msg.clock.sec, msg.clock.nanosec = divmod(sim, NS)
        clock.publish(msg)
        return len(status) >= 5

    assert wait_for(publish_clock, 30)
    stamps = [t for t, _ in statuses(status)]
    assert all(t == sim for t in stamps)  # ticks are stamped with the simulated ROS time
    bad_file = tmp_path / 'bad.yaml'
    for params, message in (({'blend_schedule': 'cosine'}, "'cosine' is not one of"),
                            ({'hard_switch_joints': ['x']}, "['x'] are not in"),
                            ({'max_velocity': [1.0, 2.0]}, 'needs 1 or 3 values')):
        bad_file.write_text(yaml.safe_dump({'/**': {'ros__parameters': {
            'action_joint_names': NAMES}}, 'executor_node': {'ros__parameters': params}}))
        proc = spawn('pi0fast_ros.nodes.executor', params_file=bad_file)
        assert wait_for(lambda: not proc.alive(), 60)
        assert proc.proc.returncode == 1 and message in proc.output(), proc.output()
