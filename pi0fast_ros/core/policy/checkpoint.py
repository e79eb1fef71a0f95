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
LeRobot `pi0_fast` checkpoint directories: validated loading, saving, random weights.

Layout (facts §5; LeRobot processor/pipeline.py:340-395):
  config.json                      draccus dump, "type": "pi0_fast"
  model.safetensors                model.paligemma_with_expert.paligemma.* (0.4.4: lm_head kept,
                                   the tied embed_tokens dropped, as safetensors' save_model
                                   does; >= 0.5: both, untied)
  policy_preprocessor.json (+ per-step state safetensors, e.g. the normalizer stats)
  policy_postprocessor.json (+ the unnormalizer stats)

Loading never returns a partly random model: a missing, unexpected, mis-shaped or non-finite
weight is a CheckpointError naming it, and so is a head layout that neither our metadata, the
arch_hints nor config.json's paligemma_variant (matching the weights) determines. Weights are
read through safetensors' mmap (no pickle); tensors whose stored dtype already matches are used
in place, without a copy, except the output table, which is copied to a 64-byte aligned buffer
when the file puts it elsewhere (a matmul over a misaligned table rounds differently from
LeRobot's, which loads into fresh, aligned parameters). The LeRobot version semantics
(lerobot_versions.py) and relative actions (relative_actions.py) are decided here too.
"""

import dataclasses
import json
import logging
import os
import pathlib

from safetensors import safe_open
from safetensors.torch import save_file
import torch

from .lerobot_config import CheckpointError, KNOWN_FIELDS, parse_config, split_unknown_fields
from .lerobot_versions import check_processor_steps, choose_semantics, version_evidence
from .relative_actions import read_relative_actions
from ..model.config import (
    ARCH_METADATA_KEY, ArchConfig, ArchError, EMBED, expected_shapes, infer_arch, LEROBOT_PREFIX,
    LM_HEAD)
from ..model.device import check_device
from ..model.paligemma import dtype_for, PaliGemma, to_module_name, to_weight_name

CONFIG_FILE = 'config.json'
MODEL_FILE = 'model.safetensors'
PREPROCESSOR_FILE = 'policy_preprocessor.json'
POSTPROCESSOR_FILE = 'policy_postprocessor.json'
_DTYPES = {'float32': torch.float32, 'bfloat16': torch.bfloat16}
_FLOAT_DTYPES = ('F32', 'BF16', 'F16', 'F64')
_LEGACY_MARKER = 'pi0_paligemma.'
ALIGNMENT = 64  # bytes: what torch's CPU allocator (and so LeRobot's parameters) give

__all__ = ['Checkpoint', 'CheckpointError', 'ProcessorFiles', 'build_model',
           'init_random_weights', 'lerobot_state_dict', 'load_checkpoint', 'read_config',
           'save_checkpoint']

_log = logging.getLogger(__name__)


@dataclasses.dataclass(frozen=True)
class ProcessorFiles:
    """A LeRobot processor pipeline json and the state files its steps reference."""

    json_path: pathlib.Path
    config: dict          # the parsed json: {"name": .., "steps": [{"registry_name", ..}]}
    state_files: dict     # step index -> absolute path of that step's safetensors

    def state_file(self, registry_name):
        """Path of the state file of the first step with this registry name, or None."""
        for index, step in enumerate(self.config.get('steps', [])):
            if step.get('registry_name') == registry_name and index in self.state_files:
                return self.state_files[index]
        return None


@dataclasses.dataclass
class Checkpoint:
    """A loaded checkpoint: validated config, inferred sizes, the model, processor files."""

    path: pathlib.Path
    config: object        # lerobot_config.Pi0FastConfig
    arch: ArchConfig
    model: PaliGemma
    dtype: torch.dtype
    preprocessor: object  # ProcessorFiles or None when the json is absent
    postprocessor: object
    semantics: object = None   # lerobot_versions.Semantics
    relative: object = None    # relative_actions.RelativeActions, None for absolute actions


def resolve_dtype(dtype, default='float32'):
    """'float32' / 'bfloat16' / torch dtype / None (-> default) -> torch dtype."""
    dtype = default if dtype is None else dtype
    if isinstance(dtype, torch.dtype) and dtype in _DTYPES.values():
        return dtype
    if isinstance(dtype, str) and dtype in _DTYPES:
        return _DTYPES[dtype]
    raise CheckpointError(f'dtype {dtype!r} is not one of {sorted(_DTYPES)}')


def read_config(path):
    """Read and validate <path>/config.json -> lerobot_config.Pi0FastConfig."""
    file = pathlib.Path(path) / CONFIG_FILE
    if not file.is_file():
        raise CheckpointError(_missing_config(pathlib.Path(path)))
    try:
        raw = json.loads(file.read_text(encoding='utf-8'))
    except (OSError, UnicodeDecodeError, json.JSONDecodeError) as e:
        raise CheckpointError(f'{file}: not readable JSON ({e})') from e
    config = parse_config(raw, str(file))
    unknown = split_unknown_fields(raw, str(file))
    if unknown:
        _log.info('%s: fields unknown to LeRobot 0.4.4 .. 0.6.1 ignored (they concern neither '
                  'the actions nor the state): %s', file, unknown)
    return config


def _missing_config(path):
    """Say why a checkpoint has no config.json: no directory, or LeRobot's training layout."""
    if not path.is_dir():
        return f'checkpoint directory {path} does not exist (no {CONFIG_FILE} to read)'
    if (path / 'pretrained_model' / CONFIG_FILE).is_file():
        return (f"{CONFIG_FILE} is missing in {path}; LeRobot's training output keeps the "
                f'checkpoint in {path / "pretrained_model"}: pass that directory')
    return f'{CONFIG_FILE} is missing in {path} (a LeRobot pi0_fast checkpoint directory has it)'


def read_processor(path, filename):
    """Read <path>/<filename> as ProcessorFiles; None if the json is absent."""
    file = pathlib.Path(path) / filename
    if not file.is_file():
        return None
    try:
        config = json.loads(file.read_text(encoding='utf-8'))
    except (OSError, UnicodeDecodeError, json.JSONDecodeError) as e:
        raise CheckpointError(f'{file}: not readable JSON ({e})') from e
    if not isinstance(config, dict) or not isinstance(config.get('steps'), list):
        raise CheckpointError(f'{file}: expected {{"name": .., "steps": [..]}}')
    states = {}
    for index, step in enumerate(config['steps']):
        state = step.get('state_file') if isinstance(step, dict) else None
        if state is None:
            continue
        state_path = file.parent / state
        if not state_path.is_file():
            raise CheckpointError(f'{file}: step {index} state file {state} is missing')
        states[index] = state_path
    return ProcessorFiles(file, config, states)


def load_checkpoint(path, *, dtype=None, device='cpu', arch_hints=None, progress=None,
                    check_finite=True, lerobot_version='auto'):
    """
    Load a LeRobot pi0_fast checkpoint directory into a ready-to-run PaliGemma.

    dtype: 'float32' / 'bfloat16' (or torch dtype); None -> config.json's `dtype`. Under bf16
    LeRobot's fp32-kept parameters (per version) stay fp32. arch_hints: head layout for
    checkpoints not written by save_checkpoint whose sizes are not config.json's
    paligemma_variant (see model.config.infer_arch). lerobot_version: 'auto', '0.4' or '0.5'
    (lerobot_versions.py); the choice and its reason are logged and kept in .semantics.
    progress(done_bytes, total_bytes, weight_name) is called after each tensor.
    Raises CheckpointError naming the problem (never returns a partly initialised model).
    """
    check_device(device)   # a device problem is named as one, before any weight is read
    path = pathlib.Path(path)
    if not path.is_dir():
        raise CheckpointError(f'checkpoint directory {path} does not exist')
    config = read_config(path)
    dtype = resolve_dtype(dtype, config.dtype)
    pre, post = read_processor(path, PREPROCESSOR_FILE), read_processor(path, POSTPROCESSOR_FILE)
    check_processor_steps(pre, post)
    relative = read_relative_actions(config.raw, pre, post, config.action_dim, config.state_dim,
                                     str(path))
    weights = path / MODEL_FILE
    if not weights.is_file():
        raise CheckpointError(f'missing {MODEL_FILE} in {path}')
    try:
        with safe_open(str(weights), framework='pt') as f:
            names = _relative_names(f.keys(), weights)
            differs = _head_differs(f, names, weights)
            semantics = choose_semantics(lerobot_version, version_evidence(
                config.raw, pre, post, differs), str(path))
            model, arch = _load_weights(f, names, weights, dtype, device, arch_hints, progress,
                                        check_finite, semantics.numerics, config, differs)
    except Exception as e:  # safetensors raises its own error type for corrupt files
        if isinstance(e, CheckpointError):
            raise
        raise CheckpointError(f'{weights}: cannot read weights ({type(e).__name__}: {e})') from e
    _log.info('%s: %s', path, semantics.describe())
    if relative is not None:
        _log.info('%s: %s', path, relative.describe())
    return Checkpoint(path, config, arch, model, dtype, pre, post, semantics, relative)


def _relative_names(keys, source):
    """File key -> name relative to LEROBOT_PREFIX (either key convention); refuse the rest."""
    names, unexpected = {}, []
    for key in keys:
        if _LEGACY_MARKER in key:
            raise CheckpointError(f'{source}: key {key} is from the LeRobot <= 0.3 pi0fast '
                                  'format, which is not supported')
        full = 'model.' + key if key.startswith('paligemma_with_expert.') else key
        if full.startswith(LEROBOT_PREFIX):
            names[full[len(LEROBOT_PREFIX):]] = key
        else:
            unexpected.append(key)
    if unexpected:
        raise CheckpointError(f'{source}: unexpected keys {_some(unexpected)}')
    if EMBED in names and LM_HEAD not in names:  # tied: accept either name
        names[LM_HEAD] = names.pop(EMBED)
    return names


def _head_differs(f, names, source):
    """Whether lm_head and embed_tokens are both saved and differ (an untied head)."""
    if EMBED not in names or LM_HEAD not in names:
        return False
    head, table = _read_tensor(f, names[LM_HEAD], source), _read_tensor(f, names[EMBED], source)
    return head.shape != table.shape or not torch.equal(head, table)


def _arch_hints(f, arch_hints):
    """arch_hints as given, else the sizes save_checkpoint recorded, else none."""
    stored = (f.metadata() or {}).get(ARCH_METADATA_KEY)
    if stored and not arch_hints:
        saved = ArchConfig.from_json(stored)
        return {k: getattr(saved, k) for k in ('num_heads', 'num_kv_heads', 'head_dim',
                                               'vision_heads')}
    return dict(arch_hints or {})


def _load_weights(f, names, source, dtype, device, arch_hints, progress, check_finite,
                  numerics, config, untied):
    shapes = {rel: tuple(f.get_slice(key).get_shape()) for rel, key in names.items()}
    try:
        arch = infer_arch(shapes, _arch_hints(f, arch_hints), config.paligemma_variant)
    except ArchError as e:
        raise CheckpointError(f'{source}: {e}') from e
    expected = expected_shapes(arch)
    if untied:
        expected[EMBED] = expected[LM_HEAD]
    _check_names(shapes, expected, source)
    total = sum(_nbytes(f, names[n]) for n in expected)
    with torch.device('meta'):
        model = PaliGemma(arch, untied_head=untied, numerics=numerics)
    module_state, done = {}, 0
    for rel in sorted(expected):
        tensor = _read_tensor(f, names[rel], source)
        tensor = tensor.to(device=device, dtype=dtype_for(rel, dtype, numerics))
        if rel == LM_HEAD:
            tensor = aligned(tensor)
        if check_finite and not bool(torch.isfinite(tensor).all()):
            raise CheckpointError(f'{source}: weight {names[rel]} has non-finite values')
        module_state[to_module_name(rel, untied)] = tensor
        done += _nbytes(f, names[rel])
        if progress is not None:
            progress(done, total, names[rel])
    model.load_state_dict(module_state, strict=True, assign=True)
    return model.eval().requires_grad_(False), arch


def aligned(tensor):
    """Return the tensor itself when its data is ALIGNMENT-byte aligned, else an aligned copy."""
    if tensor.data_ptr() % ALIGNMENT == 0:
        return tensor
    return tensor.clone(memory_format=torch.contiguous_format)


def _check_names(shapes, expected, source):
    missing = sorted(set(expected) - set(shapes))
    unexpected = sorted(set(shapes) - set(expected) - {EMBED})  # an equal (tied) copy
    wrong = sorted(f'{n} {shapes[n]} (expected {expected[n]})' for n in expected
                   if n in shapes and shapes[n] != expected[n])
    problems = []
    if missing:
        problems.append('missing keys ' + _some([LEROBOT_PREFIX + n for n in missing]))
    if unexpected:
        problems.append('unexpected keys ' + _some([LEROBOT_PREFIX + n for n in unexpected]))
    if wrong:
        problems.append('shape mismatches ' + _some(wrong))
    if problems:
        raise CheckpointError(f'{source}: ' + '; '.join(problems))


def _read_tensor(f, key, source):
    kind = f.get_slice(key).get_dtype()
    if kind not in _FLOAT_DTYPES:
        raise CheckpointError(f'{source}: weight {key} has dtype {kind}, expected a float type')
    return f.get_tensor(key)


def _nbytes(f, key):
    s = f.get_slice(key)
    n = 1
    for d in s.get_shape():
        n *= d
    return n * {'F64': 8, 'F32': 4, 'BF16': 2, 'F16': 2}.get(s.get_dtype(), 1)


def _some(items, limit=8):
    items = list(items)
    more = f' ... and {len(items) - limit} more' if len(items) > limit else ''
    return ', '.join(items[:limit]) + more


def build_model(state_dict, arch=None, dtype='float32', device='cpu', numerics='0.4'):
    """
    Build a PaliGemma from an in-memory {LeRobot name: tensor} dict (init_random_weights).

    Same validation and dtype rule as load_checkpoint; arch supplies the head counts. An
    embed_tokens entry that differs from lm_head makes the head untied.
    """
    dtype = resolve_dtype(dtype)
    names = _relative_names(state_dict, 'state_dict')
    untied = _untied(state_dict, names)
    expected = expected_shapes(_validated_arch(state_dict, names, arch, untied))
    if untied:
        expected[EMBED] = expected[LM_HEAD]
    with torch.device('meta'):
        model = PaliGemma(arch, untied_head=untied, numerics=numerics)
    model.load_state_dict({to_module_name(rel, untied): state_dict[names[rel]].to(
        device=device, dtype=dtype_for(rel, dtype, numerics)) for rel in expected},
        strict=True, assign=True)
    return model.eval().requires_grad_(False)


def _untied(state_dict, names):
    if EMBED not in names or LM_HEAD not in names:
        return False
    head, table = state_dict[names[LM_HEAD]], state_dict[names[EMBED]]
    return head.shape != table.shape or not torch.equal(head, table)


def lerobot_state_dict(model):
    """Export a PaliGemma as {full LeRobot weight name: tensor} (a tied table as lm_head)."""
    return {LEROBOT_PREFIX + to_weight_name(k, model.untied_head): v
            for k, v in model.state_dict().items()}


def save_checkpoint(out_dir, config_dict, state_dict, *, arch=None):
    """
    Write config.json and model.safetensors in LeRobot's layout; returns the directory.

    state_dict: LeRobot weight names (with or without the leading `model.`), the tied table
    under lm_head and/or embed_tokens, or (LeRobot >= 0.5, untied) both, differing: then both
    are written. The weights are validated exactly as load_checkpoint would (arch: the
    ArchConfig they were made with, recorded in the safetensors metadata so head counts
    survive). config_dict must be a valid LeRobot pi0_fast config (see
    lerobot_config.default_config_dict). Processor files are the caller's.
    """
    out = pathlib.Path(out_dir)
    parse_config(config_dict, 'config_dict')
    unknown = sorted(set(config_dict) - KNOWN_FIELDS)
    if unknown:
        raise CheckpointError(f'config_dict: fields LeRobot would reject: {unknown}')
    names = _relative_names(state_dict, 'state_dict')
    untied = _untied(state_dict, names)
    tensors = {LEROBOT_PREFIX + rel: state_dict[key].detach().contiguous()
               for rel, key in names.items() if rel != EMBED or untied}
    inferred = _validated_arch(state_dict, names, arch, untied)
    metadata = {'format': 'pt', ARCH_METADATA_KEY: inferred.to_json()}
    if not untied:
        metadata[LEROBOT_PREFIX + EMBED] = LEROBOT_PREFIX + LM_HEAD
    out.mkdir(parents=True, exist_ok=True)
    _atomic_write(out / MODEL_FILE, lambda p: save_file(tensors, str(p), metadata=metadata))
    _atomic_write(out / CONFIG_FILE, lambda p: p.write_text(
        json.dumps(config_dict, indent=4) + '\n', encoding='utf-8'))
    return out


def _validated_arch(state_dict, names, arch, untied=False):
    """Infer and check the sizes of an in-memory state dict (arch gives the head counts)."""
    shapes = {rel: tuple(state_dict[key].shape) for rel, key in names.items()}
    hints = None if arch is None else {k: getattr(arch, k) for k in (
        'num_heads', 'num_kv_heads', 'head_dim', 'vision_heads')}
    try:
        inferred = infer_arch(shapes, hints)
    except ArchError as e:
        raise CheckpointError(f'state_dict: {e}') from e
    expected = expected_shapes(inferred)
    if untied:
        expected[EMBED] = expected[LM_HEAD]
    _check_names(shapes, expected, 'state_dict')
    return inferred


def _atomic_write(target, write):
    tmp = target.with_name(target.name + '.tmp')
    write(tmp)
    os.replace(tmp, target)


def init_random_weights(arch, seed=0, dtype=torch.float32, device='cpu'):
    """
    Seeded random weights for `arch` -> {full LeRobot name: tensor} (lm_head holds the table).

    Dtypes follow LeRobot's rule for `dtype` (bf16 keeps norms/patch/pos in fp32). Scales are
    chosen so that greedy decoding of a random model is informative: linear layers
    N(0, 1/fan_in), but a small embedding table (0.15/sqrt(width)), strong MLP outputs (x6) and
    weak attention outputs (x0.3), so the next token is a pseudo-random function of the current
    one and the context instead of a copy of it (the tied head otherwise makes every random
    model repeat its input token forever).
    """
    dtype = resolve_dtype(dtype)
    gen = torch.Generator(device=device).manual_seed(seed)
    out = {}
    for rel, shape in sorted(expected_shapes(arch).items()):
        t = torch.randn(shape, generator=gen, device=device)
        out[LEROBOT_PREFIX + rel] = _scale(rel, t, arch).to(dtype_for(rel, dtype))
    return out


def _scale(rel, t, arch):
    if rel.endswith('layernorm.weight') or 'layer_norm' in rel or rel.endswith('norm.weight'):
        if 'vision' in rel:  # LayerNorm: weight near 1, bias near 0
            return 1.0 + 0.1 * t if rel.endswith('weight') else 0.1 * t
        return 0.1 * t       # Gemma RMSNorm multiplies by (1 + w)
    if rel.endswith('.bias'):
        return 0.02 * t
    if rel == LM_HEAD:
        return 0.15 * t / arch.width ** 0.5
    if rel.endswith('position_embedding.weight'):
        return 0.5 * t
    gain = {'down_proj': 6.0, 'o_proj': 0.3}.get(rel.rsplit('.', 2)[-2], 1.0)
    return gain * t / t[0].numel() ** 0.5
