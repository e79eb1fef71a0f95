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
policy_node: cameras + joint states + instruction -> PI0-FAST -> stamped action chunks.

Topics (relative names, DESIGN §2-§4, docs/architecture.md):
  in   camera topics (parameters; sensor_msgs/Image or CompressedImage, sensor-data QoS),
       joint_states (sensor_msgs/JointState, by name), ~/instruction (std_msgs/String,
       reliable + volatile: matches every reliable publisher; the last message to arrive runs)
  out  action_chunk (trajectory_msgs/JointTrajectory), ~/chunk_info (DiagnosticArray, one per
       inference, header.stamp = chunk stamp), ~/active_instruction (std_msgs/String, reliable
       + transient-local: the instruction inferences run under, '' for none), /diagnostics,
       action_envelope (std_msgs/String JSON, transient-local; see envelope.py)
  srv  ~/pause (std_srvs/SetBool: true pauses, false resumes)
The model is loaded and warmed up in the constructor (progress in the log); one worker thread
(InferenceWorker) owns it afterwards. Callbacks only store the latest message of each input.
"""

import dataclasses
import sys
import time

from diagnostic_msgs.msg import DiagnosticArray, DiagnosticStatus
from rcl_interfaces.msg import SetParametersResult
from rclpy.exceptions import InvalidTopicNameException
from rclpy.node import Node
from rclpy.parameter import Parameter
from rclpy.qos import DurabilityPolicy, HistoryPolicy, QoSProfile, ReliabilityPolicy
from sensor_msgs.msg import CompressedImage, Image, JointState
from std_msgs.msg import String
from std_srvs.srv import SetBool
from trajectory_msgs.msg import JointTrajectory

from .chunk_messages import chunk_info_message, chunk_info_values, chunk_message, overhead_ms
from .clock_skew import ClockOffset
from .config import TABLE, validate
from .envelope import setup_envelopes
from .inference_worker import InferenceWorker, PhasePriority
from .input_slots import (BAD_IMAGE, Entry, InputError, InputSlots, instruction_error,
                          JOINT_STATES, JointStateMapper, NO_MESSAGE, stamp_to_ns)
from .loading import check_policy_fits, hash_loaded_weights, load_policy, plan_inputs
from .observation import ObservationBuilder
from .stats import PolicyStats
from ..common import declare_table, make_status, run_node, StartupError
from ..image_conversion import check_image, ImageConversionError, ImageConverter
from ..realtime import set_fifo_priority
from ...core.policy.facade import InvalidObservationError
from ...core.policy.images import set_conversion_thread_setup

# Sensor-data QoS (best effort, volatile) with a queue of one: only the newest message of an
# input matters, so the executor never deserializes a frame that is already superseded.
LATEST_QOS = QoSProfile(depth=1, history=HistoryPolicy.KEEP_LAST,
                        reliability=ReliabilityPolicy.BEST_EFFORT,
                        durability=DurabilityPolicy.VOLATILE)
# Instructions in: reliable + volatile, which matches a volatile publisher (the ros2 CLI's
# default) and a transient-local one alike. Out: the active instruction (and the action
# envelope), latched for late joiners (the recorder, tools, the executor). Distinct topics:
# the node never reads its own output.
REQUEST_QOS = QoSProfile(depth=10, reliability=ReliabilityPolicy.RELIABLE,
                         durability=DurabilityPolicy.VOLATILE)
ACTIVE_QOS = QoSProfile(depth=1, reliability=ReliabilityPolicy.RELIABLE,
                        durability=DurabilityPolicy.TRANSIENT_LOCAL)
LOG_THROTTLE_S = 2.0
SKEW_WARN_S = 0.05   # joint states stamped further from this clock than this: clock skew
INVALID_OBSERVATION = 'invalid_observation'


GIL_SWITCH_INTERVAL_S = 0.0005


class PolicyNode(Node):
    """The policy node; see the module docstring. Raises StartupError on a bad setup."""

    def __init__(self, **kwargs):
        super().__init__('policy_node', **kwargs)
        self.config = validate(declare_table(self, TABLE))
        self.stats = PolicyStats()
        self._log_times = {}
        self._instruction_error = ''   # why the last instruction sent was refused
        plan = plan_inputs(self, self.config)
        self.camera_inputs, self.masked = plan.camera_inputs, plan.masked
        for slot in self.masked:
            self.get_logger().warn(f'checkpoint camera slot {slot!r} has no topic: it is '
                                   f'masked (an all -1 image with mask False, as LeRobot does)')
        converter = self._make_converter()
        self.policy = load_policy(self.config, self.get_logger())
        self.weights_sha256 = hash_loaded_weights(self.policy, self.get_logger())
        check_policy_fits(self.policy, plan)
        self._setup_inputs(plan, converter)
        self.envelopes, self._envelope_pub = setup_envelopes(
            self, self.policy, self.config.action_joint_names, ACTIVE_QOS,
            self.config.envelope_margin, self.config.envelope_stats)
        self.builder.state_check = self.envelopes.check_state
        self._setup_outputs()
        self.add_on_set_parameters_callback(self._on_set_parameters)
        if self.config.instruction:
            error = instruction_error(self.config.instruction,
                                      self.config.max_instruction_chars)
            if error:
                raise StartupError(f'parameter instruction: {error}')
            self._apply_instruction(self.config.instruction, 'parameter')
        else:
            self.active_pub.publish(String(data=''))
        self._warmup()
        self.priority = self._setup_priority(self.config.realtime_priority)
        self.worker = InferenceWorker(self.policy, self.slots, self.builder, self, self._now_ns,
                                      self._settings, self.get_logger(), self.priority)
        self.worker.start()
        self.create_timer(self.config.diagnostics_period_s, self._publish_diagnostics)
        self.get_logger().info(
            f'ready: {len(self.camera_inputs)} camera(s), masked slots {self.masked or "none"}, '
            f'chunks of {self.policy.horizon} x {self.policy.action_dim} at '
            f'{self.config.action_rate_hz:g} Hz on {self.config.device} (engine '
            f'{self.policy.engine.mode}); instruction '
            f'{self.slots.instruction or "(none yet: waiting for one)"!r}')

    # -- set-up ------------------------------------------------------------------------------
    def _warmup(self):
        # The engine self-check always runs (unverified code must not drive the arm); the
        # `warmup` parameter only controls the timed warm-up inferences after it.
        self.get_logger().info('checking the engine path against exact' +
                               (' and warming up ...' if self.config.warmup else ' ...'))
        start = time.perf_counter()
        try:
            result = self.policy.warmup(iterations=2 if self.config.warmup else 0)
        except Exception as exc:  # e.g. out of device memory: fatal, with its reason
            raise StartupError(f'warm-up failed: {type(exc).__name__}: {exc}') from exc
        log = self.get_logger()
        path = self.policy.engine_path
        (log.warn if 'fallback' in path else log.info)(f'engine_path {path}')
        if result is not None:
            log.info(f'warm-up done in {time.perf_counter() - start:.1f} s (last: '
                     f'{result.timings_ms.get("total", float("nan")):.1f} ms, '
                     f'{len(result.tokens)} tokens)')

    def _setup_priority(self, priority):
        phases = PhasePriority(priority)
        if priority and phases.error:
            self.get_logger().warn(f'realtime_priority {priority}: no SCHED_FIFO priority '
                                   f'({phases.error}); running at normal priority')
        elif phases.active:
            set_conversion_thread_setup(lambda: set_fifo_priority(priority))
            self.get_logger().info(f'SCHED_FIFO priority {priority} for the per-chunk work '
                                   f'around the model (the forward runs at normal priority)')
        return phases

    def _make_converter(self):
        backend = self.config.image_backend
        try:
            converter = ImageConverter(None if backend == 'auto' else backend)
        except ImportError as exc:
            raise StartupError(str(exc)) from None
        self.get_logger().info(f'image conversion through {converter.backend}')
        return converter

    def _setup_inputs(self, plan, converter):
        mapper = JointStateMapper(plan.state_names, self.config.ignore_extra_joints)
        self.slots = InputSlots([JOINT_STATES, *self.camera_inputs])
        self.clock_offset = ClockOffset()
        self.builder = ObservationBuilder({s: s for s in self.camera_inputs}, self.masked,
                                          mapper, plan.state_transform, converter)
        self.create_subscription(JointState, 'joint_states', self._on_joint_state,
                                 LATEST_QOS)
        for slot, cam in self.camera_inputs.items():
            try:
                self.create_subscription(CompressedImage if cam.compressed else Image,
                                         cam.topic, lambda msg, s=slot: self._on_image(s, msg),
                                         LATEST_QOS)
            except InvalidTopicNameException as exc:
                raise StartupError(f'camera topic {cam.topic!r} of slot {slot}: {exc}') from None
        self.create_subscription(String, '~/instruction', self._on_instruction, REQUEST_QOS)

    def _setup_outputs(self):
        self.chunk_pub = self.create_publisher(JointTrajectory, 'action_chunk', 10)
        self.info_pub = self.create_publisher(DiagnosticArray, '~/chunk_info', 10)
        self.diag_pub = self.create_publisher(DiagnosticArray, '/diagnostics', 10)
        self.active_pub = self.create_publisher(String, '~/active_instruction', ACTIVE_QOS)
        self.create_service(SetBool, '~/pause', self._on_pause)

    def _now_ns(self):
        return self.get_clock().now().nanoseconds

    def _settings(self):
        return (self.get_parameter('max_input_age_s').value,
                self.get_parameter('inference_period_s').value)

    # -- callbacks (short: store and return) ---------------------------------------------------
    def _on_joint_state(self, msg):
        stamp, received = stamp_to_ns(msg.header.stamp), self._now_ns()
        late = self.clock_offset.observe(stamp, received)
        try:
            entry = Entry(msg, stamp, value=self.builder.mapper.positions(msg),
                          received_ns=received, late_ns=late)
        except InputError as err:
            entry = Entry(msg, stamp, error=err, received_ns=received, late_ns=late)
        self.slots.put(JOINT_STATES, entry)

    def _on_image(self, slot, msg):
        error = None
        try:
            check_image(msg)
        except ImageConversionError as exc:
            error = InputError(BAD_IMAGE, slot, str(exc))
        self.slots.put(slot, Entry(msg, stamp_to_ns(msg.header.stamp), error=error,
                                   received_ns=self._now_ns()))

    def _on_instruction(self, msg):
        error = instruction_error(msg.data, self.config.max_instruction_chars)
        if error:
            # The operator asked for something else than what runs: stop running the old one.
            self._instruction_error = error
            self.get_logger().error(f'instruction on ~/instruction refused: {error}; no '
                                    f'inference until a valid one arrives')
            if self.slots.set_instruction(''):
                self.active_pub.publish(String(data=''))
            return
        self._apply_instruction(msg.data, 'topic')
        self.set_parameters([Parameter('instruction', value=msg.data)])

    def _on_set_parameters(self, params):
        for param in params:
            if param.name == 'instruction':
                error = instruction_error(param.value, self.config.max_instruction_chars)
                if error:
                    return SetParametersResult(successful=False, reason=error)
                self._apply_instruction(param.value, 'parameter')
        return SetParametersResult(successful=True)

    def _apply_instruction(self, text, source):
        self._instruction_error = ''
        if not self.slots.set_instruction(text):
            return
        self.get_logger().info(f'instruction ({source}): {text!r}')
        self.active_pub.publish(String(data=text))

    def _on_pause(self, request, response):
        self.worker.set_paused(request.data)
        response.success = True
        response.message = 'paused' if request.data else 'running'
        self.get_logger().info(f'policy {response.message} (~/pause)')
        return response

    # -- the worker's sink (called from the worker thread) ------------------------------------
    def publish(self, record):
        """Publish the chunk of a successful inference, then its chunk_info."""
        if not self.context.ok():
            return   # shutting down (Ctrl-C): the publishers are gone
        checked = self.envelopes.refuse_actions(record.result)
        if checked is not record.result:  # outside the action envelope: not published
            self.failed(dataclasses.replace(record, result=checked))
            return
        obs, result = record.observation, record.result
        start = time.perf_counter()
        self.chunk_pub.publish(chunk_message(obs.stamp_ns, self.config.action_joint_names,
                                             result.actions, self.config.action_rate_hz))
        publish_ms = (time.perf_counter() - start) * 1e3
        latency_ms = (self._now_ns() - obs.stamp_ns) / 1e6
        timings = dict(result.timings_ms or {})
        self.stats.record_chunk(latency_ms, timings.get('total', float('nan')),
                                overhead_ms(record, timings, publish_ms))
        self._publish_info(record, DiagnosticStatus.OK, timings, latency_ms, publish_ms)

    def failed(self, record):
        """Handle a decode failure: no chunk; count and log it, say why on chunk_info."""
        if not self.context.ok():
            return
        result = record.result
        timings = dict(result.timings_ms or {})
        self.stats.record_decode_failure(result.status, timings.get('total', float('nan')),
                                         result.error)
        self._throttled('decode', f'chunk rejected, decode failed ({result.status}): '
                        f'{result.error}')
        latency_ms = (self._now_ns() - record.observation.stamp_ns) / 1e6
        self._publish_info(record, DiagnosticStatus.ERROR, timings, latency_ms, 0.0)

    def rejected(self, error):
        self.stats.record_rejection(error.reason, self._describe(error))
        self._throttled(error.reason, f'no inference: {self._describe(error)}')

    def dropped(self, reason, observation):
        self.stats.record_drop(reason)
        self.get_logger().info(f'dropped the result for stamp {observation.stamp_ns} '
                               f'({reason})')

    def error(self, exc):
        if not self.context.ok():
            return
        if isinstance(exc, InvalidObservationError):
            # The facade refused the observation (a check the node does not duplicate).
            self.stats.record_rejection(INVALID_OBSERVATION, str(exc))
            self._throttled(INVALID_OBSERVATION, f'no inference: the policy refused the '
                            f'observation: {exc}')
            return
        self.stats.record_error(f'{type(exc).__name__}: {exc}')
        self.get_logger().error(f'inference failed: {type(exc).__name__}: {exc}',
                                throttle_duration_sec=LOG_THROTTLE_S)

    def _publish_info(self, record, level, timings, latency_ms, publish_ms):
        values = chunk_info_values(record, self.masked, timings, latency_ms, publish_ms,
                                   self.weights_sha256, self.policy.engine_path)
        self.info_pub.publish(chunk_info_message(
            record.observation.stamp_ns, level, self.get_fully_qualified_name().lstrip('/')
            + '/chunk', self.get_name(), values))

    # -- reporting ------------------------------------------------------------------------------
    def _describe(self, error):
        topic = ('joint_states' if error.input_name == JOINT_STATES
                 else getattr(self.camera_inputs.get(error.input_name), 'topic', '?'))
        return f'{error} [topic {topic}]'

    def _throttled(self, key, text):
        now = time.monotonic()
        if now - self._log_times.get(key, -1e9) >= LOG_THROTTLE_S:
            self._log_times[key] = now
            self.get_logger().warn(text)

    def _input_state(self, snapshot):
        # (level, message) for the inputs, independent of what the worker is doing.
        if self.worker.paused:
            return DiagnosticStatus.OK, 'paused'
        if not snapshot.instruction:
            if self._instruction_error:
                return DiagnosticStatus.ERROR, f'instruction refused: {self._instruction_error}'
            return DiagnosticStatus.WARN, 'waiting for an instruction'
        try:
            self.builder.check(snapshot, self._now_ns(),
                               int(self._settings()[0] * 1e9))
        except InputError as err:
            if err.reason == NO_MESSAGE:
                return DiagnosticStatus.WARN, f'waiting for input {self._describe(err)}'
            self._throttled(err.reason, f'no inference: {self._describe(err)}')
            return DiagnosticStatus.ERROR, f'input rejected: {self._describe(err)}'
        attempts, succeeded, why = self.stats.attempts()
        if attempts and not succeeded:
            return DiagnosticStatus.ERROR, f'no chunk from the last {attempts} inference ' \
                f'attempts; last: {why}'
        if why and attempts - succeeded:
            return DiagnosticStatus.WARN, f'{attempts - succeeded} of the last {attempts} ' \
                f'inference attempts failed; last: {why}'
        offset = self.clock_offset.offset_ns
        if offset is not None and abs(offset) / 1e9 > SKEW_WARN_S:
            side = 'behind' if offset > 0 else 'ahead of'
            return DiagnosticStatus.WARN, f'running; clock skew detected: joint_states ' \
                f'stamped {abs(offset) / 1e9:.3f} s {side} this clock; inputs are judged by ' \
                f'receive time and against the joint state stamp, chunks keep the robot clock'
        return DiagnosticStatus.OK, 'running'

    def _publish_diagnostics(self):
        if not self.context.ok():
            return
        snapshot = self.slots.snapshot()
        level, message = self._input_state(snapshot)
        now = self._now_ns()
        values = {'instruction': snapshot.instruction, 'paused': self.worker.paused,
                  'busy': self.worker.busy, 'checkpoint': self.config.checkpoint_path,
                  'device': str(self.policy.device), 'dtype': str(self.policy.dtype),
                  'engine_mode': self.policy.engine.mode,
                  'engine_path': self.policy.engine_path,
                  'realtime_priority': self.priority.priority if self.priority.active else 0,
                  'image_backend': self.builder.converter.backend,
                  'horizon': self.policy.horizon, 'action_dim': self.policy.action_dim,
                  'masked_slots': ','.join(self.masked)}
        values.update(self.stats.summary())
        offset = self.clock_offset.offset_ns
        values['clock_offset_s'] = 'none' if offset is None else f'{offset / 1e9:.3f}'
        for name, entry in snapshot.entries.items():
            age = f'{(now - entry.received_ns) / 1e9:.3f}' if entry else 'none'
            values[f'age_s.{name}'] = age
            values[f'received.{name}'] = snapshot.received[name]
        msg = DiagnosticArray()
        msg.header.stamp = self.get_clock().now().to_msg()
        msg.status = [make_status(self, level, message, values)]
        self.diag_pub.publish(msg)

    def destroy_node(self):
        if hasattr(self, 'worker'):
            self.worker.stop()
        if hasattr(self, 'builder'):
            self.builder.close()
        return super().destroy_node()


def main(args=None):
    # The worker thread runs hundreds of short torch ops per chunk and retakes the GIL after
    # each; a 0.5 ms switch interval (default 5 ms) shortens its waits behind the executor
    # thread that takes in camera frames (benchmarks/bench_policy_node.py).
    sys.setswitchinterval(GIL_SWITCH_INTERVAL_S)
    # run_node spins one executor thread: callbacks only store the latest message (see there
    # for the measured effect on this node's overhead).
    return run_node(PolicyNode, args=args)


if __name__ == '__main__':
    sys.exit(main())
