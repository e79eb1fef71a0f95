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
Writing one planned episode: its data file, one video per camera, its stats and provenance.

Camera frames are decoded from the bag in one pass per episode and encoded in frame order as
they come (a frame reused by several dataset frames, when the camera is slower than the
dataset, is decoded once), so memory holds only the frames sampled for the image stats.
Images are converted exactly as the policy node converts them (nodes/image_conversion.py).
"""

import dataclasses
import pathlib

import numpy as np
from rosbags.highlevel import AnyReader

from . import lerobot_format as fmt
from . import lerobot_stats as stats
from .bag_writer import TYPESTORE
from .dataset_inputs import ExportError
from ..nodes.image_conversion import ImageConversionError, ImageConverter


@dataclasses.dataclass
class PlannedEpisode:
    """One segment of a bag to write: its streams (name -> (Stream, order)) and frame picks."""

    bag: str
    task: str
    streams: dict
    segment: object

    @property
    def length(self):
        return len(self.segment)


def _columns(plan, episode_index, task_index, first_index, fps):
    n = plan.length
    columns = {key: plan.streams[key][0].values[plan.segment.picks[key]].astype(np.float32)
               for key in ('observation.state', 'action')}
    columns.update({
        'timestamp': (np.arange(n) / fps).astype(np.float32),
        'frame_index': np.arange(n, dtype=np.int64),
        'episode_index': np.full(n, episode_index, np.int64),
        'index': np.arange(first_index, first_index + n, dtype=np.int64),
        'task_index': np.full(n, task_index, np.int64),
    })
    return columns


class _CameraSink:
    """Frames of one camera for one episode: video writer, frame-order buffer, stats sample."""

    def __init__(self, key, path, fps, codec, n):
        self.key, self.path, self.fps, self.codec = key, path, fps, codec
        self.writer, self.shape, self.next, self.pending = None, None, 0, {}
        self.sample_at = set(stats.image_sample_indices(n))
        self.sample = []

    def put(self, positions, rgb, bag):
        if self.shape is None:
            self.shape = rgb.shape
            self.writer = fmt.VideoWriter(self.path, self.fps, rgb.shape[1], rgb.shape[0],
                                          self.codec)
        elif rgb.shape != self.shape:
            raise ExportError(f'{bag}: camera {self.key} changes its image size from '
                              f'{self.shape} to {rgb.shape} within an episode')
        for p in positions:
            self.pending[p] = rgb
        while self.next in self.pending:
            image = self.pending.pop(self.next)
            self.writer.add(image)
            if self.next in self.sample_at:
                self.sample.append(image)
            self.next += 1

    def close(self, expected):
        if self.writer is not None:
            self.writer.close()
        if self.next != expected:
            raise ExportError(f'camera {self.key}: wrote {self.next} of {expected} frames')


def _wanted(plan):
    """{topic: {bag-order message index: [frame positions]}} of the episode's camera frames."""
    wanted = {}
    for key, (stream, order) in plan.streams.items():
        if not key.startswith('observation.images.'):
            continue
        table = wanted.setdefault(stream.topic, {})
        for position, pick in enumerate(plan.segment.picks[key]):
            table.setdefault(int(order[pick]), []).append(position)
    return wanted


def _write_videos(plan, root, episode_index, fps, codec):
    keys = {plan.streams[k][0].topic: k for k in plan.streams if k.startswith('observation.im')}
    sinks = {k: _CameraSink(k, fmt.video_path(root, k, episode_index), fps, codec, plan.length)
             for k in keys.values()}
    wanted, seen = _wanted(plan), {topic: -1 for topic in keys}
    converter = ImageConverter('rosbags-image')
    with AnyReader([pathlib.Path(plan.bag)], default_typestore=TYPESTORE) as reader:
        conns = [c for c in reader.connections if c.topic in keys]
        for conn, _, raw in reader.messages(connections=conns):
            seen[conn.topic] += 1
            positions = wanted[conn.topic].get(seen[conn.topic])
            if positions is None:
                continue
            msg = reader.deserialize(raw, conn.msgtype)
            try:
                rgb = converter.to_rgb(msg)
            except ImageConversionError as exc:
                raise ExportError(f'{plan.bag}: {conn.topic} message {seen[conn.topic]}: '
                                  f'{exc}') from exc
            sinks[keys[conn.topic]].put(positions, rgb, plan.bag)
    for sink in sinks.values():
        sink.close(plan.length)
    return sinks


def _episode_stats(columns, sinks):
    out = {key: (stats.vector_stats(v) if v.ndim == 2 else stats.column_stats(v))
           for key, v in columns.items()}
    for key, sink in sinks.items():
        out[key] = stats.image_stats(sink.sample)
    return out


def _provenance(plan, episode_index):
    rows = {'episode_index': np.full(plan.length, episode_index, np.int64),
            'frame_index': np.arange(plan.length, dtype=np.int64),
            'frame_time_ns': plan.segment.times_ns.astype(np.int64)}
    for key, (stream, order) in plan.streams.items():
        pick = plan.segment.picks[key]
        rows[f'{key}/topic'] = np.full(plan.length, stream.topic, object)
        rows[f'{key}/message_index'] = order[pick].astype(np.int64)
        rows[f'{key}/stamp_ns'] = stream.times_ns[pick].astype(np.int64)
        rows[f'{key}/clock'] = np.full(plan.length, stream.clock, object)
    return rows


def write_episode(plan, root, episode_index, task_index, first_index, fps, codec):
    """Write plan as episode episode_index; returns (episode row, stats, provenance, videos)."""
    columns = _columns(plan, episode_index, task_index, first_index, fps)
    data_path = fmt.write_data_file(root, episode_index, columns)
    sinks = _write_videos(plan, root, episode_index, fps, codec)
    ep_stats = _episode_stats(columns, sinks)
    chunk, file = fmt.chunk_file(episode_index)
    row = {'episode_index': episode_index, 'tasks': [plan.task], 'length': plan.length,
           'data/chunk_index': chunk, 'data/file_index': file,
           'dataset_from_index': first_index, 'dataset_to_index': first_index + plan.length}
    for key in sinks:
        row.update({f'videos/{key}/chunk_index': chunk, f'videos/{key}/file_index': file,
                    f'videos/{key}/from_timestamp': 0.0,
                    f'videos/{key}/to_timestamp': plan.length / fps})
    row.update({'meta/episodes/chunk_index': 0, 'meta/episodes/file_index': 0})
    for key, feature in stats.to_json(ep_stats).items():
        row.update({f'stats/{key}/{name}': value for name, value in feature.items()})
    written = [data_path] + [sink.path for sink in sinks.values()]
    shapes = {key: sink.shape[:2] for key, sink in sinks.items()}
    return row, ep_stats, _provenance(plan, episode_index), written, shapes
