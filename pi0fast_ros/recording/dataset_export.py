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
Rollout bags -> a LeRobot v3.0 dataset (see lerobot_format.py for the files).

Every bag is read and planned first (streams, frames, episodes, tasks); any bad bag stops the
export before a file is written. Then each episode is written (data, videos), and the metadata
last, so an interrupted export leaves an existing dataset as it was: the files of the episodes
written by the failed run are removed. Beside the dataset, in `pi0fast/`, the export writes
`export_report.json` (per bag: frames on the grid, kept, dropped by reason, episodes) and
`provenance/episode-NNNNNN.parquet`: for every frame, the bag, and per feature the topic,
the message index in the bag, its stamp and which clock that stamp is.
"""

import dataclasses
import json
import pathlib

import numpy as np

from . import lerobot_format as fmt
from . import lerobot_stats as stats
from .dataset_episode import PlannedEpisode, write_episode
from .dataset_frames import sample_frames, split_by_task
from .dataset_inputs import check_recorded_config, ExportError, read_embodiment, read_streams
from .dataset_inputs import task_timeline
from .recover import bag_in_use, is_unfinished
from .rollout import load_rollout

REPORT_DIR = 'pi0fast'
DEFAULT_MIN_FRAMES = 10     # pi0_fast's chunk_size / n_action_steps in LeRobot


@dataclasses.dataclass
class ExportOptions:
    """The exporter's choices (pi0fast-export-dataset flags)."""

    fps: int = 30
    action_source: str = 'commands'
    repo_id: str = 'local/pi0fast_rollouts'
    robot_type: str = ''
    vcodec: str = 'h264'
    max_age_s: float = 0.1
    min_frames: int = 0          # 0: one recorded action chunk (else DEFAULT_MIN_FRAMES)
    task: str = ''
    append: bool = False


def _check_bag(bag):
    path = pathlib.Path(bag)
    if not path.is_dir():
        raise ExportError(f'{bag}: not a bag directory')
    if is_unfinished(path):
        hint = 'it is still being recorded' if bag_in_use(path) else \
            f'recover it first: pi0fast-recover-bag {bag}'
        raise ExportError(f'{bag}: the recorder left this bag unfinished; {hint}')


def _min_frames(options, rollout):
    if options.min_frames:
        return options.min_frames
    horizons = [len(c.times_s) for c in rollout.chunks]
    return max(horizons) if horizons else DEFAULT_MIN_FRAMES


def plan_bag(bag, emb, options):
    """Return ([PlannedEpisode], report dict) for one bag; raises ExportError if unusable."""
    _check_bag(bag)
    rollout = load_rollout(bag)
    check_recorded_config(rollout, emb, bag)
    streams = read_streams(pathlib.Path(bag), rollout, emb, options.action_source)
    times, ids, texts = task_timeline(rollout, bag, options.task)
    min_frames = _min_frames(options, rollout)
    sampling = sample_frames({k: s for k, (s, _) in streams.items()}, options.fps,
                             options.max_age_s, min_frames)
    split_by_task(sampling, times, ids, min_frames)
    report = {'bag': str(bag), 'tasks': texts, 'grid_frames': sampling.grid_frames,
              'kept_frames': sampling.kept_frames, 'dropped': dict(sampling.dropped),
              'episodes': len(sampling.segments), 'min_frames': min_frames,
              'topics': {k: s.topic for k, (s, _) in streams.items()},
              'clocks': {k: s.clock for k, (s, _) in streams.items()}}
    if not sampling.segments:
        raise ExportError(
            f'{bag}: no run of at least {min_frames} usable frames (one action chunk) at '
            f'{options.fps} fps; {sampling.grid_frames} frames on the grid, dropped: '
            f'{dict(sampling.dropped)}')
    plans = [PlannedEpisode(str(bag), texts[seg.task], streams, seg)
             for seg in sampling.segments]
    return plans, report


def _start(out, emb, options):
    """(info, tasks, episodes) to extend: an existing dataset (--append) or a new one."""
    if fmt.holds_dataset(out):
        if not options.append:
            raise ExportError(f'{out} already holds a dataset; pass --append to add episodes '
                              'to it, or choose another directory')
        info, tasks, episodes = fmt.load_meta(out)
        if info['fps'] != options.fps:
            raise ExportError(f'{out}: the dataset is at {info["fps"]} fps, not {options.fps}')
        return info, tasks, episodes
    features = fmt.make_features(emb.state_names, emb.action_names,
                                 {key: (0, 0) for key in emb.cameras})
    return fmt.new_info(features, options.fps, options.robot_type or None), [], []


