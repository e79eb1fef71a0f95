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
Static-cache engine vs the independent full-recompute reference and LeRobot's growing loop.

Every model is a tiny random checkpoint written by save_checkpoint and read by load_checkpoint.
"""

import json

from model_helpers import (  # noqa: F401
    common_stop_token, load_tiny, make_checkpoint, make_inputs, single_torch_thread, SMALL)
from pi0fast_ros.core.model import Pi0FastEngine, TINY
from pi0fast_ros.testing.growing_cache import generate_growing
from pi0fast_ros.testing.reference_model import reference_generate
import pytest
import torch


@pytest.mark.parametrize('seed,cameras,batch,prompts,img_masks', [
    (0, 1, 1, (30,), None),
    (1, 3, 2, (30, 57), [[True, True], [True, False], [False, False]]),
    (2, 2, 3, (5, 120, 200), [[True, True, True], [True, False, True]]),
])
def test_engine_matches_full_recompute_reference(tmp_path, seed, cameras, batch, prompts,
                                                 img_masks):
    ckpt, weights = load_tiny(tmp_path, seed=seed)
    inputs = make_inputs(SMALL, batch, cameras, prompts, seed=seed, img_masks=img_masks)
    tokens = Pi0FastEngine(ckpt.model).sample_actions_fast_kv_cache(*inputs, 20)
    expected = reference_generate(weights, SMALL, *inputs, 20)  # float64, no cache
    assert tokens.shape == (batch, 20)
    assert torch.equal(tokens, expected)
    assert len(set(tokens.flatten().tolist())) > 8  # a real sequence, not a repeated token


@pytest.mark.parametrize('dtype', ['float32', 'bfloat16'])
def test_engine_equals_lerobots_growing_cache_loop(tmp_path, dtype):
    # The real layout: 224 px, 256 tokens per camera, 200 prompt slots + BOS.
    ckpt, _ = load_tiny(tmp_path, arch=TINY, seed=3, dtype=dtype)
    inputs = make_inputs(TINY, 2, 2, (40, 90), seed=3, img_masks=[[True, True], [True, False]])
    tokens = Pi0FastEngine(ckpt.model).sample_actions_fast_kv_cache(*inputs, 24)
    assert torch.equal(tokens, generate_growing(ckpt.model, *inputs, 24))
    assert len(set(tokens.flatten().tolist())) > 8


def test_static_fixed_shape_step_matches_exact_step(tmp_path):
    ckpt, _ = load_tiny(tmp_path, seed=4)
    inputs = make_inputs(SMALL, 2, 2, (12, 33), seed=4)
    exact = Pi0FastEngine(ckpt.model, mode='exact').sample_actions_fast_kv_cache(*inputs, 32)
    static = Pi0FastEngine(ckpt.model, mode='static').sample_actions_fast_kv_cache(*inputs, 32)
    assert torch.equal(exact, static)


def test_per_camera_vision_calls_give_the_same_tokens(tmp_path):
    ckpt, _ = load_tiny(tmp_path, seed=5)
    inputs = make_inputs(SMALL, 2, 3, (20,), seed=5, img_masks=[[1, 1], [0, 0], [1, 0]])
    batched = Pi0FastEngine(ckpt.model).sample_actions_fast_kv_cache(*inputs, 16)
    per_camera = Pi0FastEngine(ckpt.model, batch_cameras=False).sample_actions_fast_kv_cache(
        *inputs, 16)
    assert torch.equal(batched, per_camera)


def test_present_cameras_go_through_siglip_in_one_call_and_masked_ones_are_skipped(tmp_path):
    ckpt, _ = load_tiny(tmp_path, seed=6)
    calls = []
    ckpt.model.vision.register_forward_hook(lambda m, args, out: calls.append(args[0].shape[0]))
    images, img_masks, tokens, masks = make_inputs(
        SMALL, 2, 3, (20,), seed=6, img_masks=[[True, True], [False, False], [True, False]])
    engine = Pi0FastEngine(ckpt.model)
    before = engine.sample_actions_fast_kv_cache(images, img_masks, tokens, masks, 16)
    assert calls == [3]  # one call, the 3 present (camera, row) pairs
    # Nothing attends to a masked slot: its pixels cannot matter ...
    images[1] = torch.rand_like(images[1])
    images[2][1] = -images[2][1]
    assert torch.equal(engine.sample_actions_fast_kv_cache(images, img_masks, tokens, masks, 16),
                       before)
    # ... while a present camera's pixels do.
    images[0] = torch.rand_like(images[0])
    after = engine.sample_actions_fast_kv_cache(images, img_masks, tokens, masks, 16)
    assert not torch.equal(after, before)


def test_stop_when_every_row_emitted_the_end_marker_is_exact(tmp_path):
    ckpt, _ = load_tiny(tmp_path, seed=7)
    inputs = make_inputs(SMALL, 2, 2, (25, 70), seed=7)
    engine = Pi0FastEngine(ckpt.model)
    full = engine.generate(*inputs, 48)
    assert full.tokens.shape == (2, 48) and not full.stopped
    assert full.lengths.tolist() == [48, 48]
    stop, step0, step1 = common_stop_token(full.tokens)
    early = engine.generate(*inputs, 48, stop_token_id=stop)
    n = max(step0, step1) + 1
    assert early.stopped and early.tokens.shape == (2, n)
    assert torch.equal(early.tokens, full.tokens[:, :n])  # nothing before the stop changes
    assert early.lengths.tolist() == [step0 + 1, step1 + 1]
    assert early.timings['steps'] == n
    unused = next(i for i in range(SMALL.vocab_size) if i not in full.tokens)
    never = engine.generate(*inputs, 48, stop_token_id=unused)
    assert not never.stopped and torch.equal(never.tokens, full.tokens)


def test_token_api_defaults_to_256_steps_and_never_stops_early(tmp_path):
    ckpt, _ = load_tiny(tmp_path, seed=8)
    inputs = make_inputs(SMALL, 1, 1, (10,), seed=8)
    engine = Pi0FastEngine(ckpt.model)
    tokens = engine.sample_actions_fast_kv_cache(*inputs)
    assert tokens.shape == (1, 256) and tokens.dtype == torch.long
    again = engine.sample_actions_fast_kv_cache(*inputs)  # cache state reused, not leaked
    assert torch.equal(again, tokens)
    assert torch.equal(engine.generate(*inputs, 256).tokens, tokens)


def test_sampling_is_seeded_and_tends_to_greedy_at_low_temperature(tmp_path):
    ckpt, _ = load_tiny(tmp_path, seed=9)
    inputs = make_inputs(SMALL, 2, 1, (15, 40), seed=9)
    engine = Pi0FastEngine(ckpt.model)
    greedy = engine.sample_actions_fast_kv_cache(*inputs, 24)

    def sample(seed, temperature):
        gen = torch.Generator().manual_seed(seed)
        return engine.sample_actions_fast_kv_cache(*inputs, 24, temperature,
                                                   generator=gen)
    assert torch.equal(sample(1, 1.0), sample(1, 1.0))
    assert not torch.equal(sample(1, 1.0), sample(2, 1.0))
    assert not torch.equal(sample(1, 1.0), greedy)
    assert torch.equal(sample(3, 1e-4), greedy)


def test_constrained_vocabulary(tmp_path):
    ckpt, _ = load_tiny(tmp_path, seed=10)
    inputs = make_inputs(SMALL, 2, 2, (20, 44), seed=10)
    engine = Pi0FastEngine(ckpt.model)
    greedy = engine.generate(*inputs, 24).tokens
    everything = range(SMALL.vocab_size)
    assert torch.equal(engine.generate(*inputs, 24, allowed_token_ids=everything).tokens, greedy)
    # A set holding every greedy choice (plus others) changes nothing: it equals full greedy.
    superset = sorted(set(greedy.flatten().tolist()) | set(range(0, SMALL.vocab_size, 7)))
    assert torch.equal(engine.generate(*inputs, 24, allowed_token_ids=superset).tokens, greedy)
    # Banning row 0's token at step 5 from step 5 on: earlier steps unchanged, step 5 differs
    # and every constrained choice is allowed.
    banned = int(greedy[0, 5])
    allowed = [i for i in everything if i != banned]
    out = engine.generate(*inputs, 24, allowed_token_ids=allowed, constrain_after=5).tokens
    assert torch.equal(out[:, :5], greedy[:, :5])
    assert out[0, 5] != banned and banned not in out[:, 5:]


def test_restricted_head_is_the_argmax_over_the_allowed_rows(tmp_path):
    ckpt, _ = load_tiny(tmp_path, seed=11)
    engine = Pi0FastEngine(ckpt.model)
    hidden = torch.randn(3, 1, SMALL.width, generator=torch.Generator().manual_seed(0))
    allowed = list(range(100, 600, 3))
    restricted = engine._restriction(allowed)
    picked = engine._pick(hidden, 1, 0.0, None, restricted, 0)[:, 0]
    logits = ckpt.model.lm_head(hidden)[:, 0]
    masked = torch.full_like(logits, float('-inf'))
    masked[:, allowed] = logits[:, allowed]
    assert torch.equal(picked, masked.argmax(-1))


def test_bfloat16_engine_runs_in_bf16_and_stays_close_to_fp32(tmp_path):
    ckpt32, _ = load_tiny(tmp_path / 'a', seed=12)
    ckpt16, _ = load_tiny(tmp_path / 'b', seed=12, dtype='bfloat16')
    inputs = make_inputs(SMALL, 1, 2, (30,), seed=12)
    e32, e16 = Pi0FastEngine(ckpt32.model), Pi0FastEngine(ckpt16.model)
    t32 = e32.sample_actions_fast_kv_cache(*inputs, 16)
    t16 = e16.sample_actions_fast_kv_cache(*inputs, 16)
    assert e16._state.k.dtype == torch.bfloat16 and e32._state.k.dtype == torch.float32
    # first-step logits: bf16 within a few bf16 ulps of fp32; tokens usually agree at first
    h32, h16 = _first_hidden(e32, inputs), _first_hidden(e16, inputs)
    l32, l16 = ckpt32.model.lm_head(h32), ckpt16.model.lm_head(h16).float()
    assert l16.dtype == torch.float32 and ckpt16.model.lm_head(h16).dtype == torch.bfloat16
    assert (l32 - l16).abs().max() < 0.05 * l32.abs().max()
    assert t16[0, 0] == t32[0, 0]


def _first_hidden(engine, inputs):
    from pi0fast_ros.core.model.decode import DecodeState, prefill
    from pi0fast_ros.core.model.prefix import build_prefix
    prefix = build_prefix(engine.model, *inputs, 2)
    state = DecodeState(engine.model, 1, prefix.length, 2)
    state.reset(prefix.pad)
    return prefill(engine.model, prefix, state)


def test_decode_state_is_allocated_once_per_configuration(tmp_path):
    ckpt, _ = load_tiny(tmp_path, seed=13)
    engine = Pi0FastEngine(ckpt.model)
    inputs = make_inputs(SMALL, 1, 2, (20,), seed=13)
    engine.generate(*inputs, 12)
    state = engine._state
    engine.generate(*make_inputs(SMALL, 1, 2, (60,), seed=14), 12)
    assert engine._state is state  # same batch, prefix length and steps: no reallocation
    engine.generate(*make_inputs(SMALL, 2, 2, (20,), seed=13), 12)
    assert engine._state is not state and engine._state.key() == (2, state.prefix_len, 12)


@pytest.mark.parametrize('change,message', [
    (lambda i: i[0].__setitem__(0, i[0][0][:, :, :8]), r'images\[0\] must be a float tensor'),
    (lambda i: i[1].__setitem__(0, i[1][0].long()), r'img_masks\[0\] must be a \[1\] bool'),
    (lambda i: i[1].__setitem__(0, torch.tensor([False])), 'at least one camera'),
    (lambda i: i[0][0].__setitem__((0, 0, 0, 0), float('nan')), 'non-finite'),
    (lambda i: i.__setitem__(3, i[3][:, :10]), 'masks must be a bool tensor of shape'),
    (lambda i: i.__setitem__(2, i[2].float()), 'tokens must be'),
    (lambda i: i[2].__setitem__((0, 1), SMALL.vocab_size), 'tokens must lie in'),
    (lambda i: i.__setitem__(1, i[1][:0]), 'img_masks must be a list of 1'),
    (lambda i: i.__setitem__(0, i[0][0]), 'images must be a list of tensors'),
    (lambda i: i.__setitem__(2, i[2].tolist()), 'tokens and masks must be tensors'),
])
def test_bad_inputs_are_refused_with_a_specific_error(tmp_path, change, message):
    ckpt, _ = load_tiny(tmp_path)
    images, img_masks, tokens, masks = make_inputs(SMALL, 1, 1, (10,))
    inputs = [images, img_masks, tokens, masks]
    change(inputs)
    with pytest.raises(ValueError, match=message):
        Pi0FastEngine(ckpt.model).generate(*inputs, 4)


def test_bad_decoding_arguments_are_refused(tmp_path):
    ckpt, _ = load_tiny(tmp_path)
    inputs = make_inputs(SMALL, 1, 1, (10,))
    engine = Pi0FastEngine(ckpt.model)
    with pytest.raises(ValueError, match='max_steps must be >= 1'):
        engine.generate(*inputs, 0)
    with pytest.raises(ValueError, match='temperature must be >= 0'):
        engine.generate(*inputs, 4, temperature=-1.0)
    with pytest.raises(ValueError, match='strictly ascending'):
        engine.generate(*inputs, 4, allowed_token_ids=[5, 3])
    with pytest.raises(ValueError, match='mode must be one of'):
        Pi0FastEngine(ckpt.model, mode='fast')
    with pytest.raises(ValueError, match='cuda_graph needs a CUDA model'):
        Pi0FastEngine(ckpt.model, cuda_graph=True)


def test_from_checkpoint_takes_the_default_length_from_config(tmp_path):
    make_checkpoint(tmp_path, seed=15)
    config = json.loads((tmp_path / 'config.json').read_text())
    config['max_action_tokens'] = 12
    (tmp_path / 'config.json').write_text(json.dumps(config))
    engine = Pi0FastEngine.from_checkpoint(tmp_path)
    assert engine.max_action_tokens == 12
    tokens = engine.sample_actions_fast_kv_cache(*make_inputs(SMALL, 1, 2, (9,), seed=15))
    assert tokens.shape == (1, 12)


def test_decode_tables_follow_the_model_dtype(tmp_path):
    ckpt, _ = load_tiny(tmp_path, dtype='bfloat16')
    engine = Pi0FastEngine(ckpt.model)
    engine.generate(*make_inputs(SMALL, 1, 1, (9,)), 3)
    state = engine._state
    assert state.inv_freq.dtype == state.cos.dtype == state.k.dtype == torch.bfloat16
