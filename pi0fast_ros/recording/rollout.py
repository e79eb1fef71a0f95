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
A recorded rollout read back into arrays (rosbags only, no ROS installation needed).

Topics are recognised by their documented names (docs/architecture.md) under any namespace:
joint_states, joint_commands, action_chunk, executor_node/status, policy_node/chunk_info,
policy_node/active_instruction (what the policy ran under), plus every Image / CompressedImage
topic. Times are integer ns: `t_ns` is when the recorder received a message (the bag
timestamp), `stamp_ns` its header stamp. The status and chunk_info key/values are read with
core/status.py (TickStatus, ChunkInfo). A message that cannot be decoded (e.g. a String that is
not UTF-8, or a status value not in that format) is skipped and counted in Rollout.unreadable, so
one bad message never hides the rest of the bag.
"""

import dataclasses
import pathlib
import re

import numpy as np
from rosbags.highlevel import AnyReader

from .bag_writer import TYPESTORE
from ..core.status import ChunkInfo, StatusFormatError, TickStatus

IMAGE_TYPES = ('sensor_msgs/msg/Image', 'sensor_msgs/msg/CompressedImage')
ROLES = {   # role -> topic suffix
    'joint_states': '/joint_states', 'commands': '/joint_commands',
    'chunks': '/action_chunk', 'status': '/executor_node/status',
    'chunk_info': '/policy_node/chunk_info', 'instruction': '/policy_node/active_instruction',
}
_NUMBER = re.compile(r'[-+]?(?:nan|inf|(?:\d+\.?\d*|\.\d+)(?:[eE][-+]?\d+)?)', re.IGNORECASE)


def stamp_ns(header):
    """Integer ns of a header stamp."""
    return int(header.stamp.sec) * 1_000_000_000 + int(header.stamp.nanosec)


def parse_floats(text):
    """Parse '[1.0, -2e-3, nan]' / '1.0 2.0' into a float array (no number -> empty)."""
    return np.array([float(x) for x in _NUMBER.findall(text or '')], dtype=np.float64)


@dataclasses.dataclass
class Series:
    """Timed vectors: t_ns [N], stamp_ns [N] (0 = no header), values [N, D], names [D]."""

    t_ns: np.ndarray
    stamp_ns: np.ndarray
    values: np.ndarray
    names: tuple

    def __len__(self):
        return len(self.t_ns)


@dataclasses.dataclass
class Ticks:
    """executor_node/status, one entry per control tick (core/status.py TickStatus)."""

    t_ns: np.ndarray           # [N] received
    stamp_ns: np.ndarray       # [N] tick time
    seq: np.ndarray            # [N] tick counter (-1 when absent)
    state: list                # [N] waiting / tracking / blending / holding / disabled
    active_ns: np.ndarray      # [N] stamp of the chunk the command came from (0 = none)
    previous_ns: np.ndarray    # [N] chunk being blended out (0 = none)
    blend_weight: np.ndarray   # [N] old-side weight while blending
    hold_reason: list          # [N]
    command: np.ndarray        # [N, D] robot-space command; NaN rows where none was sent
    values: list               # [N] every key/value of the status, as strings
    records: list = dataclasses.field(default_factory=list)   # [N] TickStatus

    def __len__(self):
        return len(self.t_ns)


@dataclasses.dataclass(frozen=True)
class Chunk:
    """One received action chunk (policy space)."""

    stamp_ns: int
    t_ns: int                  # arrival at the recorder
    joint_names: tuple
    times_s: np.ndarray        # [H] time_from_start
    positions: np.ndarray      # [H, D]

    @property
    def delay_s(self):
        """Arrival minus stamp: the part of the chunk that lies in the past when it arrives."""
        return (self.t_ns - self.stamp_ns) * 1e-9


@dataclasses.dataclass
class Rollout:
    """Everything plot_rollout and provenance need from one bag."""

    path: pathlib.Path
    metadata: dict             # metadata.yaml custom_data
    topics: dict               # topic -> message type
    joint_states: Series
    commands: Series
    ticks: Ticks
    chunks: list               # [Chunk], in arrival order
    chunk_info: dict           # chunk stamp_ns -> {key: value} (ChunkInfo.decode reads it)
    images: dict               # topic -> Series with no values (t_ns, stamp_ns)
    instructions: list         # [(t_ns, text)]
    unreadable: dict = dataclasses.field(default_factory=dict)   # topic -> [count, first error]

    def unreadable_summary(self):
        """Return '' or one line naming what was skipped (count per topic, first error)."""
        if not self.unreadable:
            return ''
        total = sum(n for n, _ in self.unreadable.values())
        parts = [f'{topic}: {n} ({error})' for topic, (n, error) in self.unreadable.items()]
        return f'skipped {total} unreadable message(s): ' + '; '.join(parts)

    @property
    def start_ns(self):
        times = [s.t_ns[:1] for s in (self.joint_states, self.commands) if len(s)]
        times += [self.ticks.t_ns[:1]] if len(self.ticks) else []
        return int(min(t[0] for t in times)) if times else 0

    def chunk(self, stamp):
        """Return the chunk with header stamp `stamp` (ns), or None."""
        return next((c for c in self.chunks if c.stamp_ns == stamp), None)


def _role(topic):
    return next((r for r, suffix in ROLES.items() if topic.endswith(suffix)), None)


def _command_row(msg, msgtype):
    if msgtype.endswith('JointTrajectory'):
        point = msg.points[0].positions if len(msg.points) else []
        return stamp_ns(msg.header), tuple(msg.joint_names), np.asarray(point, np.float64)
    if msgtype.endswith('JointState'):
        return stamp_ns(msg.header), tuple(msg.name), np.asarray(msg.position, np.float64)
    return 0, None, np.asarray(msg.data, np.float64)


def _series(rows):
    if not rows:
        return Series(np.zeros(0, np.int64), np.zeros(0, np.int64), np.zeros((0, 0)), ())
    width = max(len(r[3]) for r in rows)
    values = np.full((len(rows), width), np.nan)
    for i, row in enumerate(rows):
        values[i, :len(row[3])] = row[3]
    names = next((r[2] for r in rows if r[2]), ())
    return Series(np.array([r[0] for r in rows], np.int64),
                  np.array([r[1] for r in rows], np.int64), values, tuple(names))


def _status_values(msg):
    for status in msg.status:
        return {kv.key: kv.value for kv in status.values}
    return {}


def _ticks(rows):
    n = len(rows)
    records = [record for _, _, _, record in rows]
    commands = [np.asarray(r.command if r.command is not None else (), np.float64)
                for r in records]
    width = max((len(c) for c in commands), default=0)
    command = np.full((n, width), np.nan)
    for i, c in enumerate(commands):
        command[i, :len(c)] = c
    return Ticks(
        t_ns=np.array([r[0] for r in rows], np.int64),
        stamp_ns=np.array([r[1] for r in rows], np.int64),
        seq=np.array([r.seq or -1 for r in records], np.int64),
        state=[r.state for r in records],
        active_ns=np.array([r.active_chunk_stamp_ns for r in records], np.int64),
        previous_ns=np.array([r.previous_chunk_stamp_ns for r in records], np.int64),
        blend_weight=np.array([r.blend_weight for r in records], np.float64),
        hold_reason=[r.hold_reason for r in records],
        command=command, values=[r[2] for r in rows], records=records)


class _Collector:
    def __init__(self):
        self.rows = {role: [] for role in ROLES}
        self.chunks, self.images = [], {}

    def add(self, topic, msgtype, t, msg):
        role = _role(topic)
        if msgtype in IMAGE_TYPES:
            self.images.setdefault(topic, []).append((t, stamp_ns(msg.header), (), ()))
        elif role == 'joint_states':
            self.rows[role].append((t, stamp_ns(msg.header), tuple(msg.name),
                                    np.asarray(msg.position, np.float64)))
        elif role == 'commands':
            stamp, names, values = _command_row(msg, msgtype)
            self.rows[role].append((t, stamp, names, values))
        elif role == 'chunks':
            self.chunks.append(Chunk(
                stamp_ns(msg.header), t, tuple(msg.joint_names),
                np.array([p.time_from_start.sec + p.time_from_start.nanosec * 1e-9
                          for p in msg.points]),
                np.array([p.positions for p in msg.points], np.float64)))
        elif role == 'status':
            values = _status_values(msg)
            self.rows[role].append((t, stamp_ns(msg.header), values, TickStatus.decode(values)))
        elif role == 'chunk_info':
            values = _status_values(msg)
            ChunkInfo.decode(values)    # refuse a malformed record here, not in every reader
            self.rows[role].append((t, stamp_ns(msg.header), values))
        elif role == 'instruction':
            self.rows[role].append((t, msg.data))


def load_rollout(path):
    """Read a rollout bag directory; raise FileNotFoundError / rosbags errors if unreadable."""
    path = pathlib.Path(path)
    if not (path / 'metadata.yaml').is_file():
        from .recover import is_unfinished
        if path.is_dir() and is_unfinished(path):
            raise FileNotFoundError(
                f'{path} is an unfinished bag (its recorder stopped without closing it: no '
                f'metadata.yaml); rebuild it first with: pi0fast-recover-bag {path}')
        raise FileNotFoundError(f'{path} is not a rosbag2 directory (no metadata.yaml)')
    collector, unreadable = _Collector(), {}
    with AnyReader([path], default_typestore=TYPESTORE) as reader:
        topics = {c.topic: c.msgtype for c in reader.connections}
        # The robot's joint_states, not a teleoperation leader's (<ns>/leader/joint_states).
        states = [t for t in topics if _role(t) == 'joint_states']
        depth = min((t.count('/') for t in states), default=0)
        wanted = [c for c in reader.connections
                  if (_role(c.topic) and not (_role(c.topic) == 'joint_states'
                                              and c.topic.count('/') > depth))
                  or c.msgtype in IMAGE_TYPES]
        for conn, t, raw in reader.messages(connections=wanted):
            try:
                msg = reader.deserialize(raw, conn.msgtype)
            except Exception as exc:    # noqa: B902 - any undecodable message is skipped
                _skip(unreadable, conn.topic, exc)
                continue
            try:
                collector.add(conn.topic, conn.msgtype, t, msg)
            except StatusFormatError as exc:
                _skip(unreadable, conn.topic, exc)
    rows = collector.rows
    return Rollout(
        path=path, metadata=_custom_data(path), topics=topics,
        joint_states=_series(rows['joint_states']), commands=_series(rows['commands']),
        ticks=_ticks(rows['status']), chunks=collector.chunks,
        chunk_info={stamp: values for _, stamp, values in rows['chunk_info']},
        images={topic: _series(r) for topic, r in collector.images.items()},
        instructions=rows['instruction'], unreadable=unreadable)


def _skip(unreadable, topic, exc):
    entry = unreadable.setdefault(topic, [0, f'{type(exc).__name__}: {exc}'])
    entry[0] += 1


def _custom_data(path):
    import yaml
    meta = yaml.safe_load((path / 'metadata.yaml').read_text())
    return dict(meta.get('rosbag2_bagfile_information', {}).get('custom_data') or {})
