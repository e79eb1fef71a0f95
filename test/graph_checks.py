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
The checks on a running bring-up graph, shared by the launch test and the pip-env graph test.

test_so100_launch.py starts the graph with `ros2 launch` (launch_testing), test_graph_bringup.py
with `pi0fast-bringup`; both then run GraphChecks over DDS from a harness.Probe. Every check
waits for counts of messages with generous timeouts; none asserts on wall-clock durations.
"""

import os
import pathlib
import signal

from diagnostic_msgs.msg import DiagnosticArray
from harness import wait_for
import numpy as np
from pi0fast_ros.core.seams import seam_report, series_from_status, step_limit
from rclpy.qos import QoSProfile
from sensor_msgs.msg import JointState
from std_msgs.msg import Float64MultiArray
from std_srvs.srv import SetBool
from trajectory_msgs.msg import JointTrajectory
import yaml

NS = 1_000_000_000
HOLD_REASONS = ('policy_silent', 'chunk_exhausted', 'no_chunk')


def so100_test_config(out_dir, config_path=None):
    """
    Write the shipped so100 config with the executor max_velocity set to the fake arm speeds.

    config/so100.yaml leaves the executor's safety limits to the user ("set them for your
    arm"); a graph under test needs them for the step-bound check, and the fake arm's own
    speed limits are the natural values. Everything else is the shipped file.
    """
    config_path = config_path or pathlib.Path(__file__).resolve().parents[1] / 'config' / \
        'so100.yaml'
    doc = yaml.safe_load(pathlib.Path(config_path).read_text())
    fake = doc['/**/fake_robot']['ros__parameters']
    doc['/**/executor_node']['ros__parameters']['max_velocity'] = list(fake['max_velocity'])
    path = pathlib.Path(out_dir) / 'so100_test.yaml'
    path.write_text(yaml.safe_dump(doc))
    return path


def make_test_checkpoint(out_dir, config_path):
    """Write a tiny scripted checkpoint (one valid chunk for any input) for the config arm."""
    from pi0fast_ros.core.random_checkpoint import make_random_checkpoint
    config = yaml.safe_load(pathlib.Path(config_path).read_text())
    names = config['/**']['ros__parameters']['action_joint_names']
    slots = config['/**/policy_node']['ros__parameters']['camera_slots']
    dim = len(names)
    # Mid-range made-up statistics, so that the chunk lies inside the fake arm's limits.
    stats = {key: {'mean': np.full(dim, 20.0), 'std': np.full(dim, 15.0)}
             for key in ('action', 'observation.state')}
    # A 1 s horizon keeps chunks valid on arrival even when the machine is very busy.
    return make_random_checkpoint(out_dir, seed=0, cameras=tuple(slots), state_dim=dim,
                                  action_dim=dim, chunk_size=30, scripted=True, stats=stats)


def find_pids(node_name, namespace):
    """Pids of processes started with `-r __node:=<node_name>` and `-r __ns:=<namespace>`."""
    want = [f'__node:={node_name}'.encode(), f'__ns:={namespace}'.encode()]
    pids = []
    for entry in pathlib.Path('/proc').iterdir():
        if not entry.name.isdigit():
            continue
        try:
            args = (entry / 'cmdline').read_bytes().split(b'\0')
        except OSError:
            continue
        if all(w in args for w in want):
            pids.append(int(entry.name))
    return pids


def _values(msg):
    return {kv.key: kv.value for kv in msg.status[0].values} if msg.status else {}


class GraphChecks:
    """Watches one graph (namespace) through a harness.Probe and checks the contract."""

    def __init__(self, probe, namespace, config_path):
        self.probe, self.ns = probe, namespace.rstrip('/')
        doc = yaml.safe_load(pathlib.Path(config_path).read_text())
        shared = doc['/**']['ros__parameters']
        self.executor_params = doc.get('/**/executor_node', {}).get('ros__parameters', {})
        self.names = list(shared['action_joint_names'])
        self.action_rate = float(shared['action_rate_hz'])
        self.control_rate = float(self.executor_params.get('control_rate_hz', 30.0))
        deep = QoSProfile(depth=200)
        self.chunks = probe.collect(JointTrajectory, f'{self.ns}/action_chunk', deep)
        self.status = probe.collect(DiagnosticArray, f'{self.ns}/executor_node/status', deep)
        self.commands = probe.collect(Float64MultiArray, f'{self.ns}/joint_commands', deep)
        self.joint_states = probe.collect(JointState, f'{self.ns}/joint_states', deep)
        self.chunk_info = probe.collect(DiagnosticArray, f'{self.ns}/policy_node/chunk_info',
                                        deep)
        probe.client(SetBool, f'{self.ns}/executor_node/enable')   # early: see harness

    def statuses(self, start=0):
        return [_values(m) for _, m in self.status[start:]]

    # -- the checks ----------------------------------------------------------------------
    def run_all(self):
        """Every check, in the order the launch test and the pip graph test share."""
        self.comes_up()
        self.chunks_follow_the_contract()
        self.commands_flow_at_the_control_rate()
        self.seams_within_the_executor_bound()
        self.disable_stops_commands()
        self.policy_killed_executor_holds()

    def comes_up(self, timeout=240.0):
        """Joint states, chunks and commands all flow (model loading and warm-up included)."""
        ok = wait_for(lambda: len(self.chunks) >= 3 and len(self.commands) >= 10
                      and len(self.joint_states) >= 10, timeout, interval=0.2)
        assert ok, (f'graph did not come up: {len(self.joint_states)} joint states, '
                    f'{len(self.chunks)} chunks, {len(self.commands)} commands')

    def chunks_follow_the_contract(self):
        """DESIGN §3: names, time_from_start = i / action_rate, stamp = a joint-state stamp."""
        state_stamps = {(m.header.stamp.sec, m.header.stamp.nanosec)
                        for _, m in self.joint_states}
        infos = {(m.header.stamp.sec, m.header.stamp.nanosec): _values(m)
                 for _, m in self.chunk_info}
        for _, chunk in self.chunks[1:]:
            assert list(chunk.joint_names) == self.names
            times = [p.time_from_start.sec + p.time_from_start.nanosec * 1e-9
                     for p in chunk.points]
            np.testing.assert_allclose(times, np.arange(len(times)) / self.action_rate,
                                       atol=1e-9)
            stamp = (chunk.header.stamp.sec, chunk.header.stamp.nanosec)
            assert stamp in state_stamps, 'chunk stamp is not the stamp of a joint state'
            info = infos.get(stamp)
            if info is not None:
                assert info['status'] == 'ok'
                assert int(info['stamp_ns.joint_states']) == stamp[0] * NS + stamp[1]

    def commands_flow_at_the_control_rate(self, ticks=90, timeout=120.0):
        """Count ticks; their own stamps (ROS time) are spaced 1 / control_rate_hz."""
        start = len(self.status)
        assert wait_for(lambda: len(self.status) - start >= ticks, timeout), \
            f'only {len(self.status) - start} executor ticks'
        msgs = [m for _, m in self.status[start:start + ticks]]
        stamps = np.array([m.header.stamp.sec * NS + m.header.stamp.nanosec for m in msgs])
        period = np.median(np.diff(stamps)) / NS
        assert 0.5 / self.control_rate < period < 1.5 / self.control_rate, period
        sent = [v for v in self.statuses(start)[:ticks] if v.get('command')]
        assert len(sent) >= ticks // 2, 'most ticks must send a command'
        return period

    def seams_within_the_executor_bound(self, ticks=150, timeout=120.0):
        """
        No command step, at chunk switches (seams) or elsewhere, exceeds the executor's bound.

        The bound is the executor's hard per-tick step limit, max_velocity / control_rate_hz
        (core/seams.step_limit; graph tests give the executor the fake arm's speed limits, see
        so100_test_config). The seams are located with core/seams.seam_report on the commands and
        active chunk stamps of every tick, as recorded from executor_node/status.
        """
        vmax = self.executor_params.get('max_velocity')
        assert vmax, 'the graph under test must configure executor_node max_velocity'
        start = len(self.status)
        assert wait_for(lambda: len(self.status) - start >= ticks, timeout)
        rows = [v for v in self.statuses() if v.get('command')]
        commands, stamps, _ = series_from_status(rows)
        report = seam_report(commands, stamps, int(self.executor_params.get('blend_steps', 5)))
        assert len(report.seam_ticks) >= 3, 'too few chunk switches observed'
        limit = step_limit(np.broadcast_to(vmax, (commands.shape[1],)), self.control_rate)
        assert np.all(report.seam_jumps <= limit * (1 + 1e-9)), (report.seam_jumps, limit)
        assert np.all(report.max_step <= limit * (1 + 1e-9)), (report.max_step, limit)
        return report

    def disable_stops_commands(self, ticks=20, timeout=60.0):
        """executor_node/enable false: disabled ticks, no command; true: commands again."""
        self._enable(False)
        first = len(self.status)
        assert wait_for(lambda: self._count_state('disabled', first) >= 5, timeout)
        frozen = len(self.commands)
        seen = self._count_state('disabled', first)
        assert wait_for(lambda: self._count_state('disabled', first) >= seen + ticks, timeout)
        assert len(self.commands) == frozen, 'commands were sent while disabled'
        self._enable(True)
        assert wait_for(lambda: len(self.commands) >= frozen + 10, timeout), \
            'commands did not resume after enable'

    def _enable(self, on):
        request = SetBool.Request(data=on)
        response = self.probe.call(SetBool, f'{self.ns}/executor_node/enable', request,
                                   timeout=10.0, retries=3)    # idempotent
        assert response.success, response.message

    def _count_state(self, state, start):
        return sum(1 for v in self.statuses(start) if v.get('state') == state)

    def policy_killed_executor_holds(self, timeout=60.0):
        """SIGKILL the policy node: the executor holds its last command (never zeros)."""
        pids = find_pids('policy_node', self.ns or '/')
        assert len(pids) == 1, f'policy_node processes in {self.ns}: {pids}'
        start = len(self.status)
        os.kill(pids[0], signal.SIGKILL)

        def after():
            return self.statuses(start)
        assert wait_for(lambda: sum(v.get('state') == 'holding' for v in after()) >= 10,
                        timeout), 'the executor never held'
        rows = after()
        first = next(i for i, v in enumerate(rows) if v['state'] == 'holding')
        holds = [v for v in rows[first:] if v['state'] == 'holding']
        assert holds[0]['hold_reason'] in HOLD_REASONS, holds[0]
        # Holding re-sends the last command sent before the hold, unchanged.
        last_sent = next(v['command'] for v in reversed(self.statuses()[:start] + rows[:first])
                         if v.get('command') and v['state'] != 'holding')
        assert all(v['command'] == last_sent for v in holds), 'the held command changed'
        return holds[0]['hold_reason']


def check_recorded_provenance(rollouts, instruction):
    """Read the one bag under rollouts back; sampled commands trace to their observation."""
    from pi0fast_ros.recording.provenance import sample_indices, trace_command
    from pi0fast_ros.recording.rollout import load_rollout
    (bag,) = [p for p in rollouts.iterdir() if p.is_dir()]
    rollout = load_rollout(bag)
    assert rollout.metadata['pi0fast.instruction'] == instruction
    assert len(rollout.chunks) >= 3 and len(rollout.commands) >= 30
    first_chunk = min(c.t_ns for c in rollout.chunks)
    candidates = [i for i, t in enumerate(rollout.commands.t_ns) if t > first_chunk]
    traced = [trace_command(rollout, candidates[k])
              for k in sample_indices(len(candidates), 25)]
    complete = [p for p in traced if p.complete]
    # A command received just as recording stopped may lack its status: allow one.
    assert len(complete) >= len(traced) - 1, [p.problems for p in traced if p.problems]
    for prov in complete:
        assert prov.chunk_found and prov.chunk_info['status'] == 'ok'
        assert set(prov.frames) == {'observation.images.front', 'observation.images.wrist'}
        assert all(prov.frames.values()) and prov.joint_state_t_ns > 0
        assert prov.state in ('tracking', 'blending', 'holding')
    # The last command was sent while holding (the policy was killed): it traces back to the
    # chunk that produced the held command, and says it was held.
    last = trace_command(rollout, len(rollout.commands) - 1)
    assert last.held and last.hold_reason and last.complete, last
