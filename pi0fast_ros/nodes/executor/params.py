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
The executor node's parameters: declared with descriptions and ranges, validated once.

``read_executor_parameters(node)`` returns ``(ExecutorConfig, AdapterChain, NodeOptions)`` or
raises StartupError naming the offending parameter.
"""

import dataclasses
import math

from pi0fast_ros.core.control.blend_rule import SCHEDULES
from pi0fast_ros.core.control.chunks import INTERPOLATIONS
from pi0fast_ros.core.control.envelope import DEFAULT_MARGIN
from pi0fast_ros.core.control.executor import ExecutorConfig
from pi0fast_ros.nodes.adapter_params import adapter_chain_from_parameters
from pi0fast_ros.nodes.common import declare, StartupError
from rclpy.parameter import Parameter

COMMAND_TYPES = ('float64_multi_array', 'joint_state', 'joint_trajectory')


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


def _numbers(node, name, description):
    # Dynamic typing: YAML writes [1, 2] as integers and [1.0] as doubles; both are fine.
    value = declare(node, name, Parameter.Type.DOUBLE_ARRAY, description, read_only=True,
                    dynamic_typing=True)
    if isinstance(value, (int, float)) and not isinstance(value, bool):
        value = [value]
    if isinstance(value, str) or not all(
            isinstance(v, (int, float)) and not isinstance(v, bool) for v in value):
        raise StartupError(f'parameter {name}: expected a list of numbers, got {value!r}')
    values = tuple(float(v) for v in value)
    if any(math.isnan(v) for v in values):
        raise StartupError(f'parameter {name}: NaN is not a limit')
    return values


def _choice(value, name, choices):
    if value not in choices:
        raise StartupError(f'parameter {name}: {value!r} is not one of {list(choices)}')
    return value


def _names(value, name, allow_empty=False):
    names = list(value or [])
    if (not names and not allow_empty) or len(set(names)) != len(names) or not all(names):
        raise StartupError(f'parameter {name}: expected unique non-empty names, got {names}')
    return tuple(names)


def _per_joint(values, name, dim):
    if len(values) not in (0, 1, dim):
        raise StartupError(f'parameter {name}: needs 1 or {dim} values (one per command '
                           f'joint), got {len(values)}')
    return values


def _declare_core(node):
    d = {}
    d['joint_names'] = declare(node, 'action_joint_names', Parameter.Type.STRING_ARRAY,
                               'policy action names in order (the chunk joint_names)',
                               read_only=True)
    d['action_rate_hz'] = declare(node, 'action_rate_hz', 30.0, 'rate of the training data: '
                                  'chunk point i is at i / action_rate_hz', read_only=True,
                                  min_value=0.1, max_value=1000.0)
    d['control_rate_hz'] = declare(node, 'control_rate_hz', 30.0, 'command rate (timer on '
                                   'the steady clock)', read_only=True, min_value=1.0,
                                   max_value=1000.0)
    d['interpolation'] = declare(node, 'interpolation', 'linear', 'sampling between chunk '
                                 'points: linear, or hold (zero-order)', read_only=True)
    d['blend_schedule'] = declare(node, 'blend_schedule', 'linear', 'old -> new chunk fade: '
                                  'linear, exponential or hard', read_only=True)
    d['blend_steps'] = declare(node, 'blend_steps', 5, 'ticks of a blend (fastest fade)',
                               read_only=True, min_value=0, max_value=1000)
    d['blend_step_budget'] = declare(
        node, 'blend_step_budget', 1.0, 'slow a blend so no command step exceeds this x the '
        "chunks' own largest step (0: fixed schedule)", read_only=True, min_value=0.0,
        max_value=100.0)
    d['blend_max_steps'] = declare(
        node, 'blend_max_steps', 100, 'the longest a budget-slowed blend may last (ticks); '
        'its last ticks may exceed the budget', read_only=True, min_value=1,
        max_value=100000)
    d['hard_switch_joints'] = declare(
        node, 'hard_switch_joints', Parameter.Type.STRING_ARRAY, 'action joints that switch '
        'to a new chunk at once (e.g. grippers)', read_only=True)
    d['watchdog_timeout_s'] = declare(
        node, 'watchdog_timeout_s', 1.0, 'hold when no valid chunk arrived for this long '
        '(0: hold only when no chunk covers now)', read_only=True, min_value=0.0,
        max_value=3600.0)
    d['max_future_s'] = declare(
        node, 'max_future_s', 0.5, 'refuse a chunk that starts more than this far ahead of '
        'the ROS time here (future_stamp); chunks stamped ahead by less run at their stamp, '
        'that much late (clock skew)', read_only=True, min_value=0.0, max_value=60.0)
    d['start_enabled'] = declare(node, 'start_enabled', True, 'send commands from the start '
                                 '(else wait for executor_node/enable)', read_only=True)
    d['envelope_margin'] = declare(
        node, 'envelope_margin', DEFAULT_MARGIN, 'a chunk further than this x (upper - lower) '
        'outside joint_limits is refused whole (inside: clamped)', read_only=True,
        min_value=0.0, max_value=10.0)
    d['require_envelope'] = declare(
        node, 'require_envelope', True, 'refuse every chunk while a joint has neither '
        'joint_limits nor the action envelope of the policy node (topic action_envelope)',
        read_only=True)
    return d


def read_executor_parameters(node):
    """Declare every executor parameter, validate them, and build the executor's config."""
    d = _declare_core(node)
    names = _names(d['joint_names'], 'action_joint_names')
    _choice(d['interpolation'], 'interpolation', INTERPOLATIONS)
    _choice(d['blend_schedule'], 'blend_schedule', SCHEDULES)
    hard = _names(d['hard_switch_joints'], 'hard_switch_joints', allow_empty=True)
    unknown = sorted(set(hard) - set(names))
    if unknown:
        raise StartupError(f'parameter hard_switch_joints: {unknown} are not in '
                           f'action_joint_names')
    adapters = adapter_chain_from_parameters(node, names)
    options = _declare_node_options(node, adapters.robot_names(names))
    dim = len(names)
    limits = {key: _per_joint(_numbers(node, key, text), key, dim) for key, text in (
        ('joint_limits.lower', 'robot-space lower position limits, command joint order '
         '(one value for all, or one per joint; empty: none)'),
        ('joint_limits.upper', 'robot-space upper position limits (as lower)'),
        ('max_velocity', 'robot units/s per joint; the per-tick step limit is '
         'max_velocity / control_rate_hz (empty: none)'))}
    config = ExecutorConfig(
        joint_names=names, action_rate_hz=d['action_rate_hz'],
        control_rate_hz=d['control_rate_hz'], blend_steps=d['blend_steps'],
        blend_schedule=d['blend_schedule'], blend_step_budget=d['blend_step_budget'],
        blend_max_steps=d['blend_max_steps'], hard_switch_joints=hard,
        interpolation=d['interpolation'], watchdog_timeout_s=d['watchdog_timeout_s'],
        lower_limits=limits['joint_limits.lower'], upper_limits=limits['joint_limits.upper'],
        max_velocity=limits['max_velocity'], start_enabled=d['start_enabled'],
        envelope_margin=d['envelope_margin'], require_envelope=d['require_envelope'],
        max_future_s=d['max_future_s'])
    return config, adapters, options


