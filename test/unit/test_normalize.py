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

"""Normalizer modes, round trips, LeRobot's file layout, and refusals."""

import json

import numpy as np
from pi0fast_ros.core.policy.normalize import (FeatureNormalizer, load_normalizers,
                                               NormalizerError, POSTPROCESSOR)
import pytest
from safetensors.torch import save_file
import torch

RNG = np.random.default_rng(0)
D = 6
STATS = {
    'mean': RNG.normal(size=D), 'std': RNG.uniform(0.1, 2, size=D),
    'min': -RNG.uniform(1, 3, size=D), 'max': RNG.uniform(1, 3, size=D),
    'q01': -RNG.uniform(0.5, 2, size=D), 'q99': RNG.uniform(0.5, 2, size=D),
    'q10': -RNG.uniform(0.1, 1, size=D), 'q90': RNG.uniform(0.1, 1, size=D),
}
STATS32 = {k: torch.tensor(v, dtype=torch.float32) for k, v in STATS.items()}


def expected_forward(mode, x):
    """Apply the formulas of NP:305-394 in float64."""
    s = {k: v.astype(np.float64) for k, v in STATS.items()}
    if mode == 'MEAN_STD':
        return (x - s['mean']) / (s['std'] + 1e-8)
    lo, hi = {'MIN_MAX': ('min', 'max'), 'QUANTILES': ('q01', 'q99'),
              'QUANTILE10': ('q10', 'q90')}[mode]
    return 2 * (x - s[lo]) / (s[hi] - s[lo]) - 1


@pytest.mark.parametrize('mode', ['MEAN_STD', 'MIN_MAX', 'QUANTILES', 'QUANTILE10'])
def test_forward_matches_formula_and_inverse_round_trips(mode):
    norm = FeatureNormalizer('observation.state', mode, STATS32)
    x = RNG.normal(scale=3, size=(5, D)).astype(np.float32)
    y = norm.forward(torch.from_numpy(x))
    assert y.dtype == torch.float32
    np.testing.assert_allclose(y.numpy(), expected_forward(mode, x.astype(np.float64)),
                               rtol=1e-5, atol=1e-5)
    np.testing.assert_allclose(norm.inverse(y).numpy(), x, rtol=1e-5, atol=1e-5)


def test_quantiles_do_not_clip():
    norm = FeatureNormalizer('action', 'QUANTILES', STATS32)
    far = STATS32['q99'] + 10 * (STATS32['q99'] - STATS32['q01'])
    assert (norm.forward(far) > 20).all()


def test_mean_std_uses_lerobot_operation_order_bit_for_bit():
    norm = FeatureNormalizer('observation.state', 'MEAN_STD', STATS32, eps=1e-8)
    x = torch.from_numpy(RNG.normal(size=(3, D)).astype(np.float32))
    assert torch.equal(norm.forward(x), (x - STATS32['mean']) / (STATS32['std'] + 1e-8))
    assert torch.equal(norm.inverse(x), x * STATS32['std'] + STATS32['mean'])


def test_zero_range_uses_eps_like_lerobot():
    stats = {'min': torch.zeros(2), 'max': torch.tensor([0.0, 2.0])}
    norm = FeatureNormalizer('s', 'MIN_MAX', stats, eps=1e-8)
    out = norm.forward(torch.tensor([1e-8, 1.0]))
    np.testing.assert_allclose(out.numpy(), [1.0, 0.0], rtol=1e-6)


def test_identity_passes_through():
    x = torch.randn(4, D)
    assert torch.equal(FeatureNormalizer('s', 'IDENTITY', {}).forward(x), x)


@pytest.mark.parametrize('mode,stats,match', [
    ('MEAN_STD', {'mean': STATS32['mean']}, r"needs stats \['std'\]"),
    ('QUANTILES', {'mean': STATS32['mean'], 'std': STATS32['std']}, 'q01'),
    ('QUANTILE10', {'q10': STATS32['q10']}, 'q90'),
    ('MEAN_STD', {'mean': torch.tensor([0.0, float('nan')]), 'std': torch.ones(2)},
     'not finite'),
    ('ROBUST', {}, 'unsupported normalization mode'),
])
def test_refusals(mode, stats, match):
    with pytest.raises(NormalizerError, match=match):
        FeatureNormalizer('observation.state', mode, stats)


def _write_pipeline(directory, name, registry, stats, norm_map, step_index=2):
    features = {'observation.state': {'type': 'STATE', 'shape': [D]},
                'observation.images.top': {'type': 'VISUAL', 'shape': [3, 224, 224]},
                'action': {'type': 'ACTION', 'shape': [D]}}
    state_file = f'{name}_step_{step_index}_{registry}.safetensors'
    steps = [{'registry_name': 'rename_observations_processor', 'config': {'rename_map': {}}},
             {'registry_name': registry, 'state_file': state_file,
              'config': {'eps': 1e-8, 'features': features, 'norm_map': norm_map}}]
    (directory / f'{name}.json').write_text(json.dumps({'name': name, 'steps': steps}))
    save_file({f'{k}.{s}': v.clone() for k, d in stats.items() for s, v in d.items()},
              str(directory / state_file))


def test_loads_lerobot_files(tmp_path):
    stats = {'observation.state': STATS32, 'action': STATS32}
    norm_map = {'VISUAL': 'IDENTITY', 'STATE': 'MEAN_STD', 'ACTION': 'QUANTILES'}
    _write_pipeline(tmp_path, 'policy_preprocessor', 'normalizer_processor', stats, norm_map)
    _write_pipeline(tmp_path, 'policy_postprocessor', 'unnormalizer_processor', stats,
                    norm_map, step_index=0)
    pre = load_normalizers(tmp_path, ['observation.state', 'observation.images.top', 'extra'])
    assert pre['observation.state'].mode == 'MEAN_STD'
    assert pre['observation.images.top'].mode == 'IDENTITY'
    assert pre['extra'].mode == 'IDENTITY'  # not listed: LeRobot leaves it alone too
    post = load_normalizers(tmp_path, ['action'], POSTPROCESSOR)
    assert post['action'].mode == 'QUANTILES' and post['action'].dim == D


def test_missing_stats_in_files_is_an_error(tmp_path):
    stats = {'action': STATS32}  # no observation.state stats
    _write_pipeline(tmp_path, 'policy_preprocessor', 'normalizer_processor', stats,
                    {'STATE': 'MEAN_STD', 'ACTION': 'MEAN_STD'})
    with pytest.raises(NormalizerError, match='observation.state: MEAN_STD normalization'):
        load_normalizers(tmp_path, ['observation.state'])


def test_missing_or_malformed_files(tmp_path):
    with pytest.raises(NormalizerError, match='cannot read .*policy_preprocessor.json'):
        load_normalizers(tmp_path, ['observation.state'])
    (tmp_path / 'policy_preprocessor.json').write_text('{"steps": []}')
    with pytest.raises(NormalizerError, match='expected one "normalizer_processor" step'):
        load_normalizers(tmp_path, ['observation.state'])
    _write_pipeline(tmp_path, 'policy_preprocessor', 'normalizer_processor',
                    {'action': STATS32}, {'ACTION': 'MEAN_STD'})
    (tmp_path / 'policy_preprocessor_step_2_normalizer_processor.safetensors').write_bytes(b'xx')
    with pytest.raises(NormalizerError, match='cannot read normalizer stats'):
        load_normalizers(tmp_path, ['action'])
