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
The rollout recorder's raw subscriptions: one per configured topic, with a QoS that matches.

A topic is subscribed as soon as it is on the graph, or at start-up if its name is one of the
graph's documented topics (DOCUMENTED_TYPES). When its publishers are known, their QoS decides
ours: reliable if all are, transient-local (latched, depth 1) if all are. A topic subscribed
before any publisher (its type from the graph, e.g. another node's subscription, or from its
name) gets a provisional best-effort volatile subscription, which matches whatever publisher
comes, so a publisher's first messages are not lost to discovery (one published with another
type than its name suggests is subscribed again with that type). When the publishers turn out
to be latched, it is replaced by a transient-local one, which receives the latched message the
provisional one could have missed (a message already recorded is not recorded twice: see
`on_replaced`). When they turn out to be reliable, a reliable subscription is added beside the
provisional one (a best-effort subscription loses what a lossy link loses, e.g. 1 % of the
action chunks between two hosts, while the executor's reliable one gets them all): the
provisional one is dropped a moment later (PROVISIONAL_GRACE_S), and
a message both delivered is recorded once (identical bytes: HANDOVER_S; two messages with the
very same content within those seconds count as one). For best-effort publishers only the QoS
stored in the bag is updated.
"""

import collections
import dataclasses
import hashlib
import time

from rclpy.qos import DurabilityPolicy, QoSProfile, ReliabilityPolicy

from ..topic_types import discovered_types, message_class
from ...recording.bag_writer import make_qos, TYPESTORE


DIAGNOSTICS = 'diagnostic_msgs/msg/DiagnosticArray'
# A handover from a provisional to a reliable subscription: both record until the provisional
# one is dropped, at the first discovery tick PROVISIONAL_GRACE_S after the reliable one's
# first message, or after it was created if no message came (what one of them delivers late is
# still recorded); a message both deliver is recorded once (the same bytes within HANDOVER_S;
# the last HANDOVER_REMEMBERED messages are remembered).
PROVISIONAL_GRACE_S = 2.0
HANDOVER_S = 5.0
HANDOVER_REMEMBERED = 1024
# The graph's topics by name (docs/architecture.md). One of these is subscribed before it is on
# the graph, so that even the first message of a publisher that appears later is recorded
# (joint_commands is not here: its type is an executor parameter).
DOCUMENTED_TYPES = (
    ('/policy_node/chunk_info', DIAGNOSTICS), ('/executor_node/status', DIAGNOSTICS),
    ('/diagnostics', DIAGNOSTICS), ('/action_chunk', 'trajectory_msgs/msg/JointTrajectory'),
    ('/joint_states', 'sensor_msgs/msg/JointState'),
    ('/policy_node/instruction', 'std_msgs/msg/String'),
    ('/policy_node/active_instruction', 'std_msgs/msg/String'),
    ('/action_envelope', 'std_msgs/msg/String'),
    ('/image_raw/compressed', 'sensor_msgs/msg/CompressedImage'),
    ('/image_raw', 'sensor_msgs/msg/Image'),
)


@dataclasses.dataclass
class Entry:
    """One recorded topic: its type, the QoS stored in the bag, and its subscription."""

    type_name: str
    offered: list              # rosbags Qos list (what the publishers offer)
    latched: bool
    subscription: object
    provisional: bool          # subscribed before any publisher was known
    last: object = None        # last raw message while provisional
    reliable: object = None    # the reliable subscription taking over from a provisional one
    reliable_at: float = None      # monotonic time it was created
    reliable_since: float = None   # monotonic time of its first message
    recent: collections.OrderedDict = None   # digests of what the provisional one recorded


def documented_type(topic):
    """Return the type docs/architecture.md gives a topic of this name, or None."""
    return next((t for suffix, t in DOCUMENTED_TYPES if topic.endswith(suffix)), None)


def publisher_qos(infos):
    """Return (reliable, latched) for a topic's publishers (rclpy TopicEndpointInfo list)."""
    reliable = bool(infos) and all(
        i.qos_profile.reliability == ReliabilityPolicy.RELIABLE for i in infos)
    latched = bool(infos) and all(
        i.qos_profile.durability == DurabilityPolicy.TRANSIENT_LOCAL for i in infos)
    return reliable, latched


class RecordedTopics:
    """See the module docstring. on_message(topic, raw, info); on_replaced(topic, type, raw)."""

    def __init__(self, node, topics, on_message, on_replaced):
        self._node, self._topics = node, list(topics)
        self._on_message, self._on_replaced = on_message, on_replaced
        self.entries = {}      # resolved topic -> Entry

    def missing(self):
        """List the configured topics not subscribed yet."""
        return [t for t in self._topics if t not in self.entries]

    def discover(self):
        """Subscribe to configured topics that appeared; settle provisional subscriptions."""
        for topic in self._topics:
            entry = self.entries.get(topic)
            if entry is not None and not entry.provisional:
                continue
            if entry is not None and entry.reliable is not None:
                # a handover under way ends on time, whether or not its publishers are still
                # there (`ros2 topic pub --once` is gone at once): one subscription is left, so
                # a publisher waiting for N subscribers (-w N) counts the recorder once
                if time.monotonic() - (entry.reliable_since or entry.reliable_at) > \
                        PROVISIONAL_GRACE_S:
                    self._finish_handover(entry)
                continue
            publishers = self._node.get_publishers_info_by_topic(topic)
            published = [i.topic_type for i in publishers if i.topic_type in TYPESTORE.fielddefs]
            if entry is not None and published and entry.type_name not in published:
                # Assumed from its name, published with another type: subscribe to that one.
                self._node.destroy_subscription(entry.subscription)
                del self.entries[topic]
                entry = None
            if entry is None:
                seen = [t for t in discovered_types(self._node, topic) if t in TYPESTORE.fielddefs]
                type_name = (published or seen or [documented_type(topic)])[0]
                if type_name:
                    self._subscribe(topic, type_name,
                                    [i for i in publishers if i.topic_type == type_name])
                continue
            infos = [i for i in publishers if i.topic_type == entry.type_name]
            if infos:
                self._settle(topic, entry, infos)

    def received(self, topic, data):
        """Return the Entry of topic, noting the message if the subscription is provisional."""
        entry = self.entries[topic]
        if entry.provisional:
            entry.last = data
        return entry

    def _accept(self, topic, subscription, data):
        """Whether a message of one of topic's subscriptions is recorded (see the docstring)."""
        entry = self.entries.get(topic)
        if entry is None or entry.reliable is None:
            return True
        now = time.monotonic()
        if subscription is entry.reliable and entry.reliable_since is None:
            entry.reliable_since = now
        if now - (entry.reliable_since or entry.reliable_at) > HANDOVER_S:
            return subscription is entry.reliable
        # Both record until the provisional one is dropped; a message is recorded once.
        digest = _digest(data)
        if digest in entry.recent:
            return False
        entry.recent[digest] = None
        while len(entry.recent) > HANDOVER_REMEMBERED:
            entry.recent.popitem(last=False)
        return True

    def _finish_handover(self, entry):
        # the reliable subscription has delivered for a while: drop the provisional one (from
        # the discovery timer, never from a subscription's own callback)
        self._node.destroy_subscription(entry.subscription)
        entry.subscription, entry.reliable = entry.reliable, None
        entry.provisional, entry.last = False, None
        entry.recent, entry.reliable_at, entry.reliable_since = None, None, None

    def _create(self, topic, type_name, qos):
        holder = []

        def callback(data, info):      # two arguments: rclpy passes the message info too
            if self._accept(topic, holder[0], data):
                self._on_message(topic, data, info)
        holder.append(self._node.create_subscription(
            message_class(type_name), topic, callback, qos, raw=True))
        return holder[0]

    def _subscribe(self, topic, type_name, infos):
        reliable, latched = publisher_qos(infos)
        qos = QoSProfile(depth=1 if latched else 100,
                         reliability=ReliabilityPolicy.RELIABLE if reliable
                         else ReliabilityPolicy.BEST_EFFORT,
                         durability=DurabilityPolicy.TRANSIENT_LOCAL if latched
                         else DurabilityPolicy.VOLATILE)

        subscription = self._create(topic, type_name, qos)
        self.entries[topic] = Entry(type_name, _offered(reliable, latched), latched,
                                    subscription, provisional=not infos)
        note = '' if infos else ' (no publisher yet: best effort until one appears)'
        self._node.get_logger().info(f'recording {topic} [{type_name}]{note}')

    def _settle(self, topic, entry, infos):
        reliable, latched = publisher_qos(infos)
        if not latched:
            entry.offered = _offered(reliable, latched)
            if not reliable:
                entry.provisional, entry.last = False, None
                return
            entry.recent, entry.reliable_at = collections.OrderedDict(), time.monotonic()
            entry.reliable = self._create(topic, entry.type_name, QoSProfile(
                depth=100, reliability=ReliabilityPolicy.RELIABLE,
                durability=DurabilityPolicy.VOLATILE))
            self._node.get_logger().info(f'recording {topic} reliably: its publishers are '
                                         'reliable')
            return
        self._node.destroy_subscription(entry.subscription)
        self._subscribe(topic, entry.type_name, infos)
        if entry.last is not None:
            self._on_replaced(topic, entry.type_name, entry.last)


def _digest(data):
    return hashlib.blake2b(bytes(data), digest_size=16).digest()


def _offered(reliable, latched):
    return [make_qos('reliable' if reliable else 'best_effort',
                     'transient_local' if latched else 'volatile', 1 if latched else 100)]
