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

"""Checkpoint loading/saving: round trips, key conventions, tie handling, every refusal."""

import json

from model_helpers import load_tiny, make_checkpoint, single_torch_thread, SMALL  # noqa: F401
from pi0fast_ros.core.model.config import EMBED, LEROBOT_PREFIX, LM_HEAD
from pi0fast_ros.core.policy.checkpoint import (
    build_model, CheckpointError, init_random_weights, lerobot_state_dict, load_checkpoint,
    save_checkpoint)
from pi0fast_ros.core.policy.lerobot_config import default_config_dict
import pytest
from safetensors import safe_open
from safetensors.torch import load_file, save_file
import torch

FULL_EMBED = LEROBOT_PREFIX + EMBED
FULL_LM_HEAD = LEROBOT_PREFIX + LM_HEAD


def _config(**overrides):
    return default_config_dict({'observation.images.cam0': ('VISUAL', (3, 56, 56))},
                               {'action': ('ACTION', (6,))}, **overrides)


def _rewrite_weights(path, change):
    """Load model.safetensors, let `change` edit the dict, write it back (keeping metadata)."""
    file = path / 'model.safetensors'
    with safe_open(str(file), 'pt') as f:
        metadata = f.metadata()
    tensors = load_file(str(file))
    change(tensors)
    save_file(tensors, str(file), metadata=metadata)


def _set_config(path, **fields):
    file = path / 'config.json'
    cfg = json.loads(file.read_text())
    cfg.update(fields)
    file.write_text(json.dumps(cfg))


def test_round_trip_fp32_is_exact_and_in_lerobot_layout(tmp_path):
    ckpt, weights = load_tiny(tmp_path)
    assert ckpt.arch == SMALL and ckpt.dtype == torch.float32
    with safe_open(str(tmp_path / 'model.safetensors'), 'pt') as f:
        keys, metadata = set(f.keys()), f.metadata()
    # LeRobot's layout: the tie is stored under lm_head only, as safetensors.save_model does.
    assert FULL_LM_HEAD in keys and FULL_EMBED not in keys
    assert metadata[FULL_EMBED] == FULL_LM_HEAD
    assert all(k.startswith(LEROBOT_PREFIX) for k in keys)
    exported = lerobot_state_dict(ckpt.model)
    assert set(exported) == set(weights)
    for name, tensor in weights.items():
        assert torch.equal(exported[name], tensor), name


def test_bfloat16_keeps_lerobots_fp32_parameters(tmp_path):
    ckpt, weights = load_tiny(tmp_path, dtype='bfloat16')
    assert ckpt.dtype == torch.bfloat16 and ckpt.config.dtype == 'bfloat16'
    fp32 = {n for n, p in lerobot_state_dict(ckpt.model).items() if p.dtype == torch.float32}
    expected = {LEROBOT_PREFIX + 'model.vision_tower.vision_model.embeddings.' + n for n in
                ('patch_embedding.weight', 'patch_embedding.bias',
                 'position_embedding.weight')}
    expected.add(LEROBOT_PREFIX + 'model.language_model.norm.weight')
    for i in range(SMALL.depth):
        for norm in ('input_layernorm', 'post_attention_layernorm'):
            expected.add(f'{LEROBOT_PREFIX}model.language_model.layers.{i}.{norm}.weight')
    assert fp32 == expected
    # the rest, SigLIP LayerNorms, projector and the embedding/lm_head included, is bf16
    assert ckpt.model.gemma.embed_tokens.weight.dtype == torch.bfloat16
    assert ckpt.model.vision.post_layernorm.weight.dtype == torch.bfloat16


def test_dtype_override_converts_with_round_to_nearest(tmp_path):
    weights = make_checkpoint(tmp_path)  # stored fp32
    ckpt = load_checkpoint(tmp_path, dtype=torch.bfloat16)
    q = 'model.language_model.layers.0.self_attn.q_proj.weight'
    got = lerobot_state_dict(ckpt.model)[LEROBOT_PREFIX + q]
    assert got.dtype == torch.bfloat16
    assert torch.equal(got, weights[LEROBOT_PREFIX + q].to(torch.bfloat16))
    assert load_checkpoint(tmp_path, dtype='float32').dtype == torch.float32


