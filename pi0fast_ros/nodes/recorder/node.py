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
rollout_recorder: one rosbag2 (MCAP) per rollout, with the metadata that makes it replayable.

Records the configured topics (cameras, joint_states, action_chunk, joint_commands,
executor_node/status, policy_node/chunk_info, policy_node/active_instruction, ...) as raw CDR
bytes (`raw=True` subscriptions: rclpy's serialize_message can pad JointState/JointTrajectory
with garbage that rosbags rejects), stamped with the ROS time of reception as rosbag2 does. A
topic is subscribed once it appears on the graph, with its publisher's type and a compatible QoS
(nodes/recorder/topics.py).

A rollout starts with `~/start` (Trigger), at start-up (autostart) or when the instruction the
policy runs under (`instruction_topic`: `policy_node/active_instruction`, not the requests on
`policy_node/instruction`) changes (instruction_starts_rollout): the open bag is closed and a
new one opened, at most one per `min_rollout_s` (changes in between are coalesced: the rollover
happens when that time is up, under the instruction current then). Every bag begins with the
current instruction message and the last message of every latched topic it records, so a bag
alone says what it ran under. `~/stop` closes the bag. See recording/metadata.py for what is
stored with each bag.

Disk trouble (an output_dir that cannot be created, a read-only mount, a full disk) never ends
the node: the services answer with the reason, the failed bag keeps what reached the disk, and
the problem is logged and put on /diagnostics once each time it changes (recording/sink.py).

