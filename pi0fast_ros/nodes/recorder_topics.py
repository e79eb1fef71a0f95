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

A topic is subscribed as soon as it is on the graph. When its publishers are known, their QoS
decides ours: reliable if all are, transient-local (latched, depth 1) if all are. A topic seen
before any publisher (through another node's subscription, or the recorder's own instruction
subscription) gets a provisional best-effort volatile subscription, which matches whatever
publisher comes, so the first messages are not lost to discovery. When the publishers turn out
to be latched, it is replaced by a transient-local one, which receives the latched message the
provisional one could have missed (a message already recorded is not recorded twice: see
`on_replaced`). For other publishers the provisional subscription stays (replacing it could
lose messages in between); only the QoS stored in the bag is updated.
"""

import dataclasses

from rclpy.qos import DurabilityPolicy, QoSProfile, ReliabilityPolicy

from .topic_types import discovered_types, message_class
from ..recording.bag_writer import make_qos, TYPESTORE


@dataclasses.dataclass
class Entry:
    """One recorded topic: its type, the QoS stored in the bag, and its subscription."""

    type_name: str
    offered: list              # rosbags Qos list (what the publishers offer)
    latched: bool
    subscription: object
    provisional: bool          # subscribed before any publisher was known
    last: object = None        # last raw message while provisional


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
            types = [t for t in discovered_types(self._node, topic) if t in TYPESTORE.fielddefs]
            if not types:
                continue
            type_name = entry.type_name if entry else types[0]
            infos = [i for i in self._node.get_publishers_info_by_topic(topic)
                     if i.topic_type == type_name]
            if entry is None:
                self._subscribe(topic, type_name, infos)
            elif infos:
                self._settle(topic, entry, infos)

    def received(self, topic, data):
        """Return the Entry of topic, noting the message if the subscription is provisional."""
        entry = self.entries[topic]
        if entry.provisional:
            entry.last = data
        return entry

    def _subscribe(self, topic, type_name, infos):
        reliable, latched = publisher_qos(infos)
        qos = QoSProfile(depth=1 if latched else 100,
                         reliability=ReliabilityPolicy.RELIABLE if reliable
                         else ReliabilityPolicy.BEST_EFFORT,
                         durability=DurabilityPolicy.TRANSIENT_LOCAL if latched
                         else DurabilityPolicy.VOLATILE)

        def callback(data, info):      # two arguments: rclpy passes the message info too
            self._on_message(topic, data, info)
        subscription = self._node.create_subscription(
            message_class(type_name), topic, callback, qos, raw=True)
        self.entries[topic] = Entry(type_name, _offered(reliable, latched), latched,
                                    subscription, provisional=not infos)
        note = '' if infos else ' (no publisher yet: best effort until one appears)'
        self._node.get_logger().info(f'recording {topic} [{type_name}]{note}')

    def _settle(self, topic, entry, infos):
        reliable, latched = publisher_qos(infos)
        if not latched:
            entry.provisional, entry.last = False, None
            entry.offered = _offered(reliable, latched)
            return
        self._node.destroy_subscription(entry.subscription)
        self._subscribe(topic, entry.type_name, infos)
        if entry.last is not None:
            self._on_replaced(topic, entry.type_name, entry.last)


def _offered(reliable, latched):
    return [make_qos('reliable' if reliable else 'best_effort',
                     'transient_local' if latched else 'volatile', 1 if latched else 100)]