def test_keys_without_leading_model_prefix_load(tmp_path):
    weights = make_checkpoint(tmp_path)

    def strip(tensors):
        for key in list(tensors):
            tensors[key[len('model.'):]] = tensors.pop(key)
    _rewrite_weights(tmp_path, strip)
    exported = lerobot_state_dict(load_checkpoint(tmp_path).model)
    assert all(torch.equal(exported[k], v) for k, v in weights.items())


def test_tied_table_may_be_stored_as_embed_tokens_or_both(tmp_path):
    weights = make_checkpoint(tmp_path)
    _rewrite_weights(tmp_path, lambda t: t.__setitem__(FULL_EMBED, t.pop(FULL_LM_HEAD)))
    model = load_checkpoint(tmp_path).model
    assert torch.equal(model.gemma.embed_tokens.weight, weights[FULL_LM_HEAD])
    _rewrite_weights(tmp_path, lambda t: t.__setitem__(FULL_LM_HEAD, t[FULL_EMBED].clone()))
    assert torch.equal(load_checkpoint(tmp_path).model.gemma.embed_tokens.weight,
                       weights[FULL_LM_HEAD])


def test_progress_reports_every_byte(tmp_path):
    make_checkpoint(tmp_path)
    calls = []
    load_checkpoint(tmp_path, progress=lambda done, total, name: calls.append((done, total)))
    dones = [d for d, _ in calls]
    assert dones == sorted(dones) and len(calls) > 10
    assert dones[-1] == calls[-1][1] == sum(
        t.numel() * t.element_size() for t in load_file(str(tmp_path / 'model.safetensors'))
        .values())


@pytest.mark.parametrize('kind,message', [
    ('pi0fast', 'LeRobot <= 0.3'), ('pi0', "'pi0' is not 'pi0_fast'"),
    (None, "None is not 'pi0_fast'")])
def test_refuses_other_policy_types(tmp_path, kind, message):
    make_checkpoint(tmp_path)
    _set_config(tmp_path, type=kind)
    with pytest.raises(CheckpointError, match=message):
        load_checkpoint(tmp_path)


def test_refuses_legacy_pi0fast_weight_keys(tmp_path):
    make_checkpoint(tmp_path)
    _rewrite_weights(tmp_path, lambda t: t.__setitem__(
        'model.pi0_paligemma.language_model.norm.weight', torch.zeros(3)))
    with pytest.raises(CheckpointError, match=r'pi0_paligemma.*<= 0.3'):
        load_checkpoint(tmp_path)


def test_refuses_missing_files_and_directories(tmp_path):
    with pytest.raises(CheckpointError, match='does not exist'):
        load_checkpoint(tmp_path / 'nowhere')
    make_checkpoint(tmp_path)
    (tmp_path / 'model.safetensors').unlink()
    with pytest.raises(CheckpointError, match='missing model.safetensors'):
        load_checkpoint(tmp_path)
    (tmp_path / 'config.json').unlink()
    with pytest.raises(CheckpointError, match='config.json is missing in'):
        load_checkpoint(tmp_path)


def test_refuses_corrupt_files(tmp_path):
    make_checkpoint(tmp_path)
    (tmp_path / 'config.json').write_text('{"type": "pi0_fast",')
    with pytest.raises(CheckpointError, match='not readable JSON'):
        load_checkpoint(tmp_path)
    (tmp_path / 'config.json').write_text(json.dumps(_config()))
    (tmp_path / 'model.safetensors').write_bytes(b'\x10\x00\x00\x00\x00\x00\x00\x00not json')
    with pytest.raises(CheckpointError, match='cannot read weights'):
        load_checkpoint(tmp_path)


def test_refuses_missing_keys_naming_them(tmp_path):
    make_checkpoint(tmp_path)
    key = LEROBOT_PREFIX + 'model.language_model.layers.1.mlp.up_proj.weight'
    _rewrite_weights(tmp_path, lambda t: t.pop(key))
    with pytest.raises(CheckpointError, match=r'missing keys .*layers\.1\.mlp\.up_proj'):
        load_checkpoint(tmp_path)