Crashes: the open bag is put on disk as complete MCAP chunks every `flush_period_s`, and at
start-up (`recover_unfinished`) the recorder rebuilds every bag in output_dir that an earlier
run left unfinished (recording/recover.py; also `pi0fast-recover-bag`).
"""

import os
import signal
import sys
import threading
import time

from diagnostic_msgs.msg import DiagnosticArray
import rclpy
from rclpy.node import Node
from rclpy.qos import DurabilityPolicy, QoSProfile, ReliabilityPolicy
from std_msgs.msg import String
from std_srvs.srv import Trigger

from .params import TABLE, validate
from .topics import RecordedTopics
from ..common import declare_table, make_status, run_node
from ...core.policy.checkpoint_hash import hash_weights
from ...recording.bag_writer import make_qos, TYPESTORE
from ...recording.metadata import new_rollout_dir, rollout_metadata
from ...recording.recover import BagRecoveryError, find_unfinished, recover_bag
from ...recording.sink import BagError, Closed, DROP_QUEUE_FULL, RolloutSink

STRING = 'std_msgs/msg/String'
DROPS_QUIET_S = 5.0     # no drop for this long: the queue keeps up again (said once)
INSTRUCTION_QOS = QoSProfile(depth=1, reliability=ReliabilityPolicy.RELIABLE,
                             durability=DurabilityPolicy.TRANSIENT_LOCAL)


class RolloutRecorderNode(Node):
    """See the module docstring."""

    def __init__(self, **kwargs):
        super().__init__('rollout_recorder', **kwargs)
        self._read_params()
        self.sink = RolloutSink(compress=self.config.compress,
                                metadata_topic=self.resolve_topic_name('~/metadata'),
                                flush_period=self.config.flush_period_s,
                                max_queue_bytes=int(self.config.max_queue_mb * (1 << 20)))
        self._recovery = {'recovered': [], 'failed': []}
        if self.config.recover_unfinished:
            # Listed before this run opens a bag of its own, recovered off the executor thread.
            unfinished = find_unfinished(os.path.expanduser(self.config.output_dir))
            if unfinished:
                threading.Thread(target=self._recover, args=(unfinished,), daemon=True,
                                 name='bag_recovery').start()
        self.recorded = RecordedTopics(self, self.topics, self._on_message,
                                       self._on_replaced)
        self._carried = {}           # latched topic -> its last raw message, for each new bag
        self._skip_once = {}         # topic -> text/bytes already copied into the new bag
        self._instruction = ''
        self._instruction_topic = self.resolve_topic_name(self.config.instruction_topic)
        self._instruction_raw = None  # the last instruction message, copied into each new bag
        self._bag_instruction = None  # the instruction the open bag began under
        self._recorded_instruction = None   # instruction text already in the open bag
        self._rollouts, self._started_at, self._coalesced = 0, None, 0
        self._rollover_at = None     # monotonic time of a coalesced rollover
        self._record_from_ns = 0     # system time: messages received earlier are not recorded
        self._problem, self._problem_key = '', ''
        self._start_error, self._start_reason = '', ''
        self._drops_seen, self._dropping = 0, None   # monotonic time of the last new drop
        self._weights_sha256 = self._hash_weights()
        self.create_service(Trigger, '~/start', self._on_start)
        self.create_service(Trigger, '~/stop', self._on_stop)
        self.create_subscription(String, self.config.instruction_topic, self._on_instruction,
                                 INSTRUCTION_QOS)
        self._diag_pub = self.create_publisher(DiagnosticArray, '/diagnostics', 10)
        self.create_timer(self.config.discovery_period_s, self.recorded.discover)
        self.create_timer(1.0, self._publish_diagnostics)
        self.create_timer(0.1, self._check_rollover)
        self.recorded.discover()
        if self.config.autostart:
            self._start_rollout()

    def _hash_weights(self):
        """Hash the checkpoint's weights once, for every rollout's metadata; log the time."""
        if not self.config.checkpoint:
            return ''
        try:
            weights = hash_weights(os.path.expanduser(self.config.checkpoint))
        except OSError as exc:
            self.get_logger().warn(f'checkpoint {self.config.checkpoint}: cannot hash the '
                                   f'weights ({exc}); rollouts record no weights hash')
            return f'<not hashed: {exc}>'
        self.get_logger().info(f'checkpoint {weights.describe()}')
        return weights.sha256

    def _read_params(self):
        self.config = validate(declare_table(self, TABLE))
        # resolved in the node namespace; a topic given twice is recorded once
        self.topics = list(dict.fromkeys(self.resolve_topic_name(t) for t in self.config.topics))

    # -- topics --------------------------------------------------------------------------
    def _on_replaced(self, topic, type_name, last):
        """Skip the last message once more: a replaced latched subscription repeats it."""
        self._skip_once.setdefault(topic, _content(type_name, last))

    def _recover(self, bags):
        log = rclpy.logging.get_logger('pi0fast_ros.recorder')
        for bag in bags:
            try:
                report = recover_bag(bag)
            except (BagRecoveryError, OSError) as exc:
                self._recovery['failed'].append(str(bag))
                log.warning(f'unfinished bag {bag} not recovered: {exc}')
                continue
            except Exception as exc:    # noqa: B902 - a bad old bag must not go unreported
                self._recovery['failed'].append(str(bag))
                log.error(f'unfinished bag {bag} not recovered: {type(exc).__name__}: {exc}')
                continue
            self._recovery['recovered'].append(str(bag))
            log.warning(f'recovered unfinished bag {bag} (left by a recorder that did not '
                        f'close it): {report.summary()}')

    def _on_message(self, topic, data, info=None):
        entry = self.recorded.received(topic, data)
        type_name, offered, latched = entry.type_name, entry.offered, entry.latched
        if latched and topic != self._instruction_topic:
            self._carried[topic] = (topic, type_name, offered, data)
        if info and info.get('received_timestamp', 0) < self._record_from_ns:
            return          # arrived before a start from idle (taken while the bag opened)
        if topic in self._skip_once and self._skip_once.pop(topic) == _content(type_name, data):
            return          # already in this bag: copied in when it opened
        if self.sink.put(topic, type_name, offered, self._now_ns(), data) and \
                topic == self._instruction_topic:
            self._recorded_instruction = _content(type_name, data)

    def _now_ns(self):
        return self.get_clock().now().nanoseconds

    # -- rollouts ------------------------------------------------------------------------
    def _on_instruction(self, msg):
        text = msg.data
        if text == self._instruction:
            return
        self._instruction = text
        self._instruction_raw = (self._instruction_topic, STRING, [make_qos(
            'reliable', 'transient_local', 1)], TYPESTORE.serialize_cdr(
                TYPESTORE.types[STRING](data=text), STRING))
        if self.sink.recording and not self._bag_instruction:
            # The first instruction of a rollout started without one: it belongs to this bag.
            self._bag_instruction = text
            self.sink.update_metadata({'pi0fast.instruction': text}, self._now_ns())
            if self._recorded_instruction != text:
                topic, type_name, qos, data = self._instruction_raw
                self.sink.put(topic, type_name, qos, self._now_ns(), data)
                self._skip_once[topic] = text
            self.get_logger().info(f'rollout {self.sink.path}: instruction {text!r}')
        elif self.config.instruction_starts_rollout:
            due = (self._started_at or 0.0) + self.config.min_rollout_s
            if time.monotonic() < due:
                self._coalesced += 1
                self._rollover_at = due     # _check_rollover starts the next rollout then
                return
            self._start_rollout(rollover=self._stop_rollout() is not None)

    def _check_rollover(self):
        if self._rollover_at is None or time.monotonic() < self._rollover_at:
            return
        self._rollover_at = None
        coalesced, self._coalesced = self._coalesced, 0
        if self.sink.recording and self._instruction == self._bag_instruction:
            return          # changed and changed back: the open bag is still the right one
        self.get_logger().info(f'{coalesced} instruction change(s) within min_rollout_s '
                               f'({self.config.min_rollout_s} s) coalesced into one rollover')
        self._start_rollout(rollover=self._stop_rollout() is not None)

    def _start_rollout(self, rollover=False):
        """Open the next bag; return (path, '') or (None, the reason it could not be)."""
        # From idle, the bag holds what arrives from now on; a rollover keeps the stream whole.
        self._record_from_ns = 0 if rollover else time.time_ns()
        path = new_rollout_dir(self.config.output_dir)
        meta = rollout_metadata(
            instruction=self._instruction, checkpoint=self.config.checkpoint,
            config_file=self.config.config_file, namespace=self.get_namespace(),
            rollout_index=self._rollouts + 1, weights_sha256=self._weights_sha256)
        now = self._now_ns()
        first = [(topic, type_name, qos, now, data)
                 for topic, type_name, qos, data in self._carried.values()]
        if self._instruction_raw:
            topic, type_name, qos, data = self._instruction_raw
            first.insert(0, (topic, type_name, qos, now, data))
        self._started_at = time.monotonic()     # a failing disk is not retried faster either
        try:
            self.sink.start(path, meta, now, first)
        except BagError as exc:
            self._start_error, self._start_reason = str(exc), exc.reason
            self._check_health()
            return None, str(exc)
        self._start_error, self._start_reason = '', ''
        self._rollouts += 1
        self._bag_instruction = self._instruction
        self._recorded_instruction = self._instruction if self._instruction_raw else None
        self._skip_once = {item[0]: _content(item[1], item[4]) for item in first}
        self.get_logger().info(f'rollout {self._rollouts} recording to {path} '
                               f'(instruction {self._instruction!r})')
        self._check_health()
        return path, ''

    def _stop_rollout(self):
        try:
            closed = self.sink.stop()
        except TimeoutError as exc:     # the writer thread is stuck in the disk
            closed = Closed(self.sink.path, {}, str(exc))
        self._bag_instruction = None
        if closed is None:
            return None
        if closed.error:
            self.get_logger().error(f'rollout ended badly: {closed.path} ({closed.messages} '
                                    f'messages written before {closed.error})')
        else:
            self.get_logger().info(f'rollout closed: {closed.path} ({closed.messages} messages)')
        return closed

    def _on_start(self, request, response):
        if self.sink.recording and not self.sink.failed:
            response.success, response.message = False, f'already recording to {self.sink.path}'
            return response
        self._stop_rollout()        # a bag that failed is ended before the next one
        path, error = self._start_rollout()
        response.success, response.message = path is not None, str(path or error)
        return response

    def _on_stop(self, request, response):
        self._rollover_at = None
        closed = self._stop_rollout()
        if closed is None:
            response.success, response.message = False, 'not recording' + (
                f' (the last start failed: {self._start_error})' if self._start_error else '')
        elif closed.error:
            response.success = False
            response.message = f'{closed.path}: {closed.messages} messages, then {closed.error}'
        else:
            response.success = True
            response.message = f'{closed.path}: {closed.messages} messages'
        self._check_health()
        return response

    # -- health --------------------------------------------------------------------------
    def _check_health(self):
        """Log what is wrong once each time it changes (the services answer it every time)."""
        failed = self.sink.failed if self.sink.recording else ''
        problem = failed or self._start_error
        # A start that fails again for the same reason (under a new bag name) is no news.
        key = failed or self._start_reason
        if problem and key != self._problem_key:
            self.get_logger().error(problem)
        self._problem, self._problem_key = problem, key
        drops, now = self.sink.drops[DROP_QUEUE_FULL], time.monotonic()
        if drops > self._drops_seen:
            if not self._dropping:
                self.get_logger().warning(
                    f'dropping messages: the queue to the disk is full (max_queue_mb '
                    f'{self.config.max_queue_mb}); {drops} dropped so far (see /diagnostics)')
            self._dropping, self._drops_seen = now, drops
        elif self._dropping and now - self._dropping > DROPS_QUIET_S:
            self._dropping = None
            self.get_logger().info(f'the queue to the disk keeps up again ({drops} messages '
                                   f'dropped in all)')

    def _publish_diagnostics(self):
        self._check_health()
        values = {'recording': self.sink.recording and not self.sink.failed,
                  'bag': self.sink.path or '', 'rollouts': self._rollouts,
                  'dropped': self.sink.dropped,
                  **{f'dropped.{k}': v for k, v in self.sink.drops.items()},
                  'queued': self.sink.queued(), 'queued_bytes': self.sink.queued_bytes(),
                  'instruction_changes_coalesced': self._coalesced,
                  'topics_subscribed': len(self.recorded.entries),
                  'topics_missing': self.recorded.missing(),
                  'last_error': self.sink.last_error or self._start_error,
                  'bags_recovered': len(self._recovery['recovered']),
                  'bags_unrecoverable': self._recovery['failed']}
        level = 'error' if self._problem else \
            'warn' if self.sink.dropped or self._recovery['failed'] or self.sink.last_error \
            else 'ok'
        message = self._problem or ('recording' if self.sink.recording else 'idle')
        msg = DiagnosticArray()
        msg.header.stamp = self.get_clock().now().to_msg()
        msg.status = [make_status(self, level, message, values)]
        self._diag_pub.publish(msg)

    def destroy_node(self):
        if threading.current_thread() is threading.main_thread():
            # Shutting down already: a second Ctrl-C must not cut the bag off half written.
            signal.signal(signal.SIGINT, signal.SIG_IGN)
        closed = self.sink.shutdown()
        if closed is not None:
            # Not the node's logger: its rosout publisher may be gone with the context.
            rclpy.logging.get_logger('pi0fast_ros.recorder').info(
                f'rollout closed at shutdown: {closed.path} ({closed.messages} messages)'
                + (f'; {closed.error}' if closed.error else ''))
        return super().destroy_node()


def _content(type_name, data):
    """Return what identifies a message for de-duplication: a String's text, else bytes."""
    if type_name == STRING:
        try:
            return TYPESTORE.deserialize_cdr(bytes(data), STRING).data
        except Exception:    # noqa: B902 - undecodable: compare bytes
            return bytes(data)
    return bytes(data)


def main(args=None):
    return run_node(RolloutRecorderNode, args=args)


if __name__ == '__main__':
    sys.exit(main())
