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
Normalization with a checkpoint's own statistics, as LeRobot's (Un)NormalizerProcessorStep.

A LeRobot checkpoint stores each pipeline as `<name>.json` ({"steps": [{"registry_name",
"config", "state_file"}]}); the normalizer step's config holds `eps`, `features` ({key: {type,
shape}}) and `norm_map` ({feature type: mode}); its state_file is a safetensors file with flat
`<feature>.<stat>` keys, read as fp32 (NP:154-215). Formulas and operation order follow
NP:305-394 so results match bit for bit in fp32:

  MEAN_STD    (x - mean) / (std + eps)            inverse x * std + mean
  MIN_MAX     2 * (x - min) / d - 1, d = max - min inverse (x + 1) / 2 * d + min
  QUANTILES   2.0 * (x - q01) / d - 1.0, d = q99 - q01, NO clipping
              inverse (x + 1.0) * d / 2.0 + q01
  QUANTILE10  the same with q10 / q90
  a zero d becomes eps; IDENTITY passes x through.

Unlike LeRobot, which silently skips a feature whose stats are absent, a missing or non-finite
statistic needed by the mode is an error at load time.
"""

import json
import math
import pathlib

from safetensors.torch import load_file
import torch

MODES = ('IDENTITY', 'MEAN_STD', 'MIN_MAX', 'QUANTILES', 'QUANTILE10')
_REQUIRED_STATS = {'IDENTITY': (), 'MEAN_STD': ('mean', 'std'), 'MIN_MAX': ('min', 'max'),
                   'QUANTILES': ('q01', 'q99'), 'QUANTILE10': ('q10', 'q90')}
PREPROCESSOR = ('policy_preprocessor', 'normalizer_processor')
POSTPROCESSOR = ('policy_postprocessor', 'unnormalizer_processor')


class NormalizerError(ValueError):
    """Normalizer files are missing or malformed, or lack a statistic the mode needs."""


class FeatureNormalizer:
    """
    Forward / inverse normalization of one feature (e.g. 'observation.state', 'action').

    Stats are fp32 tensors shaped like the feature ([D] for a state or action vector); inputs
    are [..., D] tensors, cast to fp32.
    """

    def __init__(self, key, mode, stats, eps=1e-8):
        if mode not in MODES:
            raise NormalizerError(f'{key}: unsupported normalization mode {mode!r}')
        missing = [s for s in _REQUIRED_STATS[mode] if s not in stats]
        if missing:
            raise NormalizerError(f'{key}: {mode} normalization needs stats {missing}, '
                                  f'but the checkpoint has only {sorted(stats)}')
        self.key, self.mode, self.eps = key, mode, float(eps)
        self.stats = {s: torch.as_tensor(stats[s], dtype=torch.float32)
                      for s in _REQUIRED_STATS[mode]}
        for name, value in self.stats.items():
            if not torch.isfinite(value).all():
                raise NormalizerError(f'{key}: statistic {name!r} is not finite: {value}')
        self._denom = self._make_denominator()

    def _make_denominator(self):
        if self.mode in ('IDENTITY', 'MEAN_STD'):
            return None
        lo, hi = {'MIN_MAX': ('min', 'max'), 'QUANTILES': ('q01', 'q99'),
                  'QUANTILE10': ('q10', 'q90')}[self.mode]
        d = self.stats[hi] - self.stats[lo]
        return torch.where(d == 0, torch.tensor(self.eps, dtype=torch.float32), d)

    @property
    def dim(self):
        """Length of the feature vector, or None for IDENTITY (no stats to say)."""
        if not self.stats:
            return None
        return next(iter(self.stats.values())).shape[-1]

    def forward(self, x):
        """Normalize x (a [..., D] tensor); returns fp32."""
        x = torch.as_tensor(x, dtype=torch.float32)
        s, d = self.stats, self._denom
        if self.mode == 'IDENTITY':
            return x
        if self.mode == 'MEAN_STD':
            return (x - s['mean']) / (s['std'] + self.eps)
        if self.mode == 'MIN_MAX':
            return 2 * (x - s['min']) / d - 1
        lo = s['q01'] if self.mode == 'QUANTILES' else s['q10']
        return 2.0 * (x - lo) / d - 1.0

    def inverse(self, x):
        """Unnormalize x (a [..., D] tensor); returns fp32."""
        x = torch.as_tensor(x, dtype=torch.float32)
        s, d = self.stats, self._denom
        if self.mode == 'IDENTITY':
            return x
        if self.mode == 'MEAN_STD':
            return x * s['std'] + s['mean']
        if self.mode == 'MIN_MAX':
            return (x + 1) / 2 * d + s['min']
        lo = s['q01'] if self.mode == 'QUANTILES' else s['q10']
        return (x + 1.0) * d / 2.0 + lo


def _find_step(pipeline, registry_name, path):
    steps = pipeline.get('steps')
    if not isinstance(steps, list):
        raise NormalizerError(f'{path}: no "steps" list')
    found = [s for s in steps if isinstance(s, dict) and s.get('registry_name') == registry_name]
    if len(found) != 1:
        raise NormalizerError(f'{path}: expected one "{registry_name}" step, found {len(found)}')
    return found[0]


def _unflatten_stats(flat):
    stats = {}
    for flat_key, tensor in flat.items():
        key, _, stat = flat_key.rpartition('.')
        stats.setdefault(key, {})[stat] = tensor.to(torch.float32)
    return stats


def load_step(checkpoint_dir, pipeline_name, registry_name):
    """
    Read one normalizer step: (config dict, {feature: {stat: fp32 tensor}}).

    Raises NormalizerError naming the file when the json or the safetensors file is missing
    or malformed.
    """
    directory = pathlib.Path(checkpoint_dir)
    path = directory / f'{pipeline_name}.json'
    try:
        pipeline = json.loads(path.read_text(encoding='utf-8'))
    except (OSError, ValueError) as exc:
        raise NormalizerError(f'cannot read {path}: {exc}') from exc
    step = _find_step(pipeline, registry_name, path)
    config = step.get('config') or {}
    if 'state_file' not in step:
        return config, {}
    state_path = directory / step['state_file']
    try:
        flat = load_file(str(state_path))
    except Exception as exc:  # safetensors raises its own SafetensorError
        raise NormalizerError(f'cannot read normalizer stats {state_path}: {exc}') from exc
    return config, _unflatten_stats(flat)


def make_normalizers(config, stats, keys):
    """
    Build {key: FeatureNormalizer} for `keys` from a step's config and stats.

    A key the step does not list is not normalized by LeRobot either: it gets IDENTITY.
    """
    features = config.get('features') or {}
    norm_map = config.get('norm_map') or {}
    only = config.get('normalize_observation_keys')
    eps = config.get('eps', 1e-8)
    if not isinstance(eps, (int, float)) or not math.isfinite(eps):
        raise NormalizerError(f'normalizer eps must be a finite number, got {eps!r}')
    out = {}
    for key in keys:
        feature = features.get(key)
        skipped = feature is None or (only is not None and key not in only and key != 'action')
        mode = 'IDENTITY' if skipped else norm_map.get(feature.get('type'), 'IDENTITY')
        out[key] = FeatureNormalizer(key, mode, stats.get(key, {}), eps)
    return out


def load_normalizers(checkpoint_dir, keys, which=PREPROCESSOR):
    """{key: FeatureNormalizer} for `keys` from the pre- (default) or post-processor files."""
    config, stats = load_step(checkpoint_dir, *which)
    return make_normalizers(config, stats, keys)
