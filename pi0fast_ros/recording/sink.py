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
A writer thread that owns the open rollout bag.

Subscription callbacks must never wait on the disk, so they only enqueue (put() never blocks;
a full queue drops the message and counts it). One thread opens, writes and closes bags in the
order the requests were made, so a rollover (close + open) can never interleave with a write.
Every flush_period seconds it puts the open bag's pending messages on disk as a complete chunk,
so a recorder that dies (SIGKILL, OOM, power loss) loses at most that much: recover.py rebuilds
the rest.
"""

import logging
import queue
import threading
import time

from .bag_writer import RolloutBagWriter, string_message

LOG = logging.getLogger(__name__)


class RolloutSink:
    """See the module docstring. Thread-safe."""

    def __init__(self, max_queue=20000, compress=True, metadata_topic=None, flush_period=1.0):
        self._queue = queue.Queue(maxsize=max_queue)
        self._compress = compress
        self._metadata_topic = metadata_topic
        self._flush_period = float(flush_period)   # <= 0: only at close
        self.flushes = 0
        self._flush_warned = False
        self._lock = threading.Lock()
        self.recording = False      # what callers see: True from start() until stop()
        self.path = None            # the bag being written (or last written)
        self.dropped = 0
        self.last_error = ''
        self.closed = []            # [(path, {topic: count})] of finished bags
        self._thread = threading.Thread(target=self._run, name='rollout_sink', daemon=True)
        self._thread.start()

    # -- called from ROS callbacks --------------------------------------------------------
    def start(self, path, metadata, t_ns, first_messages=()):
        """Open a new bag at path; first_messages are (topic, type, qos, t_ns, data) to copy in."""
        with self._lock:
            if self.recording:
                raise RuntimeError(f'already recording to {self.path}')
            self.recording, self.path = True, path
        self._queue.put(('open', path, dict(metadata), t_ns))
        for item in first_messages:
            self._queue.put(('msg',) + tuple(item))

    def update_metadata(self, metadata, t_ns):
        """Replace metadata entries of the open bag (e.g. the instruction, once known)."""
        if self.recording:
            self._queue.put(('meta', dict(metadata), t_ns))

    def put(self, topic, msgtype, qos, t_ns, data):
        """Enqueue one serialized message; returns False if it was dropped (not recording/full)."""
        if not self.recording:
            return False
        try:
            self._queue.put_nowait(('msg', topic, msgtype, qos, t_ns, data))
            return True
        except queue.Full:
            self.dropped += 1
            return False

    def queued(self):
        """Messages and requests waiting for the writer thread."""
        return self._queue.qsize()

    def stop(self, timeout=30.0):
        """Close the open bag; wait for it. Returns (path, {topic: count}) or None."""
        with self._lock:
            if not self.recording:
                return None
            self.recording = False
        done = threading.Event()
        result = {}
        self._queue.put(('close', done, result))
        if not done.wait(timeout):
            raise TimeoutError(f'the bag {self.path} did not close within {timeout} s')
        return result.get('summary')

    def shutdown(self, timeout=30.0):
        """Close any open bag and end the thread."""
        summary = self.stop(timeout)
        self._queue.put(('quit',))
        self._thread.join(timeout)
        return summary

    # -- the writer thread ----------------------------------------------------------------
    def _run(self):
        bag, meta, due = None, {}, None
        while True:
            try:
                item = self._queue.get(
                    timeout=None if due is None else max(0.0, due - time.monotonic()))
            except queue.Empty:
                item = ('tick',)
            kind = item[0]
            try:
                if kind == 'quit':
                    return
                if kind == 'open':
                    bag, meta = self._open(*item[1:])
                    if self._flush_period > 0:
                        due = time.monotonic() + self._flush_period
                elif kind == 'meta' and bag is not None:
                    meta.update(item[1])
                    self._write_metadata(bag, meta, item[2])
                elif kind == 'msg' and bag is not None:
                    self._write(bag, *item[1:])
                elif kind == 'close':
                    bag, due, closing = None, None, bag
                    item[2]['summary'] = self._close(closing) if closing is not None else None
                    item[1].set()
            except Exception as exc:    # noqa: B902 - a disk error must not kill the thread
                self.last_error = f'{type(exc).__name__}: {exc}'
                LOG.error('rollout bag %s: %s', self.path, self.last_error)
                if kind == 'close':
                    item[1].set()
            if due is not None and time.monotonic() >= due:
                due = time.monotonic() + self._flush_period
                self._flush(bag)

    def _flush(self, bag):
        try:
            flushed = bag.flush()
        except Exception as exc:    # noqa: B902 - as for writes
            self.last_error = f'flush: {type(exc).__name__}: {exc}'
            LOG.error('rollout bag %s: %s', self.path, self.last_error)
            return
        if flushed:
            self.flushes += 1
        elif not self._flush_warned:
            self._flush_warned = True
            LOG.warning('this rosbags version offers no chunk flush: a recorder crash loses the '
                        'messages of the unfinished chunk (up to 1 MiB)')

    def _open(self, path, metadata, t_ns):
        bag = RolloutBagWriter(path, metadata, compress=self._compress)
        self._write_metadata(bag, metadata, t_ns)
        return bag, dict(metadata)

    def _write_metadata(self, bag, metadata, t_ns):
        from .metadata import metadata_json
        for key, value in metadata.items():
            bag.set_custom_data(key, value)
        if self._metadata_topic:
            if not bag.has_topic(self._metadata_topic):
                bag.add_topic(self._metadata_topic, 'std_msgs/msg/String')
            bag.write_message(self._metadata_topic, t_ns, string_message(metadata_json(metadata)))

    @staticmethod
    def _write(bag, topic, msgtype, qos, t_ns, data):
        if not bag.has_topic(topic):
            bag.add_topic(topic, msgtype, qos)
        bag.write(topic, t_ns, data)

    def _close(self, bag):
        counts = bag.close()
        self.closed.append((bag.path, counts))
        return bag.path, counts