def test_refuses_missing_layer_and_missing_table(tmp_path):
    make_checkpoint(tmp_path)

    def drop_layer(t):
        for k in [k for k in t if '.language_model.layers.0.' in k]:
            t.pop(k)
    _rewrite_weights(tmp_path, drop_layer)
    with pytest.raises(CheckpointError, match=r'layers \[0\] missing|missing weight'):
        load_checkpoint(tmp_path)
    make_checkpoint(tmp_path)
    _rewrite_weights(tmp_path, lambda t: t.pop(FULL_LM_HEAD))
    with pytest.raises(CheckpointError, match='missing weight .*lm_head'):
        load_checkpoint(tmp_path)


@pytest.mark.parametrize('key', [
    LEROBOT_PREFIX + 'model.language_model.layers.0.self_attn.extra.weight',
    'model.something_else.weight'])
def test_refuses_unexpected_keys_naming_them(tmp_path, key):
    make_checkpoint(tmp_path)
    _rewrite_weights(tmp_path, lambda t: t.__setitem__(key, torch.zeros(2)))
    with pytest.raises(CheckpointError, match='unexpected keys .*' + key.replace('.', r'\.')):
        load_checkpoint(tmp_path)


def test_refuses_shape_mismatch_naming_the_key(tmp_path):
    make_checkpoint(tmp_path)
    key = LEROBOT_PREFIX + 'model.language_model.layers.1.mlp.down_proj.weight'
    _rewrite_weights(tmp_path, lambda t: t.__setitem__(key, t[key][:, :-1].contiguous()))
    with pytest.raises(CheckpointError, match=r'shape mismatches .*layers\.1\.mlp\.down_proj'):
        load_checkpoint(tmp_path)


def test_refuses_projector_that_does_not_match_the_decoder_width(tmp_path):
    make_checkpoint(tmp_path)
    key = LEROBOT_PREFIX + 'model.multi_modal_projector.linear.weight'
    _rewrite_weights(tmp_path, lambda t: t.__setitem__(key, torch.zeros(2 * SMALL.width,
                                                                        SMALL.vision_width)))
    with pytest.raises(CheckpointError, match='multi_modal_projector'):
        load_checkpoint(tmp_path)


def test_refuses_non_finite_and_non_float_weights(tmp_path):
    make_checkpoint(tmp_path)
    key = LEROBOT_PREFIX + 'model.language_model.layers.0.self_attn.v_proj.weight'

    def poison(t):
        t[key] = t[key].clone()
        t[key][0, 0] = float('nan')
    _rewrite_weights(tmp_path, poison)
    with pytest.raises(CheckpointError, match='v_proj.weight has non-finite values'):
        load_checkpoint(tmp_path)
    _rewrite_weights(tmp_path, lambda t: t.__setitem__(key, t[key].to(torch.int32)))
    with pytest.raises(CheckpointError, match='v_proj.weight has dtype I32'):
        load_checkpoint(tmp_path)


def test_differing_tables_are_an_untied_head_of_lerobot_0_5(tmp_path):
    weights = make_checkpoint(tmp_path)
    _rewrite_weights(tmp_path, lambda t: t.__setitem__(FULL_EMBED, t[FULL_LM_HEAD] + 1))
    ckpt = load_checkpoint(tmp_path)
    assert ckpt.semantics.version == '0.5' and 'untied' in ckpt.semantics.reason
    assert ckpt.model.untied_head
    assert torch.equal(ckpt.model.output_table, weights[FULL_LM_HEAD])
    assert torch.equal(ckpt.model.gemma.embed_tokens.weight, weights[FULL_LM_HEAD] + 1)
    exported = lerobot_state_dict(ckpt.model)
    assert torch.equal(exported[FULL_EMBED], weights[FULL_LM_HEAD] + 1)
    with pytest.raises(CheckpointError, match='lerobot_version 0.4 was asked for.*untied'):
        load_checkpoint(tmp_path, lerobot_version='0.4')
    _rewrite_weights(tmp_path, lambda t: t.__setitem__(FULL_EMBED, t[FULL_LM_HEAD][:-1] + 1))
    with pytest.raises(CheckpointError, match='shape mismatches .*embed_tokens'):
        load_checkpoint(tmp_path)


@pytest.mark.parametrize('fields,message', [
    ({'dtype': 'float16'}, "dtype 'float16' is not one of"),
    ({'n_action_steps': 60}, 'n_action_steps 60 > chunk_size 50'),
    ({'max_decoding_steps': 0}, 'max_decoding_steps must be an integer >= 1'),
    ({'input_features': {'observation.images.x': {'type': 'PIXELS', 'shape': [3]}}},
     r"input_features\['observation.images.x'\]"),
    ({'normalization_mapping': {'STATE': 'ZSCORE'}}, 'normalization_mapping entry'),
    ({'temperature': -1}, 'temperature must be a finite number >= 0')])
