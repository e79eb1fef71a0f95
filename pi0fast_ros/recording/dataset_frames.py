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
Choosing the frames of a dataset episode from the timed streams of one rollout bag.

Frames are laid on a grid of 1 / fps steps on the joint-state clock, from the first joint
state to the last. Each frame takes, from every stream (joint states, each camera, the
actions), the latest message stamped at or before the frame time: never a later one. A frame
is dropped, with its reason counted, when a stream has no message yet or when its latest one is
older than max_age (a stale camera, a silent executor). The frames kept form runs of
consecutive grid steps; a gap splits the rollout into several episodes (a LeRobot episode's
timestamps are frame_index / fps, so a hole cannot be left inside one), and a run shorter than
min_frames (one action chunk) is dropped whole, with its reason. split_by_task then cuts the
runs where the instruction changes (one episode per instruction segment).
"""

import collections
import dataclasses

import numpy as np


@dataclasses.dataclass
class Stream:
    """Messages of one topic: times_ns [N] on the sampling clock (sorted), values or None."""

    topic: str
    times_ns: np.ndarray
    values: object = None
    clock: str = 'header'        # 'header' stamp, or 'received' (bag time) for headerless types

    def __len__(self):
        return len(self.times_ns)


@dataclasses.dataclass
class Segment:
    """One episode's frames: times and, per stream name, the message index used per frame."""

    times_ns: np.ndarray                # [M] frame times on the joint-state clock
    picks: dict                         # stream name -> int [M] message indices
    task: int = 0                       # index into the bag's task texts

    def __len__(self):
        return len(self.times_ns)


@dataclasses.dataclass
class Sampling:
    """What sample_frames kept and why it dropped the rest."""

    segments: list
    grid_frames: int = 0
    dropped: collections.Counter = dataclasses.field(default_factory=collections.Counter)
    short_segments: list = dataclasses.field(default_factory=list)   # [(start_ns, frames)]

    @property
    def kept_frames(self):
        return sum(len(s) for s in self.segments)


def sort_stream(stream):
    """Return stream with its messages in time order (a bag is in reception order)."""
    order = np.argsort(stream.times_ns, kind='stable')
    values = None if stream.values is None else np.asarray(stream.values)[order]
    return Stream(stream.topic, np.asarray(stream.times_ns)[order], values, stream.clock), order


def _latest(times_ns, grid_ns):
    """Per grid time, the index of the latest message at or before it (-1 if none)."""
    return np.searchsorted(times_ns, grid_ns, side='right') - 1


def _runs(mask):
    """[(start, stop)) index ranges of consecutive True values."""
    edges = np.diff(np.concatenate(([0], mask.astype(np.int8), [0])))
    return list(zip(np.flatnonzero(edges == 1), np.flatnonzero(edges == -1)))


def sample_frames(streams, fps, max_age_s, min_frames, state='observation.state'):
    """
    Lay the grid on streams[state]'s clock and pick, per frame, every stream's latest message.

    streams: {name: Stream} (sorted by time, each non-empty), the joint states under `state`.
    Returns a Sampling; a frame's drop reason names the first stream that failed it.
    """
    clock = streams[state].times_ns
    step_ns = 1e9 / fps
    count = int(np.floor((clock[-1] - clock[0]) / step_ns)) + 1
    grid = clock[0] + np.round(np.arange(count) * step_ns).astype(np.int64)
    result = Sampling(segments=[], grid_frames=count)
    keep = np.ones(count, bool)
    picks = {}
    max_age_ns = int(max_age_s * 1e9)
    for name, stream in streams.items():
        index = _latest(stream.times_ns, grid)
        age = grid - stream.times_ns[np.maximum(index, 0)]
        none_yet = index < 0
        stale = ~none_yet & (age > max_age_ns)
        for reason, bad in ((f'no {name} message yet', none_yet),
                            (f'stale {name} (older than {max_age_s:g} s)', stale)):
            newly = bad & keep
            if newly.any():
                result.dropped[reason] += int(newly.sum())
            keep &= ~bad
        picks[name] = index
    whole = Segment(grid, picks)
    for start, stop in _runs(keep):
        piece = _keep_run(result, whole, start, stop, min_frames, 0)
        if piece is not None:
            result.segments.append(piece)
    return result


def _keep_run(result, segment, start, stop, min_frames, task):
    if stop - start < min_frames:
        result.short_segments.append((int(segment.times_ns[start]), int(stop - start)))
        result.dropped[f'in a run shorter than one chunk ({min_frames} frames)'] += \
            int(stop - start)
        return None
    return Segment(segment.times_ns[start:stop],
                   {name: p[start:stop] for name, p in segment.picks.items()}, task)


def split_by_task(result, task_times_ns, task_ids, min_frames):
    """
    Cut result's segments where the task changes; drop frames with no task yet.

    A frame's task is the latest instruction at or before it (task_times_ns sorted, task_ids
    the index of each one's text). Pieces shorter than min_frames are dropped and counted.
    """
    task_times_ns, task_ids = np.asarray(task_times_ns), np.asarray(task_ids)
    segments = []
    for segment in result.segments:
        k = _latest(task_times_ns, segment.times_ns)
        ids = np.where(k >= 0, task_ids[np.maximum(k, 0)], -1)
        edges = np.flatnonzero(np.diff(ids)) + 1
        for start, stop in zip(np.concatenate(([0], edges)),
                               np.concatenate((edges, [len(ids)]))):
            if ids[start] < 0:
                result.dropped['no instruction yet'] += int(stop - start)
                continue
            piece = _keep_run(result, segment, start, stop, min_frames, int(ids[start]))
            if piece is not None:
                segments.append(piece)
    result.segments = segments
    return result
