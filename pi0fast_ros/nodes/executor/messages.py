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
Message conversion for the executor node: chunks in, commands and the per-tick status out.

The per-tick status (``executor_node/status``, a DiagnosticArray whose header.stamp is the tick
time) carries one DiagnosticStatus: core/status.py's TickStatus, the provenance of every command.

A JointState / JointTrajectory command has the same header.stamp as its status; a
Float64MultiArray has no header, its values equal the status' ``command`` exactly.
"""

from builtin_interfaces.msg import Duration, Time
from diagnostic_msgs.msg import DiagnosticArray
from pi0fast_ros.core.status import TickStatus
from pi0fast_ros.nodes.common import make_status
from sensor_msgs.msg import JointState
from std_msgs.msg import Float64MultiArray
from trajectory_msgs.msg import JointTrajectory, JointTrajectoryPoint

NS = 1_000_000_000
COMMAND_MSG_TYPES = {'float64_multi_array': Float64MultiArray, 'joint_state': JointState,
                     'joint_trajectory': JointTrajectory}
SKEW_WARN_NS = 50_000_000  # a chunk stamped further ahead than this means a clock skew


def stamp_ns(stamp):
    """Convert a builtin_interfaces/Time to integer nanoseconds."""
    return stamp.sec * NS + stamp.nanosec


def chunk_from_msg(msg):
    """Convert a JointTrajectory to (stamp_ns, joint_names, times_s [H], positions [H][D])."""
    times = [p.time_from_start.sec + p.time_from_start.nanosec * 1e-9 for p in msg.points]
    positions = [list(p.positions) for p in msg.points]
    return stamp_ns(msg.header.stamp), list(msg.joint_names), times, positions


def _time(t_ns):
    return Time(sec=t_ns // NS, nanosec=t_ns % NS)


def command_msg(command_type, names, t_ns, command, time_from_start_s):
    """Build the joint_commands message of one tick."""
    values = [float(v) for v in command]
    if command_type == 'float64_multi_array':
        return Float64MultiArray(data=values)
    if command_type == 'joint_state':
        msg = JointState(name=list(names), position=values)
        msg.header.stamp = _time(t_ns)
        return msg
    point = JointTrajectoryPoint(positions=values, time_from_start=Duration(
        sec=int(time_from_start_s), nanosec=int(round((time_from_start_s % 1) * 1e9))))
    msg = JointTrajectory(joint_names=list(names), points=[point])
    msg.header.stamp = _time(t_ns)
    return msg


def status_msg(node, tick, names):
    """Build the per-tick DiagnosticArray (core/status.py TickStatus)."""
    record = TickStatus.from_tick(tick, names)
    status = make_status(node, record.level, record.message, record.encode(), '/status')
    array = DiagnosticArray(status=[status])
    array.header.stamp = _time(tick.stamp_ns)
    return array


def diagnostics_msg(node, t_ns, core, jitter):
    """Build the periodic /diagnostics summary: counters, holds, clamps, tick jitter."""
    counts = core.counts
    values = {'enabled': core.enabled, 'hold_requested': core.hold_requested,
              'ticks': counts['ticks'], 'commands_sent': counts['commands'],
              'held_ticks': counts['held_ticks'], 'chunks_accepted': counts['accepted'],
              'chunks_rejected': sum(counts['rejected'].values()),
              'chunks_pending': core.scheduler.pending,
              'chunk_lead_ms': f'{core.lead_ns / 1e6:.1f}',
              'envelope': core.envelope.describe()}
    for group in ('rejected', 'holds', 'clamped', 'step_limited'):
        for key, n in sorted(counts[group].items()):
            values[f'{group}.{key}'] = n
    values.update(jitter)
    level, message = _summary(core)
    array = DiagnosticArray(status=[make_status(node, level, message, values)])
    array.header.stamp = _time(t_ns)
    return array


def _summary(core):
    # (level, message): why the executor holds, the chunks it refuses, a clock skew.
    holding = core.last_hold_reason
    level = 'warn' if holding in ('policy_silent', 'chunk_exhausted', 'non_finite') else 'ok'
    if holding:
        message = f'holding ({holding})'
    else:
        message = 'running' if core.enabled else 'disabled'
    refusal = core.last_rejection
    if core.refused_since_accept and refusal is not None:
        # Chunks arrive but none is accepted: say why; the policy is not silent.
        message = (f'{"holding" if holding == "policy_silent" else message}: refusing chunks '
                   f'({core.refused_since_accept} since the last accepted; last '
                   f'{refusal.reason}: {refusal})')
        level = 'error' if holding and holding not in ('disabled', 'hold_requested') else 'warn'
    if core.lead_ns > SKEW_WARN_NS:
        message += (f'; chunks stamped {core.lead_ns / 1e6:.0f} ms ahead of this clock (clock '
                    f'skew?): they run that much late')
        level = 'error' if level == 'error' else 'warn'
    return level, message
