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
The executor node: action chunks in, one safe command per control tick out (DESIGN §5).

Topics (relative names): ``action_chunk`` (JointTrajectory), ``joint_states`` and
``action_envelope`` (std_msgs/String JSON, transient-local: the policy's action envelope,
see core/control/envelope_check.py) in;
``joint_commands`` (Float64MultiArray / JointState / JointTrajectory), ``~/status`` (one
DiagnosticArray per tick, see messages.py) and ``/diagnostics`` out. Services:
``~/enable`` and ``~/hold`` (std_srvs/SetBool). Stamps use ROS time, so use_sim_time and bag
replay work. The tick runs in its own thread on the monotonic clock (nodes/realtime.py),
optionally with SCHED_FIFO priority; all decisions are made by core/control/executor.py.
"""

import sys
import threading

from diagnostic_msgs.msg import DiagnosticArray
import numpy as np
from pi0fast_ros.core.control.envelope import Envelope, EnvelopeError
from pi0fast_ros.core.control.executor import ExecutorCore
from pi0fast_ros.nodes.adapter_params import declare_adapter_parameters
from pi0fast_ros.nodes.common import declare_table, run_node, StartupError
from pi0fast_ros.nodes.executor.messages import chunk_from_msg, COMMAND_MSG_TYPES
from pi0fast_ros.nodes.executor.messages import command_msg, diagnostics_msg, status_msg
from pi0fast_ros.nodes.executor.params import TABLE, validate
from pi0fast_ros.nodes.realtime import PeriodicThread, set_fifo_priority
from rclpy.callback_groups import MutuallyExclusiveCallbackGroup
from rclpy.clock import Clock, ClockType
from rclpy.node import Node
from rclpy.qos import DurabilityPolicy, QoSProfile, ReliabilityPolicy
from sensor_msgs.msg import JointState
from std_msgs.msg import String
from std_srvs.srv import SetBool
from trajectory_msgs.msg import JointTrajectory


# the policy node's action envelope: latched like robot_description
ENVELOPE_QOS = QoSProfile(depth=1, reliability=ReliabilityPolicy.RELIABLE,
                          durability=DurabilityPolicy.TRANSIENT_LOCAL)


def read_executor_parameters(node):
    """Declare the executor's parameters (TABLE and the adapter keys); return validate()'s."""
    values = declare_table(node, TABLE)
    values['adapters'] = declare_adapter_parameters(node)
    return validate(values)


class ExecutorNode(Node):
    """Thin ROS shell around ExecutorCore."""

    def __init__(self, **kwargs):
        super().__init__('executor_node', **kwargs)
        config, adapters, self.options = read_executor_parameters(self)
        try:
            self.core = ExecutorCore(config, adapters, self.options.command_joint_names)
        except ValueError as exc:
            raise StartupError(f'invalid executor parameters: {exc}') from exc
        self.period_s = 1.0 / config.control_rate_hz
        self._lock = threading.Lock()  # the core is shared by the tick and the callbacks
        io_group = MutuallyExclusiveCallbackGroup()
        self._command_pub = self.create_publisher(
            COMMAND_MSG_TYPES[self.options.command_type], 'joint_commands', 10)
        self._status_pub = self.create_publisher(DiagnosticArray, '~/status', 100)
        self._diag_pub = self.create_publisher(DiagnosticArray, '/diagnostics', 10)
        self.create_subscription(JointTrajectory, 'action_chunk', self._on_chunk, 10,
                                 callback_group=io_group)
        if self.options.use_joint_states:
            self._joint_index = {n: i for i, n in enumerate(self.options.command_joint_names)}
            self.create_subscription(JointState, 'joint_states', self._on_joint_state, 10,
                                     callback_group=io_group)
        self.create_subscription(String, 'action_envelope', self._on_envelope, ENVELOPE_QOS,
                                 callback_group=io_group)
        self.create_service(SetBool, '~/enable', self._on_enable, callback_group=io_group)
        self.create_service(SetBool, '~/hold', self._on_hold, callback_group=io_group)
        self._joint_states_used = 0
        self.create_timer(self.options.diagnostics_period_s, self._on_diagnostics,
                          callback_group=io_group, clock=Clock(clock_type=ClockType.STEADY_TIME))
        # The control tick: its own thread on the monotonic clock (see nodes/realtime.py).
        if self.options.realtime_priority > 0:
            # this (main) thread spins the SingleThreadedExecutor of main(): chunks, joint
            # states, services; 10 below the tick, so it never preempts it
            error = set_fifo_priority(max(1, self.options.realtime_priority - 10))
            if error:
                self.get_logger().warn(f'I/O thread: no SCHED_FIFO priority ({error})')
        self._ticker = PeriodicThread(self.period_s, self._on_tick,
                                      priority=self.options.realtime_priority,
                                      logger=self.get_logger(), alive=self.context.ok)
        self._ticker.start()
        self._warn_unbounded(config)
        self.get_logger().info(
            f'executor ready: {config.control_rate_hz:g} Hz, {len(config.joint_names)} '
            f'joints, {self.options.command_type} on joint_commands, blend '
            f'{config.blend_schedule}/{config.blend_steps} (budget '
            f'{config.blend_step_budget:g}), adapters {adapters}, '
            f'{"enabled" if config.start_enabled else "disabled"}')

    def _now_ns(self):
        return self.get_clock().now().nanoseconds

    def _warn_unbounded(self, config):
        unbounded = self.core.envelope.unbounded
        if unbounded and config.require_envelope:
            self.get_logger().warn(f'joints {unbounded} have no joint_limits: every chunk is '
                                   'refused (no_envelope) until the policy node publishes its '
                                   'action envelope on action_envelope')
        elif unbounded:
            self.get_logger().warn(f'joints {unbounded} have no joint_limits and '
                                   'require_envelope is false: until an action envelope '
                                   'arrives their chunks are only checked for NaN')
        if not config.max_velocity:
            self.get_logger().warn('no max_velocity configured: no step limit on the '
                                   'commands (only the blends bound the steps)')

    # ---- the control tick ----
    def destroy_node(self):
        if hasattr(self, '_ticker'):   # absent when the node failed to start
            self._ticker.stop()
        return super().destroy_node()

    def _on_tick(self):
        now = self._now_ns()
        if now == 0:  # use_sim_time before the first /clock message: no time, no command
            return
        with self._lock:
            tick = self.core.tick(now)
        if tick.command is not None:
            self._command_pub.publish(command_msg(
                self.options.command_type, self.options.command_joint_names, tick.stamp_ns,
                tick.command, self.options.trajectory_time_from_start_s or self.period_s))
        if self.options.publish_status:
            self._status_pub.publish(status_msg(self, tick, self.options.command_joint_names))

    # ---- inputs ----
    def _on_chunk(self, msg):
        stamp, names, times, positions = chunk_from_msg(msg)
        with self._lock:
            error = self.core.submit(stamp, names, times, positions, self._now_ns())
        if error is not None:
            self.get_logger().warn(f'chunk {stamp} rejected ({error.reason}): {error}',
                                   throttle_duration_sec=2.0)

    def _on_joint_state(self, msg):
        index = [self._joint_index.get(n) for n in msg.name]
        if len(msg.position) != len(msg.name):
            return
        position = np.full(len(self._joint_index), np.nan)
        for i, value in zip(index, msg.position):
            if i is not None:
                position[i] = value
        if not np.all(np.isfinite(position)):  # a joint missing or NaN: no seed from it
            self.get_logger().warn('joint_states lacks (finite) positions for some command '
                                   'joints; not used as the starting pose',
                                   throttle_duration_sec=10.0)
            return
        with self._lock:
            self.core.observe_robot(position)
            self._joint_states_used += 1

    def _on_envelope(self, msg):
        try:
            envelope = Envelope.from_json(msg.data, self.core.config.joint_names)
            with self._lock:
                self.core.set_envelope(envelope)
        except EnvelopeError as exc:
            self.get_logger().error(f'action envelope refused, keeping the previous one: {exc}')
            return
        self.get_logger().info(f'action envelope: {envelope.source}')

    def _on_enable(self, request, response):
        with self._lock:
            self.core.set_enabled(request.data)
        response.success = True
        response.message = 'enabled' if request.data else 'disabled: no commands are sent'
        self.get_logger().info(f'executor {response.message}')
        return response

    def _on_hold(self, request, response):
        with self._lock:
            self.core.set_hold(request.data)
        response.success = True
        response.message = 'holding the last command' if request.data else 'resumed'
        self.get_logger().info(f'executor {response.message}')
        return response

    # ---- health ----
    def _on_diagnostics(self):
        with self._lock:
            extra = {**self._ticker.stats(), 'joint_states_used': self._joint_states_used}
            msg = diagnostics_msg(self, self._now_ns(), self.core, extra)
        self._diag_pub.publish(msg)


def main(args=None):
    # The control tick has its own thread; chunks, joint states, services and diagnostics
    # share the one executor thread of run_node.
    return run_node(ExecutorNode, args=args)


if __name__ == '__main__':
    sys.exit(main())
