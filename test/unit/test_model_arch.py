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

"""Architecture bookkeeping: LeRobot's weight names, sizes inferred from shapes, dtype rule."""

import dataclasses
import math

from pi0fast_ros.core.model.config import (
    ArchConfig, ArchError, expected_shapes, infer_arch, keeps_fp32, LANGUAGE, TINY, VARIANTS,
    VISION)
import pytest


def test_gemma_2b_matches_the_published_lerobot_checkpoint_layout():
    shapes = expected_shapes(VARIANTS['gemma_2b'])
    # facts §1/§5: 604 state-dict entries incl. the tied embed_tokens, 2,923,335,408 params
    assert len(shapes) + 1 == 604
    assert sum(math.prod(s) for s in shapes.values()) == 2_923_335_408
    assert shapes[LANGUAGE + 'layers.17.self_attn.k_proj.weight'] == (256, 2048)
    assert shapes[VISION + 'encoder.layers.26.mlp.fc1.weight'] == (4304, 1152)
    assert VARIANTS['gemma_2b'].tokens_per_image == 256


@pytest.mark.parametrize('arch', [VARIANTS['gemma_2b'], TINY])
def test_sizes_are_inferred_from_shapes(arch):
    hints = None if arch is VARIANTS['gemma_2b'] else {'vision_heads': arch.vision_heads,
                                                       'num_kv_heads': arch.num_kv_heads}
    assert infer_arch(expected_shapes(arch), hints) == arch


@pytest.mark.parametrize('hint', ['num_heads', 'num_kv_heads', 'head_dim'])
def test_one_text_hint_fixes_the_layout(hint):
    """8 heads x 32 with 2 KV heads: q rows 256, k rows 64; any one hint gives the rest."""
    arch = dataclasses.replace(TINY, width=64, num_heads=8, num_kv_heads=2, head_dim=32)
    hints = {'vision_heads': 4, hint: getattr(arch, hint)}
    assert infer_arch(expected_shapes(arch), hints) == arch


def test_head_layout_is_never_guessed():
    # The layout the issue found loaded silently as 4 x 64 with 1 KV head.
    arch = dataclasses.replace(TINY, width=64, num_heads=8, num_kv_heads=2, head_dim=32)
    with pytest.raises(ArchError, match=r'head layout cannot be determined.*q_proj rows 256, '
                       r"k_proj rows 64.*not paligemma_variant 'gemma_2b'"):
        infer_arch(expected_shapes(arch), {'vision_heads': 4})
    # gemma_2b's q/k rows but one layer fewer: not the variant either, so no layout from it
    shapes = {k: v for k, v in expected_shapes(VARIANTS['gemma_2b']).items()
              if '.layers.17.' not in k or 'vision' in k}
    with pytest.raises(ArchError, match='17 layers'):
        infer_arch(shapes)
    # the variant is read from config.json: gemma_300m sizes under that name load
    assert infer_arch(expected_shapes(VARIANTS['gemma_300m']), variant='gemma_300m') == \
        VARIANTS['gemma_300m']
    with pytest.raises(ArchError, match="not paligemma_variant 'gemma_2b'"):
        infer_arch(expected_shapes(VARIANTS['gemma_300m']), variant='gemma_2b')


def test_inference_errors_name_the_problem():
    shapes = expected_shapes(TINY)
    with pytest.raises(ArchError, match='SigLIP head count for vision width 32'):
        infer_arch(shapes, {'head_dim': 16})
    with pytest.raises(ArchError, match='unknown architecture hints'):
        infer_arch(shapes, {'vision_heads': 4, 'heads': 2})
    with pytest.raises(ArchError, match='not divisible by 5 heads'):
        infer_arch(shapes, {'vision_heads': 5, 'head_dim': 16})
    bad = {k: v for k, v in shapes.items() if not k.startswith(LANGUAGE + 'layers.1.')}
    bad[LANGUAGE + 'layers.2.mlp.up_proj.weight'] = (1, 1)
    with pytest.raises(ArchError, match=r'layers \[1\] missing'):
        infer_arch(bad, {'vision_heads': 4, 'head_dim': 16})
    bad = dict(shapes)
    bad[VISION + 'embeddings.position_embedding.weight'] = (15, 32)
    with pytest.raises(ArchError, match='square RGB patches'):
        infer_arch(bad, {'vision_heads': 4, 'head_dim': 16})


def test_arch_metadata_round_trip():
    assert ArchConfig.from_json(TINY.to_json()) == TINY
    with pytest.raises(ArchError, match='unknown architecture fields'):
        ArchConfig.from_json('{"width": 8, "sparkle": 1}')


def test_bf16_keep_list_matches_lerobot_selectors():
    kept = [n for n in expected_shapes(TINY) if keeps_fp32(n)]
    assert sorted(kept) == sorted([
        VISION + 'embeddings.patch_embedding.weight', VISION + 'embeddings.patch_embedding.bias',
        VISION + 'embeddings.position_embedding.weight', LANGUAGE + 'norm.weight',
        *(f'{LANGUAGE}layers.{i}.{n}.weight' for i in range(TINY.depth)
          for n in ('input_layernorm', 'post_attention_layernorm'))])
