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
The executor node's parameters: one table (TABLE), validated once by a pure function.

``read_executor_parameters(node)`` (node.py) declares TABLE and the adapter keys and returns
``validate(values)``: ``(ExecutorConfig, AdapterChain, NodeOptions)``, or raises StartupError
naming the offending parameter.
"""

import dataclasses
import math

from pi0fast_ros.core.control.adapter_chain import AdapterSpecError, build_adapter_chain
from pi0fast_ros.core.control.blend_rule import SCHEDULES
from pi0fast_ros.core.control.chunks import INTERPOLATIONS
from pi0fast_ros.core.control.executor import ExecutorConfig
from pi0fast_ros.nodes.params import check_values, choice, Param, SHARED, StartupError, table
from pi0fast_ros.nodes.params import unique_names

COMMAND_TYPES = ('float64_multi_array', 'joint_state', 'joint_trajectory')
LIMITS = ('joint_limits.lower', 'joint_limits.upper', 'max_velocity')

TABLE = table(
    SHARED['action_joint_names'].describe('policy action names in order (the chunk '
                                          'joint_names)'),
    SHARED['action_rate_hz'],
    Param('control_rate_hz', 'float', 30.0, 'command rate (timer on the steady clock)',
          (1.0, 1000.0)),
    Param('interpolation', 'str', 'linear', 'sampling between chunk points: linear, or hold '
          '(zero-order)'),
    Param('blend_schedule', 'str', 'linear', 'old -> new chunk fade: linear, exponential or '
          'hard'),
    Param('blend_steps', 'int', 5, 'ticks of a blend (fastest fade)', (0, 1000)),
    Param('blend_step_budget', 'float', 1.0, 'slow a blend, each joint at its own pace, so no '
          "command step exceeds this x the chunks' own largest step (0: fixed schedule)",
          (0.0, 100.0)),
    Param('blend_max_steps', 'int', 100, 'the longest a budget-slowed blend may last (ticks); '
          'after the first quarter of it a joint that has fallen behind is forced forward, '
          'and those steps may exceed the budget', (1, 100000)),
    Param('hard_switch_joints', 'str_list', (), 'action joints that switch to a new chunk at '
          'once (e.g. grippers)'),
    Param('watchdog_timeout_s', 'float', 1.0, 'hold when no valid chunk arrived for this long '
          '(0: hold only when no chunk covers now)', (0.0, 3600.0)),
    Param('max_future_s', 'float', 0.5, 'refuse a chunk that starts more than this far ahead '
          'of the ROS time here (future_stamp); chunks stamped ahead by less run at their '
          'stamp, that much late (clock skew)', (0.0, 60.0)),
    Param('start_enabled', 'bool', True, 'send commands from the start (else wait for '
          'executor_node/enable)'),
    SHARED['envelope_margin'].describe('a chunk further than this x (upper - lower) outside '
                                       'joint_limits is refused whole (inside: clamped)'),
    Param('require_envelope', 'bool', True, 'refuse every chunk while a joint has neither '
          'joint_limits nor the action envelope of the policy node (topic action_envelope)'),
    Param('command_type', 'str', 'float64_multi_array', 'joint_commands message: '
          "'float64_multi_array' (ros2_control forward controller), 'joint_state' or "
          "'joint_trajectory' (one point)"),
    Param('command_joint_names', 'str_list', (), 'robot joint names of the command, in the '
          'robot order the adapters produce (empty: action_joint_names through the adapters)'),
    Param('use_joint_states', 'bool', True, 'read joint_states (by name) so the first chunk '
          'and a re-enable start from the measured pose'),
    Param('trajectory_time_from_start_s', 'float', 0.0, 'time_from_start of the single '
          'JointTrajectory point (0: one control period)', (0.0, 10.0)),
    SHARED['diagnostics_period_s'],
    Param('publish_status', 'bool', True, 'publish executor_node/status every tick '
          '(provenance)'),
    SHARED['realtime_priority'].describe(
        'SCHED_FIFO priority (1-99) of the control tick thread (the executor thread runs 10 '
        'below it); 0: normal scheduling. Needs CAP_SYS_NICE or an rtprio limit (warns and '
        'runs without).'),
    # Dynamic typing: YAML writes [1, 2] as integers and [1.0] as doubles; both are fine.
    Param('joint_limits.lower', 'number_list', (), 'robot-space lower position limits, command '
          'joint order (one value for all, or one per joint; empty: none)'),
    Param('joint_limits.upper', 'number_list', (), 'robot-space upper position limits (as '
          'lower)'),
    Param('max_velocity', 'number_list', (), 'robot units/s per joint; the per-tick step limit '
          'is max_velocity / control_rate_hz (empty: none)'),
)


@dataclasses.dataclass(frozen=True)
class NodeOptions:
    """Node-level settings that are not part of the ROS-free core."""

    command_type: str
    command_joint_names: tuple
    use_joint_states: bool
    trajectory_time_from_start_s: float
    diagnostics_period_s: float
    publish_status: bool
    realtime_priority: int


def _per_joint(values, name, dim):
    if any(math.isnan(v) for v in values):
        raise StartupError(f'parameter {name}: NaN is not a limit')
    if len(values) not in (0, 1, dim):
        raise StartupError(f'parameter {name}: needs 1 or {dim} values (one per command '
                           f'joint), got {len(values)}')
    return values


def _adapters(spec, names):
    try:
        return build_adapter_chain(spec, names)
    except AdapterSpecError as exc:
        raise StartupError(f'invalid adapter parameters: {exc}') from exc


def validate(values):
    """
    Check the executor's parameter values; return (ExecutorConfig, AdapterChain, NodeOptions).

    values: {name: value} for TABLE's names (missing ones take the table's default), and
    optionally 'adapters', the adapter spec (build_adapter_chain's format; none: identity).
    """
    values = dict(values)
    spec = values.pop('adapters', {'chain': []})
    v = check_values(TABLE, values)
    names = unique_names(v['action_joint_names'], 'action_joint_names')
    choice(v['interpolation'], 'interpolation', INTERPOLATIONS)
    choice(v['blend_schedule'], 'blend_schedule', SCHEDULES)
    hard = unique_names(v['hard_switch_joints'], 'hard_switch_joints', allow_empty=True)
    unknown = sorted(set(hard) - set(names))
    if unknown:
        raise StartupError(f'parameter hard_switch_joints: {unknown} are not in '
                           f'action_joint_names')
    adapters = _adapters(spec, names)
    options = _node_options(v, tuple(adapters.robot_names(names)))
    limits = {key: _per_joint(v[key], key, len(names)) for key in LIMITS}
    config = ExecutorConfig(
        joint_names=names, action_rate_hz=v['action_rate_hz'],
        control_rate_hz=v['control_rate_hz'], blend_steps=v['blend_steps'],
        blend_schedule=v['blend_schedule'], blend_step_budget=v['blend_step_budget'],
        blend_max_steps=v['blend_max_steps'], hard_switch_joints=hard,
        interpolation=v['interpolation'], watchdog_timeout_s=v['watchdog_timeout_s'],
        lower_limits=limits['joint_limits.lower'], upper_limits=limits['joint_limits.upper'],
        max_velocity=limits['max_velocity'], start_enabled=v['start_enabled'],
        envelope_margin=v['envelope_margin'], require_envelope=v['require_envelope'],
        max_future_s=v['max_future_s'])
    return config, adapters, options


def _node_options(v, default_command_names):
    command_type = choice(v['command_type'], 'command_type', COMMAND_TYPES)
    command_names = unique_names(v['command_joint_names'] or default_command_names,
                                 'command_joint_names')
    if len(command_names) != len(default_command_names):
        raise StartupError(f'parameter command_joint_names: {len(command_names)} names for '
                           f'{len(default_command_names)} action joints')
    return NodeOptions(
        command_type=command_type, command_joint_names=command_names,
        use_joint_states=v['use_joint_states'],
        trajectory_time_from_start_s=v['trajectory_time_from_start_s'],
        diagnostics_period_s=v['diagnostics_period_s'], publish_status=v['publish_status'],
        realtime_priority=v['realtime_priority'])
