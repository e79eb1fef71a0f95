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

Subscription callbacks must never wait on the disk, so they only enqueue (put() never blocks).
The queue is bounded in bytes (`max_queue_bytes`, each message counted as its CDR size plus
ITEM_OVERHEAD): a message that does not fit is dropped and counted. One thread opens, writes
and closes bags in the order the requests were made, so a rollover (close + open) can never
interleave with a write. Every flush_period seconds it puts the open bag's pending messages on
disk as a complete chunk, so a recorder that dies (SIGKILL, OOM, power loss) loses at most that
much: recover.py rebuilds the rest.

Disk errors (a directory that cannot be created, a read-only mount, a full disk) never end the
thread. start() waits for the bag to open and raises BagError with the reason. A write or flush
that fails ends that bag at once: it is closed if the disk still allows it, otherwise left
unfinished as it is on disk (every complete chunk flushed so far is kept, and recover.py /
pi0fast-recover-bag finish it once there is space). Until stop(), messages for the failed bag
are dropped and counted; stop() returns what happened (Closed.error).
"""

import logging
import pathlib
import queue
import threading
import time
import typing

from .bag_writer import RolloutBagWriter, string_message

LOG = logging.getLogger(__name__)
ITEM_OVERHEAD = 256          # bytes a queued message costs beyond its CDR data (tuple, ints)
DROP_QUEUE_FULL = 'queue_full'
DROP_BAG_FAILED = 'bag_failed'


class BagError(Exception):
    """A bag could not be opened: str() names the bag and the error, .reason the error."""

    def __init__(self, text, reason):
        super().__init__(text)
        self.reason = reason


class Closed(typing.NamedTuple):
    """What became of a bag: path, {topic: messages written}, and '' or what went wrong."""

    path: pathlib.Path
    counts: dict
    error: str = ''

    @property
    def messages(self):
        return sum(self.counts.values())


def describe_os_error(exc):
    """Name an error the way an operator can act on it (errno name, text, file)."""
    import errno
    if isinstance(exc, OSError) and exc.errno:
        name = errno.errorcode.get(exc.errno, str(exc.errno))
        where = f': {exc.filename}' if exc.filename else ''
        return f'{name} ({exc.strerror}){where}'
    return f'{type(exc).__name__}: {exc}'


class RolloutSink:
    """See the module docstring. Thread-safe."""

    def __init__(self, max_queue_bytes=256 << 20, compress=True, metadata_topic=None,
                 flush_period=1.0):
        self._queue = queue.Queue()
        self._max_bytes = int(max_queue_bytes)
        self._queued_bytes = 0
        self._compress = compress
        self._metadata_topic = metadata_topic
        self._flush_period = float(flush_period)   # <= 0: only at close
        self.flushes = 0
        self._flush_warned = False
        self._lock = threading.Lock()
        self.recording = False      # what callers see: True from a successful start() to stop()
        self.failed = ''            # why the open bag stopped being written ('' = it is fine)
        self.path = None            # the bag being written (or last written)
        self.drops = {DROP_QUEUE_FULL: 0, DROP_BAG_FAILED: 0}
        self.last_error = ''
        self.closed = []            # [Closed] of finished bags
        self._failed_bag = None     # Closed of the bag that failed, until stop()
        self._thread = threading.Thread(target=self._run, name='rollout_sink', daemon=True)
        self._thread.start()

    @property
    def dropped(self):
        """Messages dropped for any reason since start-up."""
        return sum(self.drops.values())

    # -- called from ROS callbacks --------------------------------------------------------
    def start(self, path, metadata, t_ns, first_messages=(), timeout=30.0):
        """
        Open a new bag at path (its parents are created); raise BagError if it cannot be.

        first_messages are (topic, type, qos, t_ns, data) written first.
        """
        done, result = threading.Event(), {}
        with self._lock:
            if self.recording:
                raise RuntimeError(f'already recording to {self.path}')
            self.recording, self.failed, self.path = True, '', pathlib.Path(path)
            # Queued under the lock, with the first messages: no put() can come before them.
            self._queue.put(('open', self.path, dict(metadata), t_ns, list(first_messages),
                             done, result))
        try:
            self._wait(done, 'open', timeout)
        except TimeoutError as exc:
            result.update(error=str(exc), reason=f'the disk did not answer within {timeout} s')
        if result.get('error'):
            with self._lock:
                self.recording = False
            raise BagError(result['error'], result['reason'])

    def update_metadata(self, metadata, t_ns):
        """Replace metadata entries of the open bag (e.g. the instruction, once known)."""
        if self.recording:
            self._queue.put(('meta', dict(metadata), t_ns))

    def put(self, topic, msgtype, qos, t_ns, data):
        """Enqueue one serialized message; False if it was not (not recording, full, failed)."""
        if not self.recording:
            return False
        if self.failed:
            with self._lock:
                self.drops[DROP_BAG_FAILED] += 1
            return False
        return self._enqueue(('msg', topic, msgtype, qos, t_ns, data), len(data))

    def _enqueue(self, item, size):
        size += ITEM_OVERHEAD
        with self._lock:
            if self._queued_bytes + size > self._max_bytes:
                self.drops[DROP_QUEUE_FULL] += 1
                return False
            self._queued_bytes += size
        self._queue.put(item + (size,))
        return True

    def queued(self):
        """Messages and requests waiting for the writer thread."""
        return self._queue.qsize()

    def queued_bytes(self):
        """Bytes the queued messages count against max_queue_bytes."""
        return self._queued_bytes

    def stop(self, timeout=30.0):
        """Close the open bag and wait for it; return a Closed, or None if none was open."""
        with self._lock:
            if not self.recording:
                return None
            self.recording = False
        result = self._request('close', timeout=timeout)
        return result.get('closed')

    def shutdown(self, timeout=30.0):
        """Close any open bag and end the thread."""
        closed = self.stop(timeout)
        self._queue.put(('quit',))
        self._thread.join(timeout)
        return closed

    def _request(self, kind, *args, timeout):
        done, result = threading.Event(), {}
        self._queue.put((kind, *args, done, result))
        self._wait(done, kind, timeout)
        return result

    def _wait(self, done, kind, timeout):
        if not done.wait(timeout):
            raise TimeoutError(f'the bag {self.path}: {kind} did not finish within {timeout} s')

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
            if kind == 'quit':
                return
            if kind == 'msg':
                with self._lock:
                    self._queued_bytes -= item[-1]
                    if bag is None:
                        self.drops[DROP_BAG_FAILED] += 1
                if bag is not None:
                    bag = self._guard(bag, 'writing to the bag', self._write, bag, *item[1:-1])
            elif kind == 'meta' and bag is not None:
                meta.update(item[1])
                bag = self._guard(bag, 'writing metadata', self._write_metadata, bag, meta,
                                  item[2])
            elif kind == 'open':
                bag, meta = self._open(*item[1:])
                due = time.monotonic() + self._flush_period \
                    if bag is not None and self._flush_period > 0 else None
            elif kind == 'close':
                item[2]['closed'] = self._close(bag)
                bag, due = None, None
                item[1].set()
            if bag is None:
                due = None
            elif due is not None and time.monotonic() >= due:
                due = time.monotonic() + self._flush_period
                bag = self._guard(bag, 'flushing the bag', self._flush, bag)

    def _guard(self, bag, what, fn, *args):
        """Run fn(*args); on any error end the bag (see _fail) and return None, else bag."""
        try:
            fn(*args)
        except Exception as exc:    # noqa: B902 - a disk error must not kill the thread
            self._fail(bag, what, exc)
            return None
        return bag

    def _fail(self, bag, what, exc):
        """Stop writing bag after an error; leave it on disk as it is, for recover.py."""
        try:
            bag.abort()
        except Exception as abort_exc:    # noqa: B902 - the buffer may not fit on disk either
            LOG.debug('aborting %s: %s', bag.path, abort_exc)
        self.failed = (f'{what} failed: {describe_os_error(exc)}; the bag is left unfinished '
                       f'with every chunk flushed before (`pi0fast-recover-bag {bag.path}` '
                       'finishes it once the disk allows; the recorder does so at its next '
                       'start)')
        self.last_error = self.failed
        self._failed_bag = Closed(bag.path, dict(bag.counts), self.failed)

    def _flush(self, bag):
        if bag.flush():
            self.flushes += 1
        elif not self._flush_warned:
            self._flush_warned = True
            LOG.warning('this rosbags version offers no chunk flush: a recorder crash loses the '
                        'messages of the unfinished chunk (up to 1 MiB)')

    def _open(self, path, metadata, t_ns, first_messages, done, result):
        bag = None
        try:
            path.parent.mkdir(parents=True, exist_ok=True)
            bag = RolloutBagWriter(path, metadata, compress=self._compress)
            self._write_metadata(bag, metadata, t_ns)
            for item in first_messages:
                self._write(bag, *item)
        except Exception as exc:    # noqa: B902 - reported to start()'s caller
            if bag is not None:
                self._fail(bag, 'opening the bag', exc)
            result['reason'] = describe_os_error(exc)
            result['error'] = f'cannot record to {path}: {result["reason"]}'
            self.last_error, bag = result['error'], None
        else:
            self.last_error = ''
        self._failed_bag = None
        done.set()
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
        if bag is not None and self._guard(bag, 'closing the bag', bag.close) is not None:
            closed = Closed(bag.path, dict(bag.counts))
        else:
            closed = self._failed_bag
        self._failed_bag = None
        if closed is not None:
            self.closed.append(closed)
        return closed
