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
Recovering a rollout bag whose recorder died before closing it (SIGKILL, OOM, power loss).

The MCAP writer behind bag_writer keeps the current chunk in memory and writes the summary,
the footer and metadata.yaml only when the bag is closed. An unfinished bag is therefore a
directory with one MCAP file and no metadata.yaml. The file ends after its last complete chunk,
or inside a record if the process died while writing one. The recorder closes the pending chunk
every `flush_period_s` (RolloutBagWriter.flush), so a crash loses at most that much.

recover_bag reads the file front to back. Every MCAP record is `opcode u8 | length u64 | body`
after an 8-byte magic (https://mcap.dev/spec). It keeps every message of every complete chunk,
in file order, and writes a finished bag in the same directory:
- `<name>.mcap` and metadata.yaml, as the recorder would have written them;
- custom_data from the last in-bag metadata message (recording/sink.py writes one per
  update), plus `pi0fast.recovery`, which says what was kept and what was lost;
- the original file is kept as `<name>.mcap.unfinished` unless keep_original is False.

A bag still being written is never touched: the recorder holds an flock on its MCAP file while
it is open, and the kernel drops that lock when the process dies.
"""

import datetime
import fcntl
import json
import os
import pathlib
import shutil
import struct
import zlib

from rosbags.interfaces import (Qos, QosDurability, QosHistory, QosLiveliness, QosReliability,
                                QosTime)
import yaml

from .bag_writer import RolloutBagWriter, TYPESTORE

try:  # the zstd module rosbags itself uses
    from compression import zstd
except ImportError:  # Python < 3.14
    from backports import zstd

MAGIC = b'\x89MCAP0\r\n'
UNFINISHED_SUFFIX = '.unfinished'
WORK_DIR = '.recovering'
OP_FOOTER, OP_SCHEMA, OP_CHANNEL, OP_MESSAGE, OP_CHUNK, OP_DATA_END = 2, 3, 4, 5, 6, 15
METADATA_TYPE = 'std_msgs/msg/String'
PREFIX = 'pi0fast.'


class BagRecoveryError(Exception):
    """The directory is not an unfinished bag, or nothing in it can be recovered."""


class BagInUseError(BagRecoveryError):
    """The bag is still open in a live recorder."""


def is_unfinished(path):
    """Tell whether path is a bag directory with an MCAP file and no metadata.yaml."""
    path = pathlib.Path(path)
    return path.is_dir() and not (path / 'metadata.yaml').exists() and bool(_sources(path))


def find_unfinished(root):
    """List the unfinished bags among root itself and its immediate subdirectories, by name."""
    root = pathlib.Path(root)
    if is_unfinished(root):
        return [root]
    if not root.is_dir():
        return []
    return sorted(p for p in root.iterdir() if is_unfinished(p))


def bag_in_use(path):
    """Tell whether some process holds the recorder's lock on the bag's MCAP file."""
    for source in _sources(pathlib.Path(path)):
        with open(source, 'rb') as handle:
            try:
                fcntl.flock(handle, fcntl.LOCK_EX | fcntl.LOCK_NB)
            except BlockingIOError:
                return True
            fcntl.flock(handle, fcntl.LOCK_UN)
    return False


class RecoveryReport:
    """What recover_bag kept and what it had to leave out."""

    def __init__(self, path):
        self.path = pathlib.Path(path)
        self.messages = 0
        self.chunks = 0
        self.counts = {}             # topic -> messages kept
        self.first_ns = None
        self.last_ns = None
        self.lost_bytes = 0          # after the last complete record
        self.problem = ''            # why reading stopped early ('' at a clean end of file)
        self.original = None         # where the original file was kept (None: removed)
        self.metadata_restored = False
        self.compression = ''        # of the last chunk read

    def summary(self):
        unflushed = 'what the recorder had not flushed yet'
        lost = f'{self.lost_bytes} bytes after the last complete record ({self.problem}), ' \
            f'and {unflushed}' if self.lost_bytes else \
            f'{unflushed} (the file ends after a complete record)'
        span = ''
        if self.first_ns is not None:
            span = f', {(self.last_ns - self.first_ns) / 1e9:.2f} s of messages'
        meta = 'restored from the last in-bag metadata message' if self.metadata_restored \
            else 'not found in the bag'
        return (f'{self.messages} messages on {len(self.counts)} topics from {self.chunks} '
                f'complete chunks{span}; lost: {lost}; rollout metadata {meta}')


def recover_bag(path, keep_original=True, now=None):
    """
    Turn the unfinished bag directory `path` into a finished one; returns a RecoveryReport.

    Raises BagInUseError if a live recorder still writes it (or another process is recovering
    it), BagRecoveryError if the directory is not an unfinished bag or holds no complete message
    (the file is then left as it was).
    """
    path = pathlib.Path(path)
    if not path.is_dir():
        raise BagRecoveryError(f'{path} is not a directory')
    directory = os.open(path, os.O_RDONLY)
    try:
        try:  # one recovery per bag at a time (the recorder at start-up, the command line)
            fcntl.flock(directory, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            raise BagInUseError(f'{path} is being recovered by another process') from None
        return _recover_locked(path, keep_original, now)
    finally:
        os.close(directory)   # releases the lock


def _recover_locked(path, keep_original, now):
    if (path / 'metadata.yaml').exists():
        raise BagRecoveryError(f'{path} is a finished bag (it has metadata.yaml)')
    sources = _sources(path)
    if not sources:
        raise BagRecoveryError(f'{path} holds no MCAP file')
    if len(sources) > 1:
        raise BagRecoveryError(f'{path} holds {len(sources)} MCAP files '
                               f'({", ".join(s.name for s in sources)}); expected one')
    if bag_in_use(path):
        raise BagInUseError(f'{path} is still being recorded (its MCAP file is locked by a '
                            'live process)')
    source = sources[0]
    work = path / WORK_DIR
    if work.exists():  # left by an interrupted recovery: start over from the source
        shutil.rmtree(work)
    work.mkdir()
    report = RecoveryReport(path)
    try:
        new_bag = work / path.name
        _rewrite(source, new_bag, report, now)
        # The new file takes the original's name: keep the original first, metadata.yaml last,
        # so at every moment the directory is either unfinished (recoverable again, from the
        # kept original) or done.
        kept = source if source.name.endswith(UNFINISHED_SUFFIX) else \
            source.rename(source.with_name(source.name + UNFINISHED_SUFFIX))
        for item in sorted(new_bag.iterdir(), key=lambda p: p.name == 'metadata.yaml'):
            item.replace(path / item.name)
    finally:
        shutil.rmtree(work, ignore_errors=True)
    if keep_original:
        report.original = kept
    else:
        kept.unlink()
    return report


def _sources(path):
    """Return the file to recover from: a kept original (an interrupted recovery), or *.mcap."""
    kept = sorted(path.glob(f'*.mcap{UNFINISHED_SUFFIX}'))
    return kept if kept else sorted(path.glob('*.mcap'))


def _rewrite(source, new_bag, report, now):
    schemas = {}          # id -> type name
    channels = {}         # id -> (topic, type name, qos list)
    metadata = None
    writer = None
    try:
        for op, body in _records(source, report):
            if op == OP_SCHEMA:
                sid, name = _schema(body)
                schemas[sid] = name
            elif op == OP_CHANNEL:
                cid, sid, topic, meta = _channel(body)
                if sid not in schemas:
                    raise BagRecoveryError(f'channel {topic} names an unknown schema {sid}')
                channels[cid] = (topic, schemas[sid], _qos(meta.get('offered_qos_profiles')))
            elif op == OP_MESSAGE:
                cid, t_ns, data = _message(body)
                if cid not in channels:
                    raise BagRecoveryError(f'a message on an unknown channel {cid}')
                topic, msgtype, qos = channels[cid]
                if writer is None:  # compressed like the original's chunks
                    writer = RolloutBagWriter(new_bag, compress=report.compression != '')
                if not writer.has_topic(topic):
                    writer.add_topic(topic, msgtype, qos)
                writer.write(topic, t_ns, data)
                report.counts[topic] = report.counts.get(topic, 0) + 1
                report.messages += 1
                report.first_ns = t_ns if report.first_ns is None else report.first_ns
                report.last_ns = t_ns
                if topic.endswith('/metadata') and msgtype == METADATA_TYPE:
                    metadata = _metadata_message(data) or metadata
        if writer is None:
            raise BagRecoveryError(f'{source} holds no complete message ('
                                   f'{report.problem or "no chunk was written"}); left as it is')
        for key, value in (metadata or {}).items():
            writer.set_custom_data(PREFIX + key, value)
        report.metadata_restored = metadata is not None
        now = now or datetime.datetime.now(datetime.timezone.utc)
        writer.set_custom_data(PREFIX + 'recovery',
                               f'recovered {now.isoformat(timespec="seconds")} from '
                               f'{source.name}: {report.summary()}')
        writer.close()
    except (struct.error, ValueError, KeyError, yaml.YAMLError) as exc:
        if writer is not None:
            writer.abort()
        raise BagRecoveryError(f'{source}: a malformed record ({type(exc).__name__}: {exc}); '
                               'left as it is') from exc
    except BaseException:
        if writer is not None:
            writer.abort()
        raise


def _records(source, report):
    """
    Yield (opcode, body) of every complete record in file order.

    A chunk's inner records come in its place. Reading stops at the first record that is cut off
    or damaged, and the report notes why.
    """
    size = source.stat().st_size
    with open(source, 'rb') as handle:
        if handle.read(len(MAGIC)) != MAGIC:
            raise BagRecoveryError(f'{source} is not an MCAP file (bad magic)')
        pos = len(MAGIC)
        while pos < size:
            head = handle.read(9)
            if len(head) < 9:
                report.problem = 'a record header cut off'
                break
            op, length = struct.unpack('<BQ', head)
            if pos + 9 + length > size:
                report.problem = f'a record (opcode {op:#04x}) cut off'
                break
            if op in (OP_DATA_END, OP_FOOTER):
                break
            body = handle.read(length)
            if op != OP_CHUNK:
                yield op, body
            else:
                try:
                    records = _unpack_chunk(body, report)
                except (BagRecoveryError, ValueError, struct.error, zstd.ZstdError) as exc:
                    report.problem = f'a damaged chunk: {exc}'
                    break
                report.chunks += 1
                yield from records
            pos += 9 + length
    report.lost_bytes = size - pos if report.problem else 0


def _unpack_chunk(body, report):
    """Decompress and check a chunk record's body -> its inner [(opcode, body)]."""
    _, _, size, crc = struct.unpack_from('<QQQI', body, 0)
    compression, pos = _string(body, 28)
    (length,) = struct.unpack_from('<Q', body, pos)
    payload = body[pos + 8:pos + 8 + length]
    if compression == 'zstd':
        payload = zstd.decompress(payload)
    elif compression:
        raise BagRecoveryError(f'chunk compression {compression!r} is not supported')
    if len(payload) != size or (crc and zlib.crc32(payload) != crc):
        raise BagRecoveryError('size or CRC mismatch')
    records, inner = [], 0
    while inner < len(payload):
        op, length = struct.unpack_from('<BQ', payload, inner)
        if inner + 9 + length > len(payload):
            raise BagRecoveryError('a record overruns its chunk')
        records.append((op, payload[inner + 9:inner + 9 + length]))
        inner += 9 + length
    report.compression = compression
    return records


def _string(body, pos):
    (n,) = struct.unpack_from('<I', body, pos)
    return bytes(body[pos + 4:pos + 4 + n]).decode(), pos + 4 + n


def _schema(body):
    (sid,) = struct.unpack_from('<H', body, 0)
    name, _ = _string(body, 2)
    return sid, name


def _channel(body):
    cid, sid = struct.unpack_from('<HH', body, 0)
    topic, pos = _string(body, 4)
    _, pos = _string(body, pos)              # message encoding (cdr)
    (size,) = struct.unpack_from('<I', body, pos)
    pos, end, meta = pos + 4, pos + 4 + size, {}
    while pos < end:
        key, pos = _string(body, pos)
        meta[key], pos = _string(body, pos)
    return cid, sid, topic, meta


def _message(body):
    (cid,) = struct.unpack_from('<H', body, 0)
    (log_time,) = struct.unpack_from('<Q', body, 6)
    return cid, log_time, bytes(body[22:])


def _qos(text):
    """Parse a channel's offered_qos_profiles YAML -> rosbags Qos list (rosbag2 v9 names)."""
    if not text:
        return []
    profiles = []
    for item in yaml.safe_load(text) or []:
        def enum(kind, key):
            value = item.get(key, 0)
            return kind(value) if isinstance(value, int) else kind[str(value).upper()]

        def duration(key):
            value = item.get(key) or {}
            return QosTime(int(value.get('sec', 0)), int(value.get('nsec', 0)))
        profiles.append(Qos(enum(QosHistory, 'history'), int(item.get('depth', 0)),
                            enum(QosReliability, 'reliability'),
                            enum(QosDurability, 'durability'), duration('deadline'),
                            duration('lifespan'), enum(QosLiveliness, 'liveliness'),
                            duration('liveliness_lease_duration'),
                            bool(item.get('avoid_ros_namespace_conventions', False))))
    return profiles


def _metadata_message(data):
    """Return the rollout metadata of an in-bag metadata message, or None if it is not one."""
    try:
        text = TYPESTORE.deserialize_cdr(data, METADATA_TYPE).data
        values = json.loads(text)
    except (ValueError, TypeError, IndexError, struct.error):
        return None
    if not isinstance(values, dict) or not all(isinstance(v, str) for v in values.values()):
        return None
    return values
