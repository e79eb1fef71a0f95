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
The files of a LeRobot v3.0 dataset, written with pyarrow (parquet) and PyAV (MP4).

Layout and keys as LeRobot v0.4.4 / v0.6.1 read them (src/lerobot/datasets/utils.py,
io_utils.py, lerobot_dataset.py, video_utils.py, configs/video.py)::

    meta/info.json                 codebase_version "v3.0", fps (int), features, totals,
                                   chunks_size, *_files_size_in_mb, data_path, video_path, splits
    meta/stats.json                {feature: {min, max, mean, std, count, q01..q99}}
    meta/tasks.parquet             pandas frame: index = task text, column task_index
    meta/episodes/chunk-000/file-000.parquet
                                   one row per episode: episode_index, tasks, length,
                                   data/chunk_index, data/file_index, dataset_from_index,
                                   dataset_to_index, videos/<key>/{chunk_index, file_index,
                                   from_timestamp, to_timestamp}, meta/episodes/{chunk_index,
                                   file_index}, stats/<feature>/<stat>
    data/chunk-CCC/file-FFF.parquet
    videos/<key>/chunk-CCC/file-FFF.mp4

Every episode gets its own data file and video files (file index = episode index modulo
chunks_size), which LeRobot allows (it starts a new file when one grows past its size limit);
so appending never rewrites a data or video file. Vector features are written as
fixed_size_list<float32>, the arrow type of the HF datasets Sequence(length=D) that LeRobot
casts the parquet columns to.

Video: H.264 from libx264 by default (yuv420p, GOP 2, crf 30), which LeRobot's torchcodec and
PyAV decoders read like any other codec. `libsvtav1` (AV1, preset 12: LeRobot's own default
encoder settings, configs/video.py VideoEncoderConfig) is the alternative, not the default:
measured with the PyAV 18.1 wheel, SVT-AV1 run as root puts its ~40 worker threads AND the
calling thread at SCHED_FIFO 99, which on a robot's computer would starve the control loop
(SCHED_FIFO 50). The writer puts the calling thread back after every call into the encoder.
"""

import json
import os
import pathlib

import numpy as np

CODEBASE_VERSION = 'v3.0'
CHUNKS_SIZE = 1000
DATA_FILES_SIZE_IN_MB = 100
VIDEO_FILES_SIZE_IN_MB = 500
CHUNK_FILE = 'chunk-{chunk_index:03d}/file-{file_index:03d}'
DATA_PATH = 'data/' + CHUNK_FILE + '.parquet'
VIDEO_PATH = 'videos/{video_key}/' + CHUNK_FILE + '.mp4'
EPISODES_PATH = 'meta/episodes/' + CHUNK_FILE + '.parquet'
INFO_PATH, STATS_PATH, TASKS_PATH = 'meta/info.json', 'meta/stats.json', 'meta/tasks.parquet'
DEFAULT_FEATURES = {
    'timestamp': 'float32', 'frame_index': 'int64', 'episode_index': 'int64',
    'index': 'int64', 'task_index': 'int64',
}
DEFAULT_CODEC = 'h264'
CODECS = {   # --vcodec -> (PyAV encoder, options)
    'libsvtav1': ('libsvtav1', {'g': '2', 'crf': '30', 'preset': '12'}),
    'h264': ('libx264', {'g': '2', 'crf': '30'}),
}


class DatasetFormatError(ValueError):
    """An existing dataset cannot be appended to, or a video cannot be written."""


def chunk_file(index):
    """(chunk_index, file_index) of the index-th file of a kind."""
    return index // CHUNKS_SIZE, index % CHUNKS_SIZE


def make_features(state_names, action_names, cameras):
    """info.json features: state, action, one video per camera {key: (h, w)}, defaults."""
    features = {
        'observation.state': {'dtype': 'float32', 'shape': [len(state_names)],
                              'names': list(state_names)},
        'action': {'dtype': 'float32', 'shape': [len(action_names)],
                   'names': list(action_names)},
    }
    for key, (height, width) in cameras.items():
        features[key] = {'dtype': 'video', 'shape': [height, width, 3],
                         'names': ['height', 'width', 'channels']}
    for key, dtype in DEFAULT_FEATURES.items():
        features[key] = {'dtype': dtype, 'shape': [1], 'names': None}
    return features


def new_info(features, fps, robot_type):
    """Return an info.json for no episodes yet."""
    return {
        'codebase_version': CODEBASE_VERSION, 'robot_type': robot_type,
        'total_episodes': 0, 'total_frames': 0, 'total_tasks': 0,
        'chunks_size': CHUNKS_SIZE, 'data_files_size_in_mb': DATA_FILES_SIZE_IN_MB,
        'video_files_size_in_mb': VIDEO_FILES_SIZE_IN_MB, 'fps': int(fps), 'splits': {},
        'data_path': DATA_PATH,
        'video_path': VIDEO_PATH if any(f['dtype'] == 'video' for f in features.values())
        else None,
        'features': features,
    }


def write_data_file(root, episode_index, columns):
    """Write one episode's frames ({feature: array}) to its data parquet file; returns path."""
    import pyarrow as pa
    import pyarrow.parquet as pq
    arrays, names = [], []
    for key, values in columns.items():
        values = np.asarray(values)
        if values.ndim == 2:
            flat = pa.array(values.astype(np.float32).ravel(), type=pa.float32())
            arrays.append(pa.FixedSizeListArray.from_arrays(flat, values.shape[1]))
        else:
            arrays.append(pa.array(values))
        names.append(key)
    path = data_path(root, episode_index)
    path.parent.mkdir(parents=True, exist_ok=True)
    pq.write_table(pa.Table.from_arrays(arrays, names=names), path, compression='snappy')
    return path


