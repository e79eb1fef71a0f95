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
make_random_checkpoint: a complete LeRobot-format pi0_fast directory with random weights.

Written for tests, benchmarks and the demo: config.json + model.safetensors (the engine's
save_checkpoint), policy_preprocessor/postprocessor json + normalizer safetensors exactly as
LeRobot 0.4.4 writes them (processor/pipeline.py:340-395) with made-up dataset statistics,
plus our tokenizer convention: fast_tokenizer/ (fitted on random smooth chunks) and
text_tokenizer/ (text_tokenizer_build). Random weights almost never emit "Action: ...|", so
with scripted=True the language model is rewired (scripted_weights.py) to emit one fixed,
valid chunk for every observation; scripted_output.json then holds its tokens and actions.

lerobot_version writes the layout of that LeRobot release (docs: lerobot-versions.md): '0.4.4'
and '0.5.0' (the same files), '0.5.1' (relative-action config fields, a `delta_actions_processor`
step 2, the normalizer at step 3, an `absolute_actions_processor` postprocessor step 1), '0.6'
(the step renamed `relative_actions_processor`, plus `pretrained_revision`); untied_head writes
lm_head and embed_tokens as different tables, as LeRobot >= 0.5 saves a trained model.
"""

import dataclasses
import json
import pathlib

import numpy as np
from safetensors.torch import save_file
import torch

from .scripted_weights import choose_scripted_chunk, max_chain_tokens, script_weights
from .text_tokenizer_build import build_text_tokenizer
from ..core.fast.tokenizer import FastActionTokenizer
from ..core.model.config import ArchConfig, EMBED, LEROBOT_PREFIX, LM_HEAD, TINY, VARIANTS
from ..core.policy.checkpoint import init_random_weights, save_checkpoint
from ..core.policy.lerobot_config import default_config_dict
from ..core.policy.normalize import FeatureNormalizer
from ..core.policy.text_tokenizer import TextTokenizer

OBS_STATE, ACTION, OBS_IMAGES = 'observation.state', 'action', 'observation.images'
PRE, POST = 'policy_preprocessor', 'policy_postprocessor'
STATS_FILES = {PRE: f'{PRE}_step_2_normalizer_processor.safetensors',
               POST: f'{POST}_step_0_unnormalizer_processor.safetensors'}
RELATIVE_STEP_NAMES = {'0.5.1': 'delta_actions_processor', '0.6': 'relative_actions_processor'}
SCRIPTED_FILE = 'scripted_output.json'


def smooth_chunks(rng, n, horizon, dim):
    """N random smooth [horizon, dim] chunks in normalized units (sums of slow sines)."""
    t = np.linspace(0.0, 1.0, horizon)[None, :, None]
    freq = rng.uniform(0.2, 1.5, (n, 1, dim))
    phase = rng.uniform(0.0, 1.0, (n, 1, dim))
    amp = rng.uniform(0.2, 1.0, (n, 1, dim))
    return amp * np.sin(2 * np.pi * (freq * t + phase))


def made_up_stats(rng, dim):
    """Dataset-like statistics for a [dim] feature: mean/std/min/max/quantiles/count."""
    return stats_from_mean_std(rng.normal(0.0, 0.5, dim), rng.uniform(0.1, 0.5, dim))


def stats_from_mean_std(mean, std):
    """Consistent min/max (mean +- 3 std) and quantiles around a mean and std (as tensors)."""
    mean, std = np.asarray(mean, np.float64), np.asarray(std, np.float64)
    stats = {'mean': mean, 'std': std, 'min': mean - 3 * std, 'max': mean + 3 * std,
             'q01': mean - 2.33 * std, 'q99': mean + 2.33 * std, 'q10': mean - 1.28 * std,
             'q90': mean + 1.28 * std, 'count': np.array([1000])}
    return {k: torch.tensor(v, dtype=torch.int64 if k == 'count' else torch.float32)
            for k, v in stats.items()}


def _image_stats():
    shape = (3, 1, 1)
    return {'mean': torch.full(shape, 0.45), 'std': torch.full(shape, 0.25),
            'min': torch.zeros(shape), 'max': torch.ones(shape), 'count': torch.tensor([1000])}


def _arch(arch, vocab_size):
    base = arch if isinstance(arch, ArchConfig) else {'tiny': TINY, **VARIANTS}.get(arch)
    if base is None:
        raise ValueError(f"arch must be 'tiny', {sorted(VARIANTS)} or an ArchConfig, got {arch!r}")
    return dataclasses.replace(base, vocab_size=vocab_size)


def _features(cameras, state_dim, action_dim, empty_cameras):
    inputs = {f'{OBS_IMAGES}.{c}' if not c.startswith(OBS_IMAGES) else c: ('VISUAL', [3, 224, 224])
              for c in cameras}
    for i in range(empty_cameras):  # LeRobot's validate_features adds these (C:113-119)
        inputs[f'{OBS_IMAGES}.empty_camera_{i}'] = ('VISUAL', [3, 224, 224])
    inputs[OBS_STATE] = ('STATE', [state_dim])
    return inputs, {ACTION: ('ACTION', [action_dim])}


def _feature_json(features):
    return {k: {'type': t, 'shape': list(s)} for k, (t, s) in features.items()}


def write_processors(out_dir, inputs, outputs, stats, norm_map, *, text_tokenizer_name,
                     action_tokenizer_name, max_length=200, max_action_tokens=256,
                     lerobot_version='0.4.4', relative=None):
    """
    Write policy_preprocessor.json / policy_postprocessor.json and their stats files.

    Step lists, registry names and configs are those make_pi0_fast_pre_post_processors
    (0.4.4 P:295-326; 0.5.1/0.6 with the relative/absolute steps) saves; stats is
    {feature: {stat: tensor}} (the dataset stats LeRobot stores in both files). relative:
    the relative step's config ({enabled, exclude_joints, action_names}) for 0.5.1 / 0.6.
    """
    out_dir = pathlib.Path(out_dir)
    step_name = RELATIVE_STEP_NAMES.get(lerobot_version)
    pre_file = STATS_FILES[PRE].replace('step_2', 'step_3') if step_name else STATS_FILES[PRE]
    flat = {f'{k}.{s}': v.clone() for k, d in stats.items() for s, v in d.items()}
    norm = {'eps': 1e-08, 'norm_map': dict(norm_map)}
    pre_steps = [
        {'registry_name': 'rename_observations_processor', 'config': {'rename_map': {}}},
        {'registry_name': 'to_batch_processor', 'config': {}},
        {'registry_name': 'normalizer_processor', 'state_file': pre_file,
         'config': {'eps': norm['eps'], 'features': _feature_json({**inputs, **outputs}),
                    'norm_map': norm['norm_map']}},
        {'registry_name': 'pi0_fast_prepare_state_tokenizer_processor_step', 'config': {}},
        {'registry_name': 'tokenizer_processor', 'config': {
            'max_length': max_length, 'task_key': 'task', 'padding_side': 'right',
            'padding': 'max_length', 'truncation': True, 'tokenizer_name': text_tokenizer_name}},
        {'registry_name': 'action_tokenizer_processor', 'config': {
            'trust_remote_code': True, 'max_action_tokens': max_action_tokens,
            'action_tokenizer_name': action_tokenizer_name}},
        {'registry_name': 'device_processor', 'config': {'device': 'cpu', 'float_dtype': None}},
    ]
    post_steps = [
        {'registry_name': 'unnormalizer_processor', 'state_file': STATS_FILES[POST],
         'config': {'eps': norm['eps'], 'features': _feature_json(outputs),
                    'norm_map': norm['norm_map']}},
        {'registry_name': 'device_processor', 'config': {'device': 'cpu', 'float_dtype': None}},
    ]
    if step_name:
        relative = relative or {'enabled': False, 'exclude_joints': ['gripper'],
                                'action_names': None}
        pre_steps.insert(2, {'registry_name': step_name, 'config': dict(relative)})
        post_steps.insert(1, {'registry_name': 'absolute_actions_processor',
                              'config': {'enabled': relative['enabled']}})
    for name, steps, file in ((PRE, pre_steps, pre_file), (POST, post_steps, STATS_FILES[POST])):
        (out_dir / f'{name}.json').write_text(
            json.dumps({'name': name, 'steps': steps}, indent=2) + '\n')
        save_file(flat, str(out_dir / file))


def make_random_checkpoint(out_dir, *, seed=0, cameras=('top', 'wrist'), state_dim=6,
                           action_dim=6, chunk_size=10, n_action_steps=None, dtype='float32',
                           arch='tiny', fast_vocab_size=256, norm_mode='MEAN_STD',
                           empty_cameras=0, stats=None, scripted=False, max_decoding_steps=256,
                           lerobot_version='0.4.4', untied_head=None, relative_actions=False,
                           relative_exclude_joints=('gripper',), action_names=None):
    """
    Write a complete LeRobot-format pi0_fast checkpoint with random weights; return its path.

    lerobot_version: '0.4.4', '0.5.0', '0.5.1' or '0.6' (see the module doc); untied_head:
    None -> only for '0.6'. relative_actions, relative_exclude_joints, action_names (the
    dataset's action names, LeRobot's action_feature_names): the 0.5.1+ relative-action
    settings, written to config.json and the relative step alike.
    cameras: slot names ('top' -> 'observation.images.top'); norm_mode: the STATE and ACTION
    normalization (VISUAL stays IDENTITY as in pi0_fast); stats: optional
    {'observation.state' / 'action': {stat: array}} overriding the made-up ones (e.g. to put
    the mean pose inside a robot's joint limits); arch: 'tiny', 'gemma_2b', 'gemma_300m' or
    an ArchConfig (its vocab_size is replaced by the text tokenizer's). scripted: rewire the
    weights so that greedy decoding emits one valid chunk for any input (see module doc).
    The tokenizer names in config.json are the absolute paths of the two subdirectories, so
    LeRobot itself can load the directory where it was written. Takes about a second.
    """
    out = pathlib.Path(out_dir).resolve()
    out.mkdir(parents=True, exist_ok=True)
    rng = np.random.default_rng(seed)
    n_action_steps = chunk_size if n_action_steps is None else n_action_steps
    text_dir = build_text_tokenizer(out / 'text_tokenizer', n_loc=fast_vocab_size)
    text = TextTokenizer.from_pretrained(text_dir)
    arch_config = _arch(arch, text.vocab_size)
    corpus = smooth_chunks(rng, 256, chunk_size, action_dim)
    if scripted:
        overhead = len(text.action_prefix_ids) + 3  # BOS, prefix, "|", EOS
        target, fast = choose_scripted_chunk(rng, corpus, fast_vocab_size,
                                             max_chain_tokens(arch_config) - overhead)
    else:
        fast = FastActionTokenizer.fit(corpus, vocab_size=fast_vocab_size)
    fast.save_pretrained(out / 'fast_tokenizer')
    text.check_fast_vocab(fast.vocab_size)

    untied = lerobot_version == '0.6' if untied_head is None else untied_head
    weights = init_random_weights(arch_config, seed=seed, dtype=dtype)
    if scripted:
        sequence = script_weights(weights, arch_config, text, fast, target, untied)
    elif untied:  # a "trained" head: the table moved away from the initial tie
        weights[LEROBOT_PREFIX + EMBED] = _perturbed(weights[LEROBOT_PREFIX + LM_HEAD], seed)
    inputs, outputs = _features(cameras, state_dim, action_dim, empty_cameras)
    extra, relative = _relative_fields(lerobot_version, relative_actions,
                                       relative_exclude_joints, action_names)
    config = default_config_dict(
        inputs, outputs, version=lerobot_version, dtype=dtype, chunk_size=chunk_size,
        n_action_steps=n_action_steps, empty_cameras=empty_cameras,
        max_decoding_steps=max_decoding_steps, device='cpu',
        text_tokenizer_name=str(text_dir), action_tokenizer_name=str(out / 'fast_tokenizer'),
        normalization_mapping={'VISUAL': 'IDENTITY', 'STATE': norm_mode, 'ACTION': norm_mode},
        **extra)
    save_checkpoint(out, config, weights, arch=arch_config)

    all_stats = {OBS_STATE: made_up_stats(rng, state_dim), ACTION: made_up_stats(rng, action_dim)}
    for key, override in (stats or {}).items():
        base = all_stats[key]
        if 'mean' in override or 'std' in override:  # min/max/quantiles move with them
            base = stats_from_mean_std(override.get('mean', base['mean']),
                                       override.get('std', base['std']))
        all_stats[key] = {**base, **{s: torch.as_tensor(v, dtype=torch.float32)
                                     for s, v in override.items()}}
    for key in inputs:
        if key.startswith(OBS_IMAGES) and 'empty_camera' not in key:
            all_stats[key] = _image_stats()
    write_processors(out, inputs, outputs, all_stats, config['normalization_mapping'],
                     text_tokenizer_name=str(text_dir),
                     action_tokenizer_name=str(out / 'fast_tokenizer'),
                     lerobot_version=lerobot_version, relative=relative)
    if scripted:
        _write_scripted(out, sequence, fast, target, n_action_steps, norm_mode,
                        all_stats[ACTION])
    return out


def _perturbed(table, seed):
    gen = torch.Generator().manual_seed(seed + 1)
    noise = torch.randn(table.shape, generator=gen) * 2e-3 * table.float().std()
    return (table.float() + noise).to(table.dtype)


def _relative_fields(version, enabled, exclude, names):
    """(config.json fields, relative step config) for a LeRobot version's layout."""
    if version not in RELATIVE_STEP_NAMES:
        if enabled:
            raise ValueError(f'relative actions need lerobot_version 0.5.1 or 0.6, not '
                             f'{version!r}')
        return {}, None
    names = None if names is None else [str(n) for n in names]
    step = {'enabled': bool(enabled), 'exclude_joints': list(exclude), 'action_names': names}
    return {'use_relative_actions': bool(enabled), 'relative_exclude_joints': list(exclude),
            'action_feature_names': names}, step


def _write_scripted(out, sequence, fast, target, n_action_steps, norm_mode, action_stats):
    """Record what the scripted model emits: tokens, normalized and unnormalized actions."""
    horizon, dim = target.shape
    decoded = fast.decode(fast.encode(target), horizon, dim, mode='strict')
    normalized = decoded[:n_action_steps].astype(np.float32)
    actions = FeatureNormalizer(ACTION, norm_mode, action_stats).inverse(
        torch.from_numpy(normalized)).numpy()
    info = {'tokens': [int(t) for t in sequence], 'target_normalized': target.tolist(),
            'actions_normalized': normalized.tolist(), 'actions': actions.tolist()}
    (out / SCRIPTED_FILE).write_text(json.dumps(info) + '\n')
