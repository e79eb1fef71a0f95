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
The compacted prefix (modes 'compact' and 'static') vs LeRobot's layout (mode 'exact').

Dropping pad slots only changes float summation order, so in fp32 the tokens must be identical
over 256 greedy steps and the logits equal within a few fp32 ulps of their magnitude.
"""

from model_helpers import (  # noqa: F401
    common_stop_token, load_tiny, make_inputs, single_torch_thread, SMALL)
from pi0fast_ros.core.model import Pi0FastEngine, TINY
from pi0fast_ros.core.model.compact import build_compact_prefix
from pi0fast_ros.core.model.decode import DecodeState
import pytest
import torch

# Logits are sums of ~width products through 2 layers; reordering the prefix sums (and
# SDPA over n instead of C keys) moves them by a few fp32 ulps of the largest activation.
# 1e-5 relative to the largest |logit| is ~100 ulps: far below any gap that would flip an
# argmax on these models, far above the differences measured (<= 5.1e-7 absolute, 7e-7 relative).
LOGIT_RTOL = 1e-5


@pytest.mark.parametrize('arch,seed,cameras,batch,prompts,img_masks', [
    (SMALL, 20, 1, 1, (30,), None),
    (SMALL, 21, 2, 1, (57,), [[True], [False]]),
    (SMALL, 22, 3, 2, (12, 90), [[True, True], [True, False], [False, True]]),
    (SMALL, 23, 2, 3, (5, 200, 48), [[True, False, True], [True, True, True]]),
    (TINY, 24, 2, 2, (45, 60), [[True, True], [True, False]]),
])
def test_compacted_prefix_gives_exact_modes_tokens_for_256_steps(
        tmp_path, arch, seed, cameras, batch, prompts, img_masks):
    ckpt, _ = load_tiny(tmp_path, arch=arch, seed=seed)
    inputs = make_inputs(arch, batch, cameras, prompts, seed=seed, img_masks=img_masks)
    exact = Pi0FastEngine(ckpt.model, mode='exact').generate(*inputs, 256, return_logits=True)
    scale = exact.logits.abs().max()
    for mode in ('compact', 'static'):
        out = Pi0FastEngine(ckpt.model, mode=mode).generate(*inputs, 256, return_logits=True)
        assert torch.equal(out.tokens, exact.tokens), mode
        assert (out.logits - exact.logits).abs().max() <= LOGIT_RTOL * scale, mode
    assert len(set(exact.tokens.flatten().tolist())) > 20  # a real sequence


def test_compact_prefix_keeps_valid_tokens_in_order_and_masks_only_when_needed(tmp_path):
    ckpt, _ = load_tiny(tmp_path, seed=25)
    model, n_img = ckpt.model, (SMALL.image_size // SMALL.patch_size) ** 2
    inputs = make_inputs(SMALL, 2, 2, (7, 19), seed=25, img_masks=[[True, False], [True, True]])
    prefix = build_compact_prefix(model, *inputs, 2)
    # row 0: 2 cameras + 7 prompt + BOS; row 1: 1 camera + 19 + BOS
    assert prefix.lengths.tolist() == [2 * n_img + 8, n_img + 20]
    assert prefix.capacity == 2 * n_img + 200 + 1 and prefix.length == 2 * n_img + 8
    assert prefix.key_mask is not None and prefix.valid.sum(1).tolist() == [40, 36]
    # the prompt embeddings follow the images, the BOS ends each row
    text = model.embed_tokens(inputs[2][1, :19]).to(prefix.embeddings.dtype)
    assert torch.equal(prefix.embeddings[1, n_img:n_img + 19], text)
    bos = model.embed_tokens(torch.tensor([2]))[0]
    assert torch.equal(prefix.embeddings[0, 2 * n_img + 7], bos)
    assert torch.equal(prefix.embeddings[1, n_img + 19], bos)
    # equal valid counts (different layouts) and batch 1: no key mask at all (flash SDPA)
    same = make_inputs(SMALL, 2, 2, (20, 4), seed=25, img_masks=[[False, True], [True, True]])
    assert build_compact_prefix(model, *same, 2).key_mask is None
    assert build_compact_prefix(model, *make_inputs(SMALL, 1, 2, (9,)), 2).key_mask is None


@pytest.mark.parametrize('mode', ['compact', 'static'])
def test_compact_stop_at_end_marker_keeps_every_token_before_it(tmp_path, mode):
    ckpt, _ = load_tiny(tmp_path, seed=26)
    inputs = make_inputs(SMALL, 2, 2, (25, 70), seed=26, img_masks=[[True, True], [True, False]])
    engine = Pi0FastEngine(ckpt.model, mode=mode)
    full = engine.generate(*inputs, 64)
    assert torch.equal(full.tokens, Pi0FastEngine(ckpt.model).generate(*inputs, 64).tokens)
    # an id both rows emit, first at different steps, plays the end marker ("|")
    stop, step0, step1 = common_stop_token(full.tokens)
    firsts = [step0, step1]
    early = engine.generate(*inputs, 64, stop_token_id=stop)
    n = max(firsts) + 1
    assert early.stopped and early.tokens.shape == (2, n) and n < 64
    assert torch.equal(early.tokens, full.tokens[:, :n])
    assert early.lengths.tolist() == [f + 1 for f in firsts]


@pytest.mark.parametrize('mode', ['compact', 'static'])
def test_compact_cache_is_allocated_once_per_configuration(tmp_path, mode):
    ckpt, _ = load_tiny(tmp_path, seed=27)
    engine = Pi0FastEngine(ckpt.model, mode=mode)
    long_prompt = make_inputs(SMALL, 2, 2, (150, 200), seed=27)
    short_prompt = make_inputs(SMALL, 2, 2, (9, 30), seed=28,
                               img_masks=[[True, False], [True, True]])
    engine.generate(*long_prompt, 24)
    state, k_ptr = engine._state, engine._state.k.data_ptr()
    assert state.key() == (2, 2 * 16 + 201, 24)  # the uncompacted capacity
    # other prompt lengths and camera masks reuse the cache, and nothing stale leaks
    short = engine.generate(*short_prompt, 24)
    assert engine._state is state and state.k.data_ptr() == k_ptr
    assert torch.equal(short.tokens, Pi0FastEngine(ckpt.model, mode=mode).generate(
        *short_prompt, 24).tokens)
    assert torch.equal(engine.generate(*long_prompt, 24).tokens,
                       Pi0FastEngine(ckpt.model).generate(*long_prompt, 24).tokens)
    assert engine._state is state
    # another batch size or step count is another configuration
    engine.generate(*make_inputs(SMALL, 1, 2, (20,), seed=29), 24)
    assert engine._state is not state and engine._state.key() == (1, 2 * 16 + 201, 24)


def test_decode_state_refuses_a_prefix_longer_than_its_capacity(tmp_path):
    ckpt, _ = load_tiny(tmp_path, seed=30)
    state = DecodeState(ckpt.model, 1, 10, 4)
    with pytest.raises(ValueError, match='prefix of 11 slots exceeds the cache capacity 10'):
        state.reset(torch.ones(1, 11, dtype=torch.bool))


def test_bfloat16_compact_mode_runs_in_bf16_and_starts_like_exact(tmp_path):
    # bf16 only promises closeness: summation order differs from LeRobot's layout, so the
    # tokens may drift after tens of steps on random weights (stated in the docs).
    ckpt, _ = load_tiny(tmp_path, seed=31, dtype='bfloat16')
    inputs = make_inputs(SMALL, 1, 2, (30,), seed=31)
    exact = Pi0FastEngine(ckpt.model).generate(*inputs, 4, return_logits=True)
    engine = Pi0FastEngine(ckpt.model, mode='compact')
    compact = engine.generate(*inputs, 4, return_logits=True)
    assert engine._state.k.dtype == torch.bfloat16
    first = (compact.logits[:, 0] - exact.logits[:, 0]).abs().max()
    assert first <= 0.05 * exact.logits[:, 0].abs().max()
    assert compact.tokens[0, 0] == exact.tokens[0, 0]
