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
Writing one rollout as a rosbag2 directory (MCAP storage, metadata format version 9).

ROS-free: messages arrive already serialized (CDR bytes from raw subscriptions) and go to disk
through `rosbags`. What `ros2 bag info` / `ros2 bag play` (rosbag2 Jazzy) read from
metadata.yaml is written by rosbags' Writer: version, storage_identifier, relative_file_paths,
files, duration, starting_time, message_count, topics_with_message_count (name, type,
serialization_format, offered_qos_profiles as a YAML list in v9, type_description_hash),
compression fields, custom_data (a string map: our rollout metadata) and ros_distro. The
rosbag2 reader parses these in rosbag2_storage/include/rosbag2_storage/yaml.hpp (jazzy branch,
`convert<BagMetadata>::decode`); test_recorder_bag.py checks each field's presence and type.
"""

import fcntl
import os
import pathlib

from rosbags.interfaces import (Qos, QosDurability, QosHistory, QosLiveliness, QosReliability,
                                QosTime)
from rosbags.rosbag2 import CompressionFormat, CompressionMode, StoragePlugin, Writer
from rosbags.typesys import get_typestore, Stores

TYPESTORE = get_typestore(Stores.ROS2_JAZZY)
_ZERO = QosTime(0, 0)     # rmw's "unspecified" = the default (infinite) for these durations


def make_qos(reliability='reliable', durability='volatile', depth=10):
    """Build a rosbags Qos from the few fields a publisher's profile varies in."""
    return Qos(QosHistory.KEEP_LAST, int(depth),
               QosReliability[reliability.upper()], QosDurability[durability.upper()],
               _ZERO, _ZERO, QosLiveliness.AUTOMATIC, _ZERO, False)


class RolloutBagWriter:
    """
    One open rosbag2 directory. Not thread-safe: the recorder writes from one thread.

    path must not exist yet. custom_data is a {str: str} map stored in metadata.yaml (and can
    be updated until close()). compress=True zstd-compresses MCAP chunks (rosbag2's MCAP plugin
    reads them); JPEG frames do not shrink, joint states and statuses do.

    While open, the MCAP file carries an exclusive flock, which tells recover.py that the bag
    is live (the kernel releases it when the process dies, however it dies).
    """

    def __init__(self, path, custom_data=None, compress=True):
        self.path = pathlib.Path(path)
        self._writer = Writer(self.path, version=9, storage_plugin=StoragePlugin.MCAP)
        if compress:
            self._writer.set_compression(CompressionMode.STORAGE, CompressionFormat.ZSTD)
        self._writer.open()
        self.file = _storage_path(self._writer, self.path)
        self._lock = open(self.file, 'rb')
        # Blocking: the only other holders are recover.py's momentary probes.
        fcntl.flock(self._lock, fcntl.LOCK_EX)
        self._connections = {}     # topic -> rosbags Connection
        self.counts = {}           # topic -> messages written
        for key, value in (custom_data or {}).items():
            self.set_custom_data(key, value)

    def set_custom_data(self, key, value):
        self._writer.set_custom_data(str(key), str(value))

    def has_topic(self, topic):
        return topic in self._connections

    def add_topic(self, topic, msgtype, qos_profiles=()):
        """Register topic ('/ns/name') with its type ('pkg/msg/Name') and offered QoS list."""
        if topic in self._connections:
            raise ValueError(f'topic {topic} is already in the bag')
        if msgtype not in TYPESTORE.fielddefs:
            raise ValueError(f'message type {msgtype} is unknown to the rosbags Jazzy typestore')
        self._connections[topic] = self._writer.add_connection(
            topic, msgtype, typestore=TYPESTORE, offered_qos_profiles=list(qos_profiles))
        self.counts[topic] = 0

    def write(self, topic, t_ns, data):
        """Append one serialized (CDR) message received at t_ns (ns since the epoch)."""
        self._writer.write(self._connections[topic], int(t_ns), data)
        self.counts[topic] += 1

    def write_message(self, topic, t_ns, msg):
        """Serialize a rosbags message object (e.g. from TYPESTORE.types) and write it."""
        data = TYPESTORE.serialize_cdr(msg, self._connections[topic].msgtype)
        self.write(topic, t_ns, data)

    @property
    def can_flush(self):
        """Tell whether flush() works with this rosbags (it uses parts of its MCAP writer)."""
        storage = self._writer.storage
        return all(hasattr(storage, name) for name in ('chunk', 'close_chunk', 'bio')) and \
            hasattr(getattr(storage, 'chunk', None), 'bio')

    def flush(self, sync=True):
        """
        Put every message written so far on disk as a complete MCAP chunk (fsync'd if sync).

        rosbags keeps a chunk in memory until it reaches 1 MiB; a crash would lose it. After a
        flush, recover.py can rebuild the bag up to here. Returns False if unsupported.
        """
        if not self.can_flush:
            return False
        storage = self._writer.storage
        if storage.chunk.bio.tell():
            storage.close_chunk()
        storage.bio.flush()
        if sync:
            os.fsync(storage.bio.fileno())
        return True

    def close(self):
        """Finish the MCAP file and write metadata.yaml; returns {topic: count}."""
        try:
            self._writer.close()
        finally:
            self._lock.close()
        return dict(self.counts)

    def abort(self):
        """Stop without finishing the file (it stays an unfinished bag)."""
        try:
            self._writer.abort()
        finally:
            self._lock.close()


def _storage_path(writer, path):
    """Return the MCAP file rosbags opened (named after the directory in rosbags 0.10-0.11)."""
    file = getattr(writer.storage, 'path', None)
    return pathlib.Path(file) if file else path / f'{path.name}.mcap'


def string_message(text):
    """Build a rosbags std_msgs/msg/String."""
    return TYPESTORE.types['std_msgs/msg/String'](data=text)
