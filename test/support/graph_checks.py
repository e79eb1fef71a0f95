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
The checks on a running bring-up graph, shared by the launch tests and the pip-env graph tests.

test_so100_launch.py and test_aloha_launch.py start a graph with `ros2 launch` (launch_testing),
test_graph_bringup.py starts the same graphs with `pi0fast-bringup`; all then run GraphChecks
over DDS from a harness.Probe, on a shipped config made testable by graph_test_config and a
scripted checkpoint from make_test_checkpoint. Every check waits for counts of messages with
generous timeouts; none asserts on wall-clock durations.
"""

import os
import pathlib
import signal

from diagnostic_msgs.msg import DiagnosticArray
from harness import wait_for
import numpy as np
from pi0fast_ros.nodes.executor.params import TABLE as EXECUTOR_TABLE
from pi0fast_ros.nodes.params import defaults
from pi0fast_ros.testing.seams import seam_report, series_from_status, step_limit
from rclpy.qos import QoSProfile
from sensor_msgs.msg import JointState
from std_msgs.msg import Float64MultiArray
from std_srvs.srv import SetBool
from trajectory_msgs.msg import JointTrajectory
import yaml

NS = 1_000_000_000
HOLD_REASONS = ('policy_silent', 'chunk_exhausted', 'no_chunk')


def graph_test_config(out_dir, config_path):
    """
    Write a shipped config with the executor max_velocity set to the fake arm's speeds.

    config/<robot>.yaml leaves the executor's safety limits to the user ("set them for your
    arm"); a graph under test needs them for the step-bound check, and the fake arm's own
    speed limits (robot space, as the executor's) are the natural values. Everything else is
    the shipped file. Written as <out_dir>/<name>_test.yaml.
    """
    config_path = pathlib.Path(config_path)
    doc = yaml.safe_load(config_path.read_text())
    fake = doc['/**/fake_robot']['ros__parameters']
    executor = doc.setdefault('/**/executor_node', {}).setdefault('ros__parameters', {})
    executor['max_velocity'] = list(fake['max_velocity'])
    path = pathlib.Path(out_dir) / f'{config_path.stem}_test.yaml'
    path.write_text(yaml.safe_dump(doc))
    return path


# openpi's ALOHA maps (pi0fast-facts §6, openpi aloha_policy.py) as the tests' oracle, written
# out here from the formulas rather than taken from core/control/aloha_gripper.py, so that
# neither the test statistics nor the expected commands inherit a bug of the maps under test.
# Robot side: joints in radians, grippers normalized 0 (closed) .. 1 (open); policy side: the
# flip mask applied, grippers in pi0's angular units.
ALOHA_FLIP = np.array([1, -1, -1, 1, 1, 1, 1, 1, -1, -1, 1, 1, 1, 1], dtype=np.float64)
ALOHA_GRIPPERS = [6, 13]


def _aloha_to_angular(v):
    """Map a linear gripper (0..1) to pi0's angular one: the state side (openpi constants)."""
    length = v * (0.05800 - 0.01844) + 0.01844
    theta = np.arcsin(np.clip((0.022 ** 2 + length ** 2 - 0.036 ** 2) / (2 * 0.022 * length),
                              -1.0, 1.0))
    return (theta - 0.5476) / (1.6296 - 0.5476)


def _aloha_from_angular(v):
    """Map pi0's angular gripper action to the normalized gripper command: the action side."""
    return (v + 0.5476 + 0.6213) / 2.1123


def _aloha_from_angular_inv(r):
    """Invert _aloha_from_angular (a gripper command -> the action that gives it)."""
    return r * 2.1123 - 0.6213 - 0.5476


def embodiment_maps(config_path):
    """
    Return 'identity' (empty adapter chain) or 'aloha' (config/aloha.yaml's chain).

    Any other chain is an error: the graph tests know the expected maps of these two only.
    """
    doc = yaml.safe_load(pathlib.Path(config_path).read_text())
    adapters = doc['/**']['ros__parameters'].get('adapters') or {}
    names = adapters.get('chain') or []
    if not names:
        return 'identity'
    specs = [adapters[name] for name in names]
    kinds = [spec.get('type', name) for name, spec in zip(names, specs)]
    if kinds == ['joint_flip', 'aloha_gripper'] and \
            list(specs[0]['mask']) == ALOHA_FLIP.tolist() and \
            specs[1].get('constants', 'openpi') == 'openpi' and \
            list(specs[1].get('indices', ALOHA_GRIPPERS)) == ALOHA_GRIPPERS:
        return 'aloha'
    raise ValueError(f'{config_path}: the graph tests have no expected maps for the adapters '
                     f'{adapters}; add them to graph_checks.py')


def expected_command(maps, actions):
    """Return the robot command for policy-space actions [..., D] (maps: embodiment_maps)."""
    actions = np.asarray(actions, dtype=np.float64)
    if maps == 'identity':
        return actions.copy()
    command = actions * ALOHA_FLIP
    command[..., ALOHA_GRIPPERS] = _aloha_from_angular(actions[..., ALOHA_GRIPPERS])
    return command


def _mean_std(lo, hi):
    # ~3 standard deviations either side of the mean reach the ends of [lo, hi], as for a
    # dataset that spans the whole range.
    lo, hi = np.minimum(lo, hi), np.maximum(lo, hi)
    return (lo + hi) / 2.0, (hi - lo) / 6.0


def policy_space_stats(config_path):
    """
    Mid-range action and state statistics in the policy's space for the config's fake arm.

    The ends of the fake arm's position range (robot space) are carried into the policy's
    space by the embodiment's maps (identity for so100, whose fake arm is in LeRobot's SO-100
    units; openpi's ALOHA maps for aloha, where the action and state sides differ on the
    grippers); mean = the middle of the mapped range, std = a sixth of its width. A scripted
    chunk (normalized values within about +-1.5) then lies well inside the arm's range once
    the executor's adapters map it back, unless they are wrong.
    """
    doc = yaml.safe_load(pathlib.Path(config_path).read_text())
    fake = doc['/**/fake_robot']['ros__parameters']
    lo = np.asarray(fake['position_min'], dtype=np.float64)
    hi = np.asarray(fake['position_max'], dtype=np.float64)
    if embodiment_maps(config_path) == 'identity':
        ranges = {'action': (lo, hi), 'observation.state': (lo, hi)}
    else:
        g = ALOHA_GRIPPERS
        action_lo, action_hi = lo * ALOHA_FLIP, hi * ALOHA_FLIP
        action_lo[g], action_hi[g] = _aloha_from_angular_inv(lo[g]), _aloha_from_angular_inv(hi[g])
        state_lo, state_hi = lo * ALOHA_FLIP, hi * ALOHA_FLIP
        # to_angular is meant for the linear range 0..1 (above 1 its clip makes it flat).
        state_lo[g] = _aloha_to_angular(np.clip(lo[g], 0.0, 1.0))
        state_hi[g] = _aloha_to_angular(np.clip(hi[g], 0.0, 1.0))
        ranges = {'action': (action_lo, action_hi), 'observation.state': (state_lo, state_hi)}
    stats = {}
    for key, (a, b) in ranges.items():
        mean, std = _mean_std(a, b)
        stats[key] = {'mean': mean, 'std': std}
    return stats


def make_test_checkpoint(out_dir, config_path, stats=None):
    """
    Write a tiny scripted checkpoint (one valid chunk for any input) for the config's arm.

    stats: action / observation.state statistics in the policy's space (default:
    policy_space_stats of the config). The chunk spans 1 s (action_rate_hz points), which
    keeps chunks valid on arrival even when the machine is very busy.
    """
    from pi0fast_ros.testing.random_checkpoint import make_random_checkpoint
    config = yaml.safe_load(pathlib.Path(config_path).read_text())
    shared = config['/**']['ros__parameters']
    names = shared['action_joint_names']
    slots = config['/**/policy_node']['ros__parameters']['camera_slots']
    dim = len(names)
    stats = policy_space_stats(config_path) if stats is None else stats
    return make_random_checkpoint(out_dir, seed=0, cameras=tuple(slots), state_dim=dim,
                                  action_dim=dim, chunk_size=round(shared['action_rate_hz']),
                                  scripted=True, stats=stats)


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
        # what the config's executor section leaves out takes the node's default (its table)
        self.executor_params = {**defaults(EXECUTOR_TABLE), **doc.get(
            '/**/executor_node', {}).get('ros__parameters', {})}
        self.names = list(shared['action_joint_names'])
        self.action_rate = float(shared['action_rate_hz'])
        self.control_rate = float(self.executor_params['control_rate_hz'])
        self.interpolation = self.executor_params['interpolation']
        fake = doc['/**/fake_robot']['ros__parameters']
        self.arm_range = (np.asarray(fake['position_min'], dtype=np.float64),
                          np.asarray(fake['position_max'], dtype=np.float64))
        self.maps = embodiment_maps(config_path)
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
        self.commands_follow_the_chunks()
        self.commands_inside_the_arm_range()

    def comes_up(self, timeout=240.0):
        """Joint states, chunks and commands all flow (model loading and warm-up included)."""
        ok = wait_for(lambda: len(self.chunks) >= 3 and len(self.commands) >= 10
                      and len(self.joint_states) >= 10, timeout, interval=0.2)
        assert ok, (f'graph did not come up: {len(self.joint_states)} joint states, '
                    f'{len(self.chunks)} chunks, {len(self.commands)} commands')

    def chunks_follow_the_contract(self, timeout=60.0):
        """
        DESIGN §3: names, time_from_start = i / action_rate, stamp = a joint-state stamp.

        Joint states from before the probe's subscription matched were never seen here, so
        the stamp is checked on the chunks stamped from the first joint state received on.
        """
        def first_state():
            return min(m.header.stamp.sec * NS + m.header.stamp.nanosec
                       for _, m in self.joint_states)

        def stamped():
            return [c for _, c in self.chunks
                    if c.header.stamp.sec * NS + c.header.stamp.nanosec >= first_state()]
        assert wait_for(lambda: len(stamped()) >= 3, timeout, interval=0.2), \
            f'{len(stamped())} chunks stamped after the first joint state the probe received'
        state_stamps = {(m.header.stamp.sec, m.header.stamp.nanosec)
                        for _, m in self.joint_states}
        infos = {(m.header.stamp.sec, m.header.stamp.nanosec): _values(m)
                 for _, m in self.chunk_info}
        checked = stamped()
        for _, chunk in self.chunks:
            assert list(chunk.joint_names) == self.names
            times = [p.time_from_start.sec + p.time_from_start.nanosec * 1e-9
                     for p in chunk.points]
            np.testing.assert_allclose(times, np.arange(len(times)) / self.action_rate,
                                       atol=1e-9)
        for chunk in checked:
            stamp = (chunk.header.stamp.sec, chunk.header.stamp.nanosec)
            assert stamp in state_stamps, \
                f'chunk stamp {stamp} is not the stamp of a joint state'
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

    def commands_follow_the_chunks(self, per_joint=5):
        """
        Commands are their chunks, sampled at the tick and mapped to robot space.

        Expected commands are computed here from the action_chunk messages (policy space) and
        each tick's status, mapped with expected_command (the embodiment's maps written out
        independently of the package's adapters): for ALOHA this checks the executor's joint
        flips and gripper maps end to end. On every joint the step limit and the position
        limits left alone (the status names the others):

        - a tracking tick sends its active chunk at chunk_index;
        - a blending tick sends it on the hard_switch_joints (they switch at once between
          chunks; a blend that began after a hold, or inside such a blend, fades them in like
          the other joints); on the other joints, when the chunks are constant (the scripted
          test model's are), it sends w * old + (1 - w) * new with w the status'
          blend_weight and old the command of the tick before the blend began: the old side
          (a chunk, a frozen blend or a held value) then stays put, and blending commutes
          with these maps (affine per joint). Blends from the measured pose (the first
          command, after enable) are left out.

        Every joint must be checked on per_joint ticks. Run it late, once many ticks are in.
        """
        chunks = {(m.header.stamp.sec * NS + m.header.stamp.nanosec): m for _, m in self.chunks}
        constant = all(np.all(np.array([p.positions for p in m.points]) == m.points[0].positions)
                       for m in chunks.values())
        hard = np.isin(self.names, self.executor_params['hard_switch_joints'])
        checked = np.zeros(len(self.names), dtype=int)
        old, before, after_hold = None, {}, False
        for row in self.statuses():
            previous, before = before, row
            if row.get('state') not in ('tracking', 'blending'):
                continue
            consecutive = previous.get('seq') == str(int(row['seq']) - 1)
            active = int(row['active_chunk_stamp_ns'])
            if row['state'] == 'blending' and not (
                    consecutive and previous.get('state') == 'blending'
                    and int(previous['active_chunk_stamp_ns']) == active):
                old = self._old_side(previous) if consecutive else None
                # held, waiting or disabled before (or still blending in from there): the
                # grippers blend too; after a lost status that is not known: not checked
                after_hold = not consecutive or previous.get('state') not in (
                    'tracking', 'blending') or (previous['state'] == 'blending' and after_hold)
            chunk = chunks.get(active)
            if chunk is None:
                continue
            assert row['joint_names'].split(',') == self.names, row['joint_names']
            command = np.array([float(x) for x in row['command'].split(',')])
            new = expected_command(self.maps, self._sample(chunk, row['chunk_index']))
            expected, joints = new, np.ones(len(self.names), dtype=bool)
            if row['state'] == 'blending':
                w = float(row['blend_weight'])
                side = np.full(len(self.names), np.nan) if old is None or not constant else old
                known = np.isfinite(side)
                switch = hard & (not after_hold)
                expected = np.where(switch, new, w * np.where(known, side, 0.0) + (1.0 - w) * new)
                joints = switch | known
            joints &= ~np.isin(self.names, self._limited(row))
            np.testing.assert_allclose(
                command[joints], expected[joints], rtol=1e-9, atol=1e-9,
                err_msg=f'tick {row["seq"]} ({row["state"]}, chunk {active} at index '
                        f'{row["chunk_index"]}), joints {np.array(self.names)[joints].tolist()}'
                        f', maps {self.maps}')
            checked += joints
        counts = dict(zip(self.names, checked.tolist()))
        assert np.all(checked >= per_joint), f'commands checked per joint: {counts}'
        return counts

    def _limited(self, row):
        return row.get('step_limited_joints', '').split(',') + \
            row.get('clamped_joints', '').split(',')

    def _old_side(self, previous):
        """Return a blend's old side (robot space, nan = unknown): the tick before's command."""
        if not previous.get('command'):
            return None   # the measured pose (first command, enable): not known exactly here
        old = np.array([float(x) for x in previous['command'].split(',')])
        old[np.isin(self.names, self._limited(previous))] = np.nan   # its target differs
        return old

    def _sample(self, chunk, chunk_index):
        """Return the chunk's action at a fractional index, as the executor interpolates."""
        positions = np.array([p.positions for p in chunk.points])
        index = min(max(float(chunk_index), 0.0), len(positions) - 1.0)
        k = int(np.floor(index))
        if self.interpolation == 'hold' or k == len(positions) - 1:
            return positions[k]
        frac = index - k
        return (1.0 - frac) * positions[k] + frac * positions[k + 1]

    def seams_within_the_executor_bound(self, ticks=150, timeout=120.0):
        """
        No command step, at chunk switches (seams) or elsewhere, exceeds the executor's bound.

        The bound is the executor's hard per-tick step limit, max_velocity / control_rate_hz
        (core/seams.step_limit; graph tests give the executor the fake arm's speed limits, see
        graph_test_config). The seams are located with core/seams.seam_report on the commands and
        active chunk stamps of every tick, as recorded from executor_node/status.
        """
        vmax = self.executor_params.get('max_velocity')
        assert vmax, 'the graph under test must configure executor_node max_velocity'
        start = len(self.status)
        assert wait_for(lambda: len(self.status) - start >= ticks, timeout)
        rows = [v for v in self.statuses() if v.get('command')]
        commands, stamps, _ = series_from_status(rows)
        report = seam_report(commands, stamps, int(self.executor_params['blend_steps']))
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

    def commands_inside_the_arm_range(self):
        """Every command sent so far, holds included, lies inside the fake arm's range."""
        rows = [v for v in self.statuses() if v.get('command')]
        assert rows, 'no command was sent'
        commands = np.array([[float(x) for x in v['command'].split(',')] for v in rows])
        lo, hi = self.arm_range
        outside = np.flatnonzero(np.any((commands < lo) | (commands > hi), axis=1))
        assert not outside.size, (
            f'{outside.size} of {len(rows)} commands leave the arm range {lo.tolist()} .. '
            f'{hi.tolist()}; first: {commands[outside[0]].tolist()} (seq '
            f'{rows[outside[0]]["seq"]}, state {rows[outside[0]]["state"]})')


def check_recorded_provenance(rollouts, instruction, config_path):
    """
    Read the one bag under rollouts back; sampled commands trace to their observation.

    Every traced command names a frame of each of the config's camera slots (the checkpoint of
    make_test_checkpoint has exactly those slots).
    """
    from pi0fast_ros.recording.provenance import sample_indices, trace_command
    from pi0fast_ros.recording.rollout import load_rollout
    doc = yaml.safe_load(pathlib.Path(config_path).read_text())
    slots = {f'observation.images.{slot}'
             for slot in doc['/**/policy_node']['ros__parameters']['camera_slots']}
    (bag,) = [p for p in rollouts.iterdir() if p.is_dir()]
    rollout = load_rollout(bag)
    assert rollout.metadata['pi0fast.instruction'] == instruction
    assert len(rollout.chunks) >= 3 and len(rollout.commands) >= 30
    first_chunk = min(c.t_ns for c in rollout.chunks)
    candidates = [i for i, t in enumerate(rollout.commands.t_ns) if t > first_chunk]
    traced = [trace_command(rollout, candidates[k])
              for k in sample_indices(len(candidates), 25)]
    # The recorder subscribes to a topic once it sees it on the graph, which may be after the
    # policy node published its first chunk_info: trace the commands of the chunks stamped
    # from the first recorded chunk_info on (every link of those is recorded).
    first_info = min(rollout.chunk_info)
    traced = [p for p in traced if not p.chunk_stamp_ns or p.chunk_stamp_ns >= first_info]
    assert len(traced) >= 15, f'only {len(traced)} commands from recorded chunk_info on'
    complete = [p for p in traced if p.complete]
    # A command received just as recording stopped may lack its status: allow one.
    assert len(complete) >= len(traced) - 1, [p.problems for p in traced if p.problems]
    for prov in complete:
        assert prov.chunk_found and prov.chunk_info['status'] == 'ok'
        assert set(prov.frames) == slots, (sorted(prov.frames), sorted(slots))
        assert all(prov.frames.values()) and prov.joint_state_t_ns > 0
        # each slot's frame is one of its own camera's (cameras may share stamps)
        for slot, (topic, _) in prov.frames.items():
            assert f'/{slot[len("observation.images."):]}/' in f'{topic}/', (slot, topic)
        assert prov.state in ('tracking', 'blending', 'holding')
    # The last command was sent while holding (the policy was killed): it traces back to the
    # chunk that produced the held command, and says it was held.
    last = trace_command(rollout, len(rollout.commands) - 1)
    assert last.held and last.hold_reason and last.complete, last