class VideoWriter:
    """One MP4 file, one video stream, frames pushed one at a time (uint8 [H, W, 3] RGB)."""

    def __init__(self, path, fps, width, height, codec=DEFAULT_CODEC):
        import av
        if codec not in CODECS:
            raise DatasetFormatError(f'unknown video codec {codec!r}; use one of {sorted(CODECS)}')
        encoder, options = CODECS[codec]
        self.path = pathlib.Path(path)
        self.path.parent.mkdir(parents=True, exist_ok=True)
        self._av = av
        self._container = av.open(str(self.path), 'w')
        self._stream = self._container.add_stream(encoder, rate=int(fps), options=dict(options))
        self._stream.width, self._stream.height = int(width), int(height)
        self._stream.pix_fmt = 'yuv420p'
        self.frames = 0

    def add(self, rgb):
        """Encode the next frame."""
        frame = self._av.VideoFrame.from_ndarray(np.ascontiguousarray(rgb), format='rgb24')
        frame.pts = self.frames          # in 1 / fps, the encoder's time base
        with _keep_scheduling():
            for packet in self._stream.encode(frame):
                self._container.mux(packet)
        self.frames += 1

    def close(self):
        """Flush the encoder and close the file."""
        with _keep_scheduling():
            for packet in self._stream.encode():
                self._container.mux(packet)
            self._container.close()


class _keep_scheduling:   # noqa: N801 - used as a context manager
    """Put the calling thread's scheduling policy back (SVT-AV1 makes it SCHED_FIFO as root)."""

    def __enter__(self):
        self.policy, self.param = os.sched_getscheduler(0), os.sched_getparam(0)

    def __exit__(self, *exc):
        if os.sched_getscheduler(0) != self.policy:
            os.sched_setscheduler(0, self.policy, self.param)


def data_path(root, episode_index):
    """Path of an episode's data file."""
    chunk, file = chunk_file(episode_index)
    return pathlib.Path(root) / DATA_PATH.format(chunk_index=chunk, file_index=file)


def video_path(root, key, episode_index):
    """Path of an episode's video file for camera feature key."""
    chunk, file = chunk_file(episode_index)
    return pathlib.Path(root) / VIDEO_PATH.format(video_key=key, chunk_index=chunk,
                                                  file_index=file)


def probe_video(path):
    """Return the features[key]['info'] LeRobot derives from a video (get_video_info)."""
    import av
    with av.open(str(path)) as container:
        stream = container.streams.video[0]
        info = {'video.height': stream.height, 'video.width': stream.width,
                'video.codec': stream.codec_context.codec.canonical_name,
                'video.pix_fmt': stream.pix_fmt, 'video.is_depth_map': False,
                'video.fps': int(stream.base_rate), 'video.channels': 3,
                'has_audio': bool(container.streams.audio)}
    return info


def write_meta(root, info, tasks, episodes, stats):
    """Write info.json, stats.json, tasks.parquet and the episodes parquet file."""
    import pandas as pd
    import pyarrow as pa
    import pyarrow.parquet as pq
    root = pathlib.Path(root)
    (root / 'meta').mkdir(parents=True, exist_ok=True)
    (root / INFO_PATH).write_text(json.dumps(info, indent=4, ensure_ascii=False))
    (root / STATS_PATH).write_text(json.dumps(stats, indent=4))
    # pandas writes the index metadata that LeRobot's pd.read_parquet turns back into the
    # task-text index (tasks.loc[task].task_index).
    frame = pd.DataFrame({'task_index': np.arange(len(tasks), dtype=np.int64)},
                         index=pd.Index(list(tasks), name='task'))
    frame.to_parquet(root / TASKS_PATH)
    path = root / EPISODES_PATH.format(chunk_index=0, file_index=0)
    path.parent.mkdir(parents=True, exist_ok=True)
    pq.write_table(pa.Table.from_pylist(episodes), path, compression='snappy')


def load_meta(root):
    """Read back (info, tasks [text], episodes [row dicts]) of an existing dataset."""
    import pyarrow.parquet as pq
    root = pathlib.Path(root)
    try:
        info = json.loads((root / INFO_PATH).read_text())
        tasks_table = pq.read_table(root / TASKS_PATH).to_pylist()
        files = sorted((root / 'meta' / 'episodes').glob('*/*.parquet'))
        episodes = [row for f in files for row in pq.read_table(f).to_pylist()]
    except (OSError, ValueError) as exc:
        raise DatasetFormatError(f'{root}: not a readable LeRobot dataset ({exc})') from exc
    if info.get('codebase_version') != CODEBASE_VERSION:
        raise DatasetFormatError(f'{root}: codebase_version {info.get("codebase_version")!r}, '
                                 f'only {CODEBASE_VERSION} can be appended to')
    tasks = [row['task'] for row in sorted(tasks_table, key=lambda r: r['task_index'])]
    return info, tasks, episodes


def holds_dataset(root):
    """Whether root already holds (part of) a dataset."""
    root = pathlib.Path(root)
    return any((root / p).exists() for p in ('meta', 'data', 'videos'))
