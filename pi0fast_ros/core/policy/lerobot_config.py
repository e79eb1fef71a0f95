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
LeRobot `pi0_fast` config.json (0.4.4 .. 0.6.1): validation, defaults, a writer-side template.

Field names and defaults follow lerobot/policies/pi0_fast/configuration_pi0_fast.py:32-93 and
configs/policies.py:56-81 (PreTrainedConfig) of 0.4.4, plus the fields 0.5.1 (relative actions)
and 0.6.0 (`pretrained_revision`) added. LeRobot parses config.json with draccus, which rejects
unknown keys, so `default_config_dict` emits exactly the fields of the version asked for.
A field no LeRobot version has is refused when its name says it concerns actions, the state or
normalization (it could change what the actions mean), and otherwise reported and ignored.
"""

import dataclasses
import math
import types

OBS_STATE = 'observation.state'
ACTION = 'action'
OBS_IMAGES = 'observation.images'
FEATURE_TYPES = ('STATE', 'VISUAL', 'ENV', 'ACTION', 'REWARD', 'LANGUAGE')
NORM_MODES = ('MIN_MAX', 'MEAN_STD', 'IDENTITY', 'QUANTILES', 'QUANTILE10')
DTYPES = ('float32', 'bfloat16')

_BASE_FIELDS = {
    'n_obs_steps': 1, 'input_features': {}, 'output_features': {}, 'device': None,
    'use_amp': False, 'use_peft': False, 'push_to_hub': True, 'repo_id': None, 'private': None,
    'tags': None, 'license': None, 'pretrained_path': None,
}
_PI0FAST_FIELDS = {
    'paligemma_variant': 'gemma_2b', 'action_expert_variant': 'gemma_300m', 'dtype': 'float32',
    'chunk_size': 50, 'n_action_steps': 50, 'max_state_dim': 32, 'max_action_dim': 32,
    'max_action_tokens': 256, 'rtc_config': None, 'image_resolution': [224, 224],
    'empty_cameras': 0, 'tokenizer_max_length': 200,
    'text_tokenizer_name': 'google/paligemma-3b-pt-224',
    'action_tokenizer_name': 'physical-intelligence/fast', 'temperature': 0.0,
    'max_decoding_steps': 256, 'fast_skip_tokens': 128, 'validate_action_token_prefix': True,
    'use_kv_cache': True,
    'normalization_mapping': {'VISUAL': 'IDENTITY', 'STATE': 'MEAN_STD', 'ACTION': 'MEAN_STD'},
    'gradient_checkpointing': False, 'compile_model': False, 'compile_mode': 'max-autotune',
    'optimizer_lr': 2.5e-05, 'optimizer_betas': [0.9, 0.95], 'optimizer_eps': 1e-08,
    'optimizer_weight_decay': 0.01, 'optimizer_grad_clip_norm': 1.0,
    'scheduler_warmup_steps': 1000, 'scheduler_decay_steps': 30000,
    'scheduler_decay_lr': 2.5e-06,
}
_FIELDS_051 = {'use_relative_actions': False, 'relative_exclude_joints': ['gripper'],
               'action_feature_names': None}
_FIELDS_060 = {'pretrained_revision': None}
CONFIG_VERSIONS = ('0.4.4', '0.5.0', '0.5.1', '0.6')
KNOWN_FIELDS = frozenset(['type', *_BASE_FIELDS, *_PI0FAST_FIELDS, *_FIELDS_051, *_FIELDS_060])
# Substrings of a field name that could concern what the actions or the state mean.
MEANING_WORDS = ('action', 'relative', 'delta', 'absolute', 'state', 'norm', 'joint',
                 'gripper', 'proprio')


class CheckpointError(ValueError):
    """A checkpoint directory or file is missing, malformed or of the wrong kind."""


@dataclasses.dataclass(frozen=True)
class Feature:
    """A policy input/output feature: LeRobot FeatureType name and shape."""

    type: str  # noqa: A003 (LeRobot's PolicyFeature field name)
    shape: tuple


@dataclasses.dataclass(frozen=True)
class Pi0FastConfig:
    """Validated view of a LeRobot `pi0_fast` config.json (defaults filled in as LeRobot)."""

    raw: types.MappingProxyType
    dtype: str
    input_features: dict
    output_features: dict
    paligemma_variant: str
    chunk_size: int
    n_action_steps: int
    max_state_dim: int
    max_action_dim: int
    max_action_tokens: int
    max_decoding_steps: int
    tokenizer_max_length: int
    fast_skip_tokens: int
    empty_cameras: int
    image_resolution: tuple
    temperature: float
    text_tokenizer_name: str
    action_tokenizer_name: str
    validate_action_token_prefix: bool
    normalization_mapping: dict

    @property
    def camera_keys(self):
        """Image feature keys in model order, `empty_camera_i` slots appended (C:113-119)."""
        keys = [k for k, f in self.input_features.items() if f.type == 'VISUAL']
        for i in range(self.empty_cameras):
            key = f'{OBS_IMAGES}.empty_camera_{i}'
            if key not in keys:
                keys.append(key)
        return keys

    @property
    def state_dim(self):
        """Length of the real state vector (max_state_dim when the feature is absent)."""
        feature = self.input_features.get(OBS_STATE)
        return feature.shape[0] if feature else self.max_state_dim

    @property
    def action_dim(self):
        """Length of the real action vector (max_action_dim when the feature is absent)."""
        feature = self.output_features.get(ACTION)
        return feature.shape[0] if feature else self.max_action_dim


def fields_of(version):
    """Return the config.json fields (with defaults) LeRobot `version` writes."""
    if version not in CONFIG_VERSIONS:
        raise CheckpointError(f'config version {version!r} is not one of {CONFIG_VERSIONS}')
    fields = {'type': 'pi0_fast', **_BASE_FIELDS, **_PI0FAST_FIELDS}
    if version != '0.4.4':
        fields['action_tokenizer_name'] = 'lerobot/fast-action-tokenizer'
    if version in ('0.5.1', '0.6'):
        fields.update(_FIELDS_051)
    if version == '0.6':
        fields.update(_FIELDS_060)
    return fields


def default_config_dict(input_features, output_features, version='0.4.4', **overrides):
    """
    Build a complete LeRobot pi0_fast config.json dict as LeRobot `version` writes it.

    Features are {name: (type, shape)} or {name: {'type': .., 'shape': ..}}. Overrides must be
    fields of that version (anything else would make LeRobot refuse the file).
    """
    cfg = fields_of(version)
    unknown = sorted(set(overrides) - set(cfg))
    if unknown:
        raise CheckpointError(f'not LeRobot pi0_fast config fields (of {version}): {unknown}')
    cfg = dict(cfg)
    cfg['input_features'] = _features_to_json(input_features)
    cfg['output_features'] = _features_to_json(output_features)
    cfg.update(overrides)
    parse_config(cfg)  # refuse to produce something we would not load
    return cfg


def _features_to_json(features):
    out = {}
    for name, feature in features.items():
        if isinstance(feature, dict):
            feature = (feature['type'], feature['shape'])
        ftype, shape = feature
        out[name] = {'type': str(ftype), 'shape': [int(s) for s in shape]}
    return out


def parse_config(raw, source='config.json'):
    """Validate a config.json dict -> Pi0FastConfig; CheckpointError names what is wrong."""
    if not isinstance(raw, dict):
        raise CheckpointError(f'{source}: expected a JSON object, got {type(raw).__name__}')
    kind = raw.get('type')
    if kind == 'pi0fast':
        raise CheckpointError(
            f"{source}: type 'pi0fast' is the LeRobot <= 0.3 PI0-FAST port (weights "
            'model.pi0_paligemma.*, different prompt and image pipeline); only LeRobot >= 0.4 '
            "'pi0_fast' checkpoints are supported (e.g. lerobot/pi0fast-base, not "
            'lerobot/pi0fast_base)')
    if kind != 'pi0_fast':
        raise CheckpointError(f"{source}: policy type {kind!r} is not 'pi0_fast'")
    cfg = {**_PI0FAST_FIELDS, **raw}
    if cfg['dtype'] not in DTYPES:
        raise CheckpointError(f'{source}: dtype {cfg["dtype"]!r} is not one of {DTYPES}')
    ints = {name: _int(cfg, name, source, minimum) for name, minimum in (
        ('chunk_size', 1), ('n_action_steps', 1), ('max_state_dim', 1), ('max_action_dim', 1),
        ('max_action_tokens', 1), ('max_decoding_steps', 1), ('tokenizer_max_length', 1),
        ('fast_skip_tokens', 0), ('empty_cameras', 0))}
    if ints['n_action_steps'] > ints['chunk_size']:
        raise CheckpointError(f'{source}: n_action_steps {ints["n_action_steps"]} > '
                              f'chunk_size {ints["chunk_size"]}')
    if cfg['paligemma_variant'] not in ('gemma_2b', 'gemma_300m'):
        raise CheckpointError(f'{source}: paligemma_variant {cfg["paligemma_variant"]!r} is '
                              "not one of LeRobot's ['gemma_2b', 'gemma_300m']")
    return Pi0FastConfig(
        raw=types.MappingProxyType(dict(raw)), dtype=cfg['dtype'],
        input_features=_features(raw.get('input_features'), 'input_features', source),
        output_features=_features(raw.get('output_features'), 'output_features', source),
        paligemma_variant=_str(cfg, 'paligemma_variant', source),
        image_resolution=_resolution(cfg, source),
        temperature=_temperature(cfg, source),
        text_tokenizer_name=_str(cfg, 'text_tokenizer_name', source),
        action_tokenizer_name=_str(cfg, 'action_tokenizer_name', source),
        validate_action_token_prefix=_bool(cfg, 'validate_action_token_prefix', source),
        normalization_mapping=_norm_map(cfg, source), **ints)


def split_unknown_fields(raw, source='config.json'):
    """
    Classify fields no LeRobot version has -> (harmless names); refuse meaningful ones.

    A field whose name contains one of MEANING_WORDS could change what the actions or the
    state mean: CheckpointError. The rest are returned for one info line.
    """
    unknown = sorted(set(raw) - KNOWN_FIELDS)
    meaningful = [n for n in unknown if any(w in n.lower() for w in MEANING_WORDS)]
    if meaningful:
        raise CheckpointError(f'{source}: fields {meaningful} are unknown to LeRobot 0.4.4 .. '
                              '0.6.1 and may change what the actions or the state mean; '
                              'refusing to load rather than ignore them')
    return unknown


def _int(cfg, name, source, minimum):
    value = cfg[name]
    if isinstance(value, bool) or not isinstance(value, int) or value < minimum:
        raise CheckpointError(f'{source}: {name} must be an integer >= {minimum}, got {value!r}')
    return value


def _str(cfg, name, source):
    if not isinstance(cfg[name], str) or not cfg[name]:
        raise CheckpointError(f'{source}: {name} must be a non-empty string, got {cfg[name]!r}')
    return cfg[name]


def _bool(cfg, name, source):
    if not isinstance(cfg[name], bool):
        raise CheckpointError(f'{source}: {name} must be true/false, got {cfg[name]!r}')
    return cfg[name]


def _temperature(cfg, source):
    t = cfg['temperature']
    if isinstance(t, bool) or not isinstance(t, (int, float)) or not math.isfinite(t) or t < 0:
        raise CheckpointError(f'{source}: temperature must be a finite number >= 0, got {t!r}')
    return float(t)


def _resolution(cfg, source):
    res = cfg['image_resolution']
    if (not isinstance(res, (list, tuple)) or len(res) != 2
            or not all(isinstance(v, int) and v > 0 for v in res)):
        raise CheckpointError(f'{source}: image_resolution must be [height, width], got {res!r}')
    return tuple(res)


def _norm_map(cfg, source):
    mapping = cfg['normalization_mapping']
    if not isinstance(mapping, dict):
        raise CheckpointError(f'{source}: normalization_mapping must be an object')
    for key, mode in mapping.items():
        if key not in FEATURE_TYPES or mode not in NORM_MODES:
            raise CheckpointError(f'{source}: normalization_mapping entry {key!r}: {mode!r} '
                                  f'is not FeatureType -> one of {NORM_MODES}')
    return dict(mapping)


def _features(value, field, source):
    if value is None:
        return {}
    if not isinstance(value, dict):
        raise CheckpointError(f'{source}: {field} must be an object, got {value!r}')
    out = {}
    for name, feature in value.items():
        ok = isinstance(feature, dict) and feature.get('type') in FEATURE_TYPES
        shape = feature.get('shape') if isinstance(feature, dict) else None
        ok = ok and isinstance(shape, (list, tuple)) and shape and all(
            isinstance(s, int) and not isinstance(s, bool) and s > 0 for s in shape)
        if not ok:
            raise CheckpointError(f'{source}: {field}[{name!r}] must be {{"type": one of '
                                  f'{FEATURE_TYPES}, "shape": [positive ints]}}, got {feature!r}')
        out[name] = Feature(feature['type'], tuple(shape))
    return out