def _declare_node_options(node, default_command_names):
    command_type = _choice(declare(
        node, 'command_type', 'float64_multi_array', 'joint_commands message: '
        "'float64_multi_array' (ros2_control forward controller), 'joint_state' or "
        "'joint_trajectory' (one point)", read_only=True), 'command_type', COMMAND_TYPES)
    command_names = declare(node, 'command_joint_names', Parameter.Type.STRING_ARRAY,
                            'robot joint names of the command, in the robot order the '
                            'adapters produce (empty: action_joint_names through the '
                            'adapters)', read_only=True)
    command_names = _names(command_names or default_command_names, 'command_joint_names')
    if len(command_names) != len(default_command_names):
        raise StartupError(f'parameter command_joint_names: {len(command_names)} names for '
                           f'{len(default_command_names)} action joints')
    return NodeOptions(
        command_type=command_type, command_joint_names=command_names,
        use_joint_states=declare(node, 'use_joint_states', True, 'read joint_states (by '
                                 'name) so the first chunk and a re-enable start from the '
                                 'measured pose', read_only=True),
        trajectory_time_from_start_s=declare(
            node, 'trajectory_time_from_start_s', 0.0, 'time_from_start of the single '
            'JointTrajectory point (0: one control period)', read_only=True, min_value=0.0,
            max_value=10.0),
        diagnostics_period_s=declare(node, 'diagnostics_period_s', 1.0, 'period of '
                                     '/diagnostics', read_only=True, min_value=0.05,
                                     max_value=60.0),
        publish_status=declare(node, 'publish_status', True, 'publish executor_node/status '
                               'every tick (provenance)', read_only=True),
        realtime_priority=declare(
            node, 'realtime_priority', 0, 'SCHED_FIFO priority of the node (1-99; 0: normal '
            'scheduling); needs CAP_SYS_NICE or an rtprio limit', read_only=True,
            min_value=0, max_value=99))
