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
The actions of a LeRobot v3.0 dataset, per episode, normalized as a checkpoint trained on it.

A checkpoint trained on the dataset takes its normalizer statistics from meta/stats.json, and
pi0_fast normalizes ACTION with MEAN_STD (core/policy/lerobot_config.py); the same
FeatureNormalizer the runtime uses (core/policy/normalize.py) applies them here, so the
tokenizer sees the values the trained policy will emit. Episodes come back whole ([T_i, D]);
windowing at the horizon is the caller's (pi0fast-fit-tokenizer --horizon).
"""

import json
import pathlib

import numpy as np

from .lerobot_format import INFO_PATH, STATS_PATH


class DatasetActionsError(ValueError):
    """The directory is not a dataset with actions and action stats."""


def is_dataset(path):
    """Whether path is a LeRobot dataset root (it has meta/info.json)."""
    return (pathlib.Path(path) / INFO_PATH).is_file()


def episode_actions(root, mode='MEAN_STD', key='action'):
    """List of float64 [T_i, D] normalized action arrays, one per episode, in episode order."""
    import pyarrow.parquet as pq
    import torch

    from ..core.policy.normalize import FeatureNormalizer, NormalizerError
    root = pathlib.Path(root)
    info = json.loads((root / INFO_PATH).read_text())
    if key not in info.get('features', {}):
        raise DatasetActionsError(f'{root}: no {key!r} feature in meta/info.json')
    try:
        stats = json.loads((root / STATS_PATH).read_text())[key]
        norm = FeatureNormalizer(key, mode, {k: np.asarray(v, np.float32)
                                             for k, v in stats.items()})
    except (OSError, KeyError, ValueError, NormalizerError) as exc:
        raise DatasetActionsError(f'{root}: no usable {key} statistics for {mode}: {exc}') \
            from exc
    columns = []
    for path in sorted((root / 'data').glob('*/*.parquet')):
        table = pq.read_table(path, columns=['episode_index', 'frame_index', key])
        columns.append((table['episode_index'].to_numpy(), table['frame_index'].to_numpy(),
                        np.stack(table[key].to_numpy(zero_copy_only=False))))
    if not columns:
        raise DatasetActionsError(f'{root}: no data files under data/')
    episodes = np.concatenate([c[0] for c in columns])
    frames = np.concatenate([c[1] for c in columns])
    values = np.concatenate([c[2] for c in columns]).astype(np.float32)
    normalized = norm.forward(torch.from_numpy(values)).double().numpy()
    out = []
    for episode in np.unique(episodes):
        rows = np.flatnonzero(episodes == episode)
        out.append(normalized[rows[np.argsort(frames[rows], kind='stable')]])
    return out