def test_refuses_malformed_config_fields(tmp_path, fields, message):
    make_checkpoint(tmp_path)
    _set_config(tmp_path, **fields)
    with pytest.raises(CheckpointError, match=message):
        load_checkpoint(tmp_path)


def test_refuses_bad_dtype_override(tmp_path):
    make_checkpoint(tmp_path)
    with pytest.raises(CheckpointError, match="dtype 'fp16' is not one of"):
        load_checkpoint(tmp_path, dtype='fp16')
    with pytest.raises(CheckpointError, match='is not one of'):
        load_checkpoint(tmp_path, dtype=torch.float16)


def test_head_counts_need_metadata_or_hints(tmp_path):
    make_checkpoint(tmp_path)
    file = tmp_path / 'model.safetensors'
    save_file(load_file(str(file)), str(file))  # as LeRobot writes it: no arch metadata
    with pytest.raises(CheckpointError, match='head layout cannot be determined'):
        load_checkpoint(tmp_path)
    ckpt = load_checkpoint(tmp_path, arch_hints={'vision_heads': SMALL.vision_heads,
                                                 'head_dim': SMALL.head_dim})
    assert ckpt.arch == SMALL
    with pytest.raises(CheckpointError, match='do not split'):
        load_checkpoint(tmp_path, arch_hints={'vision_heads': 4, 'head_dim': 48})


def test_processor_files_are_exposed_and_checked(tmp_path):
    make_checkpoint(tmp_path)
    assert load_checkpoint(tmp_path).preprocessor is None
    state = 'policy_preprocessor_step_2_normalizer_processor.safetensors'
    save_file({'observation.state.mean': torch.zeros(6)}, str(tmp_path / state))
    (tmp_path / 'policy_preprocessor.json').write_text(json.dumps({
        'name': 'policy_preprocessor', 'steps': [
            {'registry_name': 'rename_observations_processor', 'config': {}},
            {'registry_name': 'to_batch_processor', 'config': {}},
            {'registry_name': 'normalizer_processor', 'config': {}, 'state_file': state}]}))
    pre = load_checkpoint(tmp_path).preprocessor
    assert pre.state_file('normalizer_processor') == tmp_path / state
    assert pre.state_file('unnormalizer_processor') is None
    (tmp_path / state).unlink()
    with pytest.raises(CheckpointError, match='step 2 state file .* is missing'):
        load_checkpoint(tmp_path)


def test_save_refuses_fields_lerobot_would_reject(tmp_path):
    weights = init_random_weights(SMALL)
    with pytest.raises(CheckpointError, match='not LeRobot pi0_fast config fields'):
        _config(our_extension=1)
    with pytest.raises(CheckpointError, match='would reject'):
        save_checkpoint(tmp_path, {**_config(), 'our_extension': 1}, weights, arch=SMALL)
    weights.pop(FULL_LM_HEAD)
    with pytest.raises(CheckpointError, match='missing weight'):
        save_checkpoint(tmp_path, _config(), weights, arch=SMALL)


def test_random_weights_are_seeded(tmp_path):
    a, b = init_random_weights(SMALL, seed=3), init_random_weights(SMALL, seed=3)
    c = init_random_weights(SMALL, seed=4)
    assert all(torch.equal(a[k], b[k]) for k in a)
    assert not torch.equal(a[FULL_LM_HEAD], c[FULL_LM_HEAD])


def test_build_model_from_memory_equals_the_loaded_checkpoint(tmp_path):
    ckpt, weights = load_tiny(tmp_path, dtype='bfloat16')
    built = build_model(weights, SMALL, dtype='bfloat16')
    loaded, rebuilt = lerobot_state_dict(ckpt.model), lerobot_state_dict(built)
    assert all(torch.equal(loaded[k], rebuilt[k]) and loaded[k].dtype == rebuilt[k].dtype
               for k in loaded)
    weights.pop(FULL_LM_HEAD)
    with pytest.raises(CheckpointError, match='missing weight'):
        build_model(weights, SMALL)
