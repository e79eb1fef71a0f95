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
Dataset statistics as LeRobot computes them (meta/stats.json, meta/episodes stats/...).

Behaviour taken from LeRobot's src/lerobot/datasets/compute_stats.py (identical in v0.4.4 and
v0.6.1, the v3.0 format):

- per episode and feature: min, max, mean, std (population, from E[x^2] - E[x]^2), count and
  the quantiles q01, q10, q50, q90, q99, read off a 5000-bin histogram per dimension whose
  edges span [min - 1e-10, max + 1e-10], interpolated linearly inside the bin;
  data is promoted to at least float32 first; fewer than two rows: the quantiles are the mean;
- vectors [N, D] reduce over N (stats shape [D]); scalar columns [N] keep a [1] shape;
- images: a subset of the frames (every one up to 100, then N**0.75, at most 10000, evenly
  spaced), channel first uint8, strided down when a side is >= 300 px, stats per channel
  over all pixels, divided by 255, shape [3, 1, 1]; count is the number of frames sampled;
- the dataset's stats aggregate the episodes': min of mins, max of maxes, count-weighted mean,
  the parallel-variance std, count-weighted quantiles.
"""

import numpy as np

QUANTILES = (0.01, 0.10, 0.50, 0.90, 0.99)
QUANTILE_KEYS = tuple(f'q{int(q * 100):02d}' for q in QUANTILES)
HISTOGRAM_BINS = 5000


def _histogram_quantile(column, lo, hi, fraction, count):
    edges = np.linspace(lo - 1e-10, hi + 1e-10, HISTOGRAM_BINS + 1)
    cumulative = np.cumsum(np.histogram(column, bins=edges)[0])
    target = fraction * count
    k = int(np.searchsorted(cumulative, target))
    if k == 0:
        return edges[0]
    if k >= len(cumulative):
        return edges[-1]
    before = cumulative[k - 1]
    inside = cumulative[k] - before
    if inside == 0:
        return edges[k]
    return edges[k] + (target - before) / inside * (edges[k + 1] - edges[k])


def vector_stats(rows):
    """Stats of rows [N, D] over N (each stat [D], count [1])."""
    rows = np.asarray(rows)
    rows = rows.astype(np.result_type(rows.dtype, np.float32), copy=False)
    count = rows.shape[0]
    if count == 0:
        raise ValueError('no rows to compute statistics on')
    mean = rows.mean(axis=0)
    stats = {'min': rows.min(axis=0), 'max': rows.max(axis=0), 'mean': mean}
    if count < 2:
        stats['std'] = rows.std(axis=0)
        stats.update({key: mean.copy() for key in QUANTILE_KEYS})
    else:
        stats['std'] = np.sqrt(np.maximum(0.0, (rows ** 2).mean(axis=0) - mean ** 2))
        for key, q in zip(QUANTILE_KEYS, QUANTILES):
            stats[key] = np.array([
                _histogram_quantile(rows[:, d], stats['min'][d], stats['max'][d], q, count)
                for d in range(rows.shape[1])])
    stats['count'] = np.array([count], dtype=np.int64)
    return stats


def column_stats(values):
    """Stats of a feature column: [N] scalars (stats shape [1]) or [N, D] vectors."""
    values = np.asarray(values)
    return vector_stats(values.reshape(len(values), -1))


def image_sample_indices(n):
    """Frame indices LeRobot samples for image statistics out of n frames."""
    wanted = n if n < 100 else max(100, min(int(n ** 0.75), 10_000))
    return np.round(np.linspace(0, n - 1, wanted)).astype(int).tolist()


def downsample_for_stats(chw):
    """Stride a [C, H, W] image down as LeRobot does before image statistics."""
    _, height, width = chw.shape
    if max(height, width) < 300:
        return chw
    step = int(width / 150) if width > height else int(height / 150)
    return chw[:, ::step, ::step]


def image_stats(frames_hwc):
    """Per-channel stats ([C, 1, 1], in [0, 1]) of uint8 [H, W, C] frames already sampled."""
    chw = np.stack([downsample_for_stats(np.transpose(f, (2, 0, 1))) for f in frames_hwc])
    pixels = np.transpose(chw, (0, 2, 3, 1)).reshape(-1, chw.shape[1])
    stats = vector_stats(pixels)
    out = {k: (v / 255.0).reshape(-1, 1, 1) for k, v in stats.items() if k != 'count'}
    out['count'] = np.array([len(frames_hwc)], dtype=np.int64)
    return out


def aggregate(per_episode):
    """Aggregate a list of {feature: stats} (episodes) into one {feature: stats}."""
    features = {key for stats in per_episode for key in stats}
    return {key: _aggregate_feature([s[key] for s in per_episode if key in s])
            for key in sorted(features)}


def _aggregate_feature(items):
    means = np.stack([s['mean'] for s in items])
    counts = np.stack([s['count'] for s in items]).astype(np.float64)
    total = counts.sum(axis=0)
    weights = counts.reshape(counts.shape + (1,) * (means.ndim - counts.ndim))
    mean = (means * weights).sum(axis=0) / total
    variance = ((np.stack([s['std'] for s in items]) ** 2 + (means - mean) ** 2)
                * weights).sum(axis=0) / total
    out = {'min': np.min(np.stack([s['min'] for s in items]), axis=0),
           'max': np.max(np.stack([s['max'] for s in items]), axis=0),
           'mean': mean, 'std': np.sqrt(variance),
           'count': np.stack([s['count'] for s in items]).sum(axis=0)}
    for key in QUANTILE_KEYS:
        if all(key in s for s in items):
            out[key] = (np.stack([s[key] for s in items]) * weights).sum(axis=0) / total
    return out


def to_json(stats):
    """{feature: {stat: ndarray}} -> nested lists, as meta/stats.json holds them."""
    return {key: {name: np.asarray(value).tolist() for name, value in feature.items()}
            for key, feature in stats.items()}


def from_json(doc):
    """Inverse of to_json."""
    return {key: {name: np.asarray(value) for name, value in feature.items()}
            for key, feature in doc.items()}