def _check_features(info, emb, shapes, out):
    features = info['features']
    expected = {'observation.state': list(emb.state_names), 'action': list(emb.action_names)}
    for key, names in expected.items():
        if features.get(key, {}).get('names') != names:
            raise ExportError(f'{out}: {key} is {features.get(key, {}).get("names")} in the '
                              f'dataset but {names} in this config')
    videos = sorted(k for k, f in features.items() if f['dtype'] == 'video')
    if videos != sorted(shapes):
        raise ExportError(f'{out}: the dataset has cameras {videos}, this export {sorted(shapes)}')
    for key, (height, width) in shapes.items():
        shape = features[key]['shape']
        if shape[:2] == [0, 0]:
            shape[:2] = [height, width]
        elif shape[:2] != [height, width]:
            raise ExportError(f'{out}: camera {key} is {shape[:2]} in the dataset, '
                              f'{[height, width]} in this export')


def _episode_stats(row):
    out = {}
    for column, value in row.items():
        if column.startswith('stats/'):
            feature, name = column[len('stats/'):].rsplit('/', 1)
            out.setdefault(feature, {})[name] = np.asarray(value)
    return out


def _write_provenance(out, episode_index, rows):
    import pyarrow as pa
    import pyarrow.parquet as pq
    path = out / REPORT_DIR / 'provenance' / f'episode-{episode_index:06d}.parquet'
    path.parent.mkdir(parents=True, exist_ok=True)
    pq.write_table(pa.table({k: pa.array(list(v) if v.dtype == object else v)
                             for k, v in rows.items()}), path)
    return path


def _write_all(out, plans, info, tasks, episodes, emb, options):
    new_rows, written = [], []
    try:
        for plan in plans:
            if plan.task not in tasks:
                tasks.append(plan.task)
            index = len(episodes) + len(new_rows)
            first = episodes[-1]['dataset_to_index'] if episodes else 0
            first = new_rows[-1]['dataset_to_index'] if new_rows else first
            written += [fmt.data_path(out, index)]
            written += [fmt.video_path(out, key, index) for key in emb.cameras]
            row, _, prov, _, shapes = write_episode(plan, out, index, tasks.index(plan.task),
                                                    first, options.fps, options.vcodec)
            written.append(_write_provenance(out, index, prov))
            _check_features(info, emb, shapes, out)
            new_rows.append(row)
    except BaseException:
        _remove(out, written)
        raise
    return new_rows


def _remove(out, paths):
    """Delete the files of a failed run, and the folders that leaves empty (up to out)."""
    for path in map(pathlib.Path, paths):
        path.unlink(missing_ok=True)
        parent = path.parent
        while parent != out and parent.is_dir() and not any(parent.iterdir()):
            parent.rmdir()
            parent = parent.parent


def _finish_meta(out, info, tasks, rows):
    info['total_episodes'] = len(rows)
    info['total_frames'] = int(sum(r['length'] for r in rows))
    info['total_tasks'] = len(tasks)
    info['splits'] = {'train': f'0:{len(rows)}'}
    for key, feature in info['features'].items():
        if feature['dtype'] == 'video' and 'info' not in feature:
            feature['info'] = fmt.probe_video(fmt.video_path(out, key, 0))
    total = stats.aggregate([_episode_stats(r) for r in rows])
    fmt.write_meta(out, info, tasks, rows, stats.to_json(total))


def export_dataset(bags, out, config_file, options):
    """Export bags into out; returns the report dict (also written to pi0fast/)."""
    out = pathlib.Path(out)
    emb = read_embodiment(config_file)
    if not emb.cameras:
        raise ExportError(f'{config_file}: the policy node has no camera_slots to export')
    planned, reports = [], []
    for bag in bags:
        plans, report = plan_bag(bag, emb, options)
        planned += plans
        reports.append(report)
    info, tasks, episodes = _start(out, emb, options)
    first_new = len(episodes)
    new_rows = _write_all(out, planned, info, tasks, episodes, emb, options)
    _finish_meta(out, info, tasks, episodes + new_rows)
    report = {'repo_id': options.repo_id, 'fps': options.fps,
              'action_source': options.action_source, 'config': str(config_file),
              'episodes_written': [first_new, first_new + len(new_rows)],
              'frames_written': int(sum(r['length'] for r in new_rows)), 'bags': reports}
    path = out / REPORT_DIR / 'export_report.json'
    history = json.loads(path.read_text()) if path.is_file() else []
    path.write_text(json.dumps(history + [report], indent=2) + '\n')
    return report
