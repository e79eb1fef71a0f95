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
topic is subscribed once it appears on the graph, with its publisher's type and a compatible QoS.

A rollout starts with `~/start` (Trigger), at start-up (autostart) or when the instruction the
policy runs under (`policy_node/active_instruction`, not the requests on
`policy_node/instruction`) changes (instruction_starts_rollout): the open bag is closed and a
new one opened, which begins with the instruction message. `~/stop` closes the bag. See
recording/metadata.py for what is stored with each bag.

Crashes: the open bag is put on disk as complete MCAP chunks every `flush_period_s`, and at
start-up (`recover_unfinished`) the recorder rebuilds every bag in output_dir that an earlier
run left unfinished (recording/recover.py; also `pi0fast-recover-bag`).
"""

import os
import signal
import sys
import threading

from diagnostic_msgs.msg import DiagnosticArray
import rclpy
from rclpy.node import Node
from rclpy.parameter import Parameter
from rclpy.qos import DurabilityPolicy, QoSProfile, ReliabilityPolicy
from std_msgs.msg import String
from std_srvs.srv import Trigger

from .common import declare, make_status, run_node, StartupError
from .topic_types import discovered_types, message_class
from ..recording.bag_writer import make_qos, TYPESTORE
from ..recording.metadata import new_rollout_dir, rollout_metadata
from ..recording.recover import BagRecoveryError, find_unfinished, recover_bag
from ..recording.sink import RolloutSink

# (name, default, description[, (min, max)]); every one is read-only (a restart applies it).
PARAMETERS = (
    ('output_dir', 'rollouts', 'Directory that receives one bag directory per rollout '
     '(created if missing; ~ expands).'),
    ('topics', Parameter.Type.STRING_ARRAY, 'Topics to record (relative names resolve in the '
     'node namespace).'),
    ('autostart', False, 'Start a rollout at start-up.'),
    ('instruction_starts_rollout', True, 'A new instruction closes the open rollout and starts '
     'the next one (also when stopped).'),
    ('instruction_topic', 'policy_node/active_instruction', 'Topic of the active instruction '
     '(policy node).'),
    ('checkpoint', '', 'Checkpoint path, stored as metadata.'),
    ('config_file', '', 'The config file the graph was started with; its text is stored as '
     'metadata.'),
    ('compress', True, 'zstd-compress MCAP chunks.'),
    ('flush_period_s', 1.0, 'Put the open bag on disk as complete chunks this often, so a crash '
     'loses at most this much (0: only when the bag closes).', (0.0, 60.0)),
    ('recover_unfinished', True, 'At start-up, rebuild the bags in output_dir that a crashed '
     'recorder left unfinished (in the background; bags open in a live recorder are left '
     'alone).'),
    ('discovery_period_s', 0.5, 'How often to look for configured topics not yet subscribed.',
     (0.05, 10.0)),
)
INSTRUCTION_QOS = QoSProfile(depth=1, reliability=ReliabilityPolicy.RELIABLE,
                             durability=DurabilityPolicy.TRANSIENT_LOCAL)


class RolloutRecorderNode(Node):
    """See the module docstring."""

    def __init__(self, **kwargs):
        super().__init__('rollout_recorder', **kwargs)
        self._read_params()
        self.sink = RolloutSink(compress=self.p['compress'],
                                metadata_topic=self.resolve_topic_name('~/metadata'),
                                flush_period=self.p['flush_period_s'])
        self._recovery = {'recovered': [], 'failed': []}
        if self.p['recover_unfinished']:
            # Listed before this run opens a bag of its own, recovered off the executor thread.
            unfinished = find_unfinished(os.path.expanduser(self.p['output_dir']))
            if unfinished:
                threading.Thread(target=self._recover, args=(unfinished,), daemon=True,
                                 name='bag_recovery').start()
        self._subscribed = {}        # resolved topic -> (type name, rosbags qos list)
        self._instruction = ''
        self._instruction_raw = None  # the last instruction message, copied into each new bag
        self._rollouts = 0
        self.create_service(Trigger, '~/start', self._on_start)
        self.create_service(Trigger, '~/stop', self._on_stop)
        self.create_subscription(String, self.p['instruction_topic'], self._on_instruction,
                                 INSTRUCTION_QOS)
        self._diag_pub = self.create_publisher(DiagnosticArray, '/diagnostics', 10)
        self.create_timer(self.p['discovery_period_s'], self._discover)
        self.create_timer(1.0, self._publish_diagnostics)
        self._discover()
        if self.p['autostart']:
            self._start_rollout()

    def _read_params(self):
        p = {}
        for name, default, text, *span in PARAMETERS:
            limits = {'min_value': span[0][0], 'max_value': span[0][1]} if span else {}
            p[name] = declare(self, name, default, text, read_only=True, **limits)
        p['topics'] = [self.resolve_topic_name(t) for t in (p['topics'] or []) if t]
        if not p['topics']:
            raise StartupError('rollout_recorder: topics is empty; list the topics to record')
        self.p = p

    # -- topics --------------------------------------------------------------------------
    def _discover(self):
        for topic in self.p['topics']:
            if topic in self._subscribed:
                continue
            types = [t for t in discovered_types(self, topic) if t in TYPESTORE.fielddefs]
            if types:
                self._subscribe(topic, types[0])

    def _subscribe(self, topic, type_name):
        infos = [i for i in self.get_publishers_info_by_topic(topic)
                 if i.topic_type == type_name]
        reliable = bool(infos) and all(
            i.qos_profile.reliability == ReliabilityPolicy.RELIABLE for i in infos)
        latched = bool(infos) and all(
            i.qos_profile.durability == DurabilityPolicy.TRANSIENT_LOCAL for i in infos)
        qos = QoSProfile(depth=100 if not latched else 1,
                         reliability=ReliabilityPolicy.RELIABLE if reliable
                         else ReliabilityPolicy.BEST_EFFORT,
                         durability=DurabilityPolicy.TRANSIENT_LOCAL if latched
                         else DurabilityPolicy.VOLATILE)
        offered = [make_qos('reliable' if reliable else 'best_effort',
                            'transient_local' if latched else 'volatile', qos.depth)]
        self._subscribed[topic] = (type_name, offered)
        self.create_subscription(message_class(type_name), topic,
                                 lambda data, t=topic: self._on_message(t, data), qos, raw=True)
        self.get_logger().info(f'recording {topic} [{type_name}]')

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

    def _on_message(self, topic, data):
        type_name, offered = self._subscribed[topic]
        self.sink.put(topic, type_name, offered, self._now_ns(), data)

    def _now_ns(self):
        return self.get_clock().now().nanoseconds

    # -- rollouts ------------------------------------------------------------------------
    def _on_instruction(self, msg):
        text = msg.data
        if text == self._instruction:
            return
        previous, self._instruction = self._instruction, text
        topic = self.resolve_topic_name(self.p['instruction_topic'])
        self._instruction_raw = (topic, 'std_msgs/msg/String', [make_qos(
            'reliable', 'transient_local', 1)], self._now_ns(),
            TYPESTORE.serialize_cdr(TYPESTORE.types['std_msgs/msg/String'](data=text),
                                    'std_msgs/msg/String'))
        if self.sink.recording and not previous:
            # The first instruction of a rollout started without one: it belongs to this bag.
            self.sink.update_metadata({'pi0fast.instruction': text}, self._now_ns())
            self.get_logger().info(f'rollout {self.sink.path}: instruction {text!r}')
        elif self.p['instruction_starts_rollout']:
            self._stop_rollout()
            self._start_rollout()

    def _start_rollout(self):
        self._rollouts += 1
        path = new_rollout_dir(self.p['output_dir'])
        path.parent.mkdir(parents=True, exist_ok=True)
        meta = rollout_metadata(
            instruction=self._instruction, checkpoint=self.p['checkpoint'],
            config_file=self.p['config_file'], namespace=self.get_namespace(),
            rollout_index=self._rollouts)
        first = [self._instruction_raw[:3] + (self._now_ns(), self._instruction_raw[4])] \
            if self._instruction_raw else []
        self.sink.start(path, meta, self._now_ns(), first)
        self.get_logger().info(f'rollout {self._rollouts} recording to {path} '
                               f'(instruction {self._instruction!r})')
        return path

    def _stop_rollout(self):
        summary = self.sink.stop()
        if summary is None:
            return None
        path, counts = summary
        self.get_logger().info(f'rollout closed: {path} ({sum(counts.values())} messages)')
        return summary

    def _on_start(self, request, response):
        if self.sink.recording:
            response.success, response.message = False, f'already recording to {self.sink.path}'
            return response
        response.success, response.message = True, str(self._start_rollout())
        return response

    def _on_stop(self, request, response):
        summary = self._stop_rollout()
        if summary is None:
            response.success, response.message = False, 'not recording'
        else:
            path, counts = summary
            response.success = True
            response.message = f'{path}: {sum(counts.values())} messages'
        return response

    def _publish_diagnostics(self):
        values = {'recording': self.sink.recording, 'bag': self.sink.path or '',
                  'rollouts': self._rollouts, 'dropped': self.sink.dropped,
                  'queued': self.sink.queued(),
                  'topics_subscribed': len(self._subscribed),
                  'topics_missing': [t for t in self.p['topics'] if t not in self._subscribed],
                  'last_error': self.sink.last_error,
                  'bags_recovered': len(self._recovery['recovered']),
                  'bags_unrecoverable': self._recovery['failed']}
        level = 'error' if self.sink.last_error else \
            'warn' if self.sink.dropped or self._recovery['failed'] else 'ok'
        msg = DiagnosticArray()
        msg.header.stamp = self.get_clock().now().to_msg()
        msg.status = [make_status(self, level, 'recording' if self.sink.recording else 'idle',
                                  values)]
        self._diag_pub.publish(msg)

    def destroy_node(self):
        if threading.current_thread() is threading.main_thread():
            # Shutting down already: a second Ctrl-C must not cut the bag off half written.
            signal.signal(signal.SIGINT, signal.SIG_IGN)
        summary = self.sink.shutdown()
        if summary is not None:
            # Not the node's logger: its rosout publisher may be gone with the context.
            rclpy.logging.get_logger('pi0fast_ros.recorder').info(
                f'rollout closed at shutdown: {summary[0]} ({sum(summary[1].values())} messages)')
        return super().destroy_node()


def main(args=None):
    return run_node(RolloutRecorderNode, args=args)


if __name__ == '__main__':
    sys.exit(main())
