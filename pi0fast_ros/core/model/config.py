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
PaliGemma architecture sizes, the LeRobot weight names, and size inference from weights.

Weight names are kept relative to LeRobot's module path `model.paligemma_with_expert.paligemma.`
(facts §5): e.g. `model.language_model.layers.0.self_attn.q_proj.weight` or `lm_head.weight`.
Everything in this file is pure bookkeeping over names and shapes: no tensors are touched.
"""

import dataclasses
import json
import math
import re

# Prefix of every weight in a LeRobot 0.4.4 `pi0_fast` model.safetensors (facts §5).
LEROBOT_PREFIX = 'model.paligemma_with_expert.paligemma.'
VISION = 'model.vision_tower.vision_model.'
PROJECTOR = 'model.multi_modal_projector.linear.'
LANGUAGE = 'model.language_model.'
EMBED = LANGUAGE + 'embed_tokens.weight'
LM_HEAD = 'lm_head.weight'

# Parameters LeRobot keeps in float32 when the policy runs in bfloat16: substring match on the
# parameter name, exactly as PI0FastPaliGemma.to_bfloat16_for_selected_params (M:222-242).
# 'model.norm' matches '...language_model.norm.weight' (the final norm) by substring.
KEEP_FP32_SELECTORS = (
    'vision_tower.vision_model.embeddings.patch_embedding.weight',
    'vision_tower.vision_model.embeddings.patch_embedding.bias',
    'vision_tower.vision_model.embeddings.position_embedding.weight',
    'input_layernorm',
    'post_attention_layernorm',
    'model.norm',
)
# LeRobot >= 0.5 keeps the whole vision tower and the projector in float32 as well
# (PI0FastPaliGemma.to_bfloat16_for_selected_params in 0.5.0 .. 0.6.1).
KEEP_FP32_SELECTORS_05 = (
    'vision_tower',
    'multi_modal_projector',
    'input_layernorm',
    'post_attention_layernorm',
    'model.norm',
)

# Safetensors metadata key under which save_checkpoint records the sizes weights cannot show
# (head counts). LeRobot ignores safetensors metadata, so the file stays loadable there.
ARCH_METADATA_KEY = 'pi0fast_ros.arch'


class ArchError(ValueError):
    """The weights do not describe a consistent PaliGemma; the message names the problem."""


@dataclasses.dataclass(frozen=True)
class ArchConfig:
    """
    Sizes of the PaliGemma used by PI0-FAST (defaults: LeRobot's gemma_2b + SigLIP so400m).

    Only the head split is invisible in the weights; everything else is inferred from shapes
    by `infer_arch`.
    """

    width: int = 2048
    depth: int = 18
    mlp_dim: int = 16384
    num_heads: int = 8
    num_kv_heads: int = 1
    head_dim: int = 256
    vocab_size: int = 257152
    vision_width: int = 1152
    vision_depth: int = 27
    vision_mlp_dim: int = 4304
    vision_heads: int = 16
    patch_size: int = 14
    image_size: int = 224
    rms_eps: float = 1e-6
    layer_norm_eps: float = 1e-6
    rope_theta: float = 10000.0

    @property
    def tokens_per_image(self):
        """Image tokens one camera contributes to the prefix (256 for 224 px / patch 14)."""
        return (self.image_size // self.patch_size) ** 2

    def to_json(self):
        """Serialise for the safetensors metadata."""
        return json.dumps(dataclasses.asdict(self), sort_keys=True)

    @staticmethod
    def from_json(text):
        """Parse `to_json` output; unknown fields are an error."""
        fields = json.loads(text)
        known = {f.name for f in dataclasses.fields(ArchConfig)}
        unknown = sorted(set(fields) - known)
        if unknown:
            raise ArchError(f'unknown architecture fields in checkpoint metadata: {unknown}')
        return ArchConfig(**fields)


VARIANTS = {
    'gemma_2b': ArchConfig(),
    # In LeRobot 0.4.4 this variant cannot actually run (projection_dim stays 2048); listed so
    # that such weights are recognised and refused by the projector shape check.
    'gemma_300m': ArchConfig(width=1024, mlp_dim=4096),
}

# A PaliGemma small enough for unit tests, with the real sequence layout (224 px, patch 14,
# 256 tokens per camera) and a small vocabulary.
TINY = ArchConfig(width=64, depth=2, mlp_dim=128, num_heads=4, num_kv_heads=1, head_dim=16,
                  vocab_size=1024, vision_width=32, vision_depth=2, vision_mlp_dim=64,
                  vision_heads=4)


def expected_shapes(arch):
    """Map every weight name (relative to LEROBOT_PREFIX, lm_head tied) to its shape."""
    a = arch
    shapes = {
        VISION + 'embeddings.patch_embedding.weight':
            (a.vision_width, 3, a.patch_size, a.patch_size),
        VISION + 'embeddings.patch_embedding.bias': (a.vision_width,),
        VISION + 'embeddings.position_embedding.weight': (a.tokens_per_image, a.vision_width),
        VISION + 'post_layernorm.weight': (a.vision_width,),
        VISION + 'post_layernorm.bias': (a.vision_width,),
        PROJECTOR + 'weight': (a.width, a.vision_width),
        PROJECTOR + 'bias': (a.width,),
        LM_HEAD: (a.vocab_size, a.width),
        LANGUAGE + 'norm.weight': (a.width,),
    }
    vw, vm = a.vision_width, a.vision_mlp_dim
    for i in range(a.vision_depth):
        p = f'{VISION}encoder.layers.{i}.'
        for name in ('layer_norm1', 'layer_norm2'):
            shapes[p + name + '.weight'] = (vw,)
            shapes[p + name + '.bias'] = (vw,)
        for name in ('q_proj', 'k_proj', 'v_proj', 'out_proj'):
            shapes[f'{p}self_attn.{name}.weight'] = (vw, vw)
            shapes[f'{p}self_attn.{name}.bias'] = (vw,)
        shapes[p + 'mlp.fc1.weight'] = (vm, vw)
        shapes[p + 'mlp.fc1.bias'] = (vm,)
        shapes[p + 'mlp.fc2.weight'] = (vw, vm)
        shapes[p + 'mlp.fc2.bias'] = (vw,)
    w, q, kv = a.width, a.num_heads * a.head_dim, a.num_kv_heads * a.head_dim
    for i in range(a.depth):
        p = f'{LANGUAGE}layers.{i}.'
        shapes[p + 'input_layernorm.weight'] = (w,)
        shapes[p + 'post_attention_layernorm.weight'] = (w,)
        shapes[p + 'self_attn.q_proj.weight'] = (q, w)
        shapes[p + 'self_attn.k_proj.weight'] = (kv, w)
        shapes[p + 'self_attn.v_proj.weight'] = (kv, w)
        shapes[p + 'self_attn.o_proj.weight'] = (w, q)
        shapes[p + 'mlp.gate_proj.weight'] = (a.mlp_dim, w)
        shapes[p + 'mlp.up_proj.weight'] = (a.mlp_dim, w)
        shapes[p + 'mlp.down_proj.weight'] = (w, a.mlp_dim)
    return shapes


def keeps_fp32(name, numerics='0.4'):
    """Whether LeRobot (0.4.4, or >= 0.5 for numerics '0.5') keeps this parameter in fp32."""
    selectors = KEEP_FP32_SELECTORS if numerics == '0.4' else KEEP_FP32_SELECTORS_05
    return any(sel in name for sel in selectors)


def _shape(shapes, name):
    if name not in shapes:
        raise ArchError(f'missing weight {LEROBOT_PREFIX}{name}')
    return tuple(shapes[name])


def _count_layers(shapes, prefix):
    pattern = re.compile(re.escape(prefix) + r'(\d+)\.')
    indices = {int(m.group(1)) for m in map(pattern.match, shapes) if m}
    if not indices:
        raise ArchError(f'no layers found under {LEROBOT_PREFIX}{prefix}')
    if indices != set(range(len(indices))):
        missing = sorted(set(range(max(indices) + 1)) - indices)
        raise ArchError(f'layers {missing} missing under {LEROBOT_PREFIX}{prefix}')
    return len(indices)


HINT_KEYS = ('num_heads', 'num_kv_heads', 'head_dim', 'vision_heads')


def infer_arch(shapes, hints=None, variant='gemma_2b'):
    """
    Infer ArchConfig from weight shapes (name -> shape, names relative to LEROBOT_PREFIX).

    Every size but the head layout is read from the shapes. The head layout is never guessed:
    it comes from `hints` (dict with any of HINT_KEYS; one of num_heads / num_kv_heads /
    head_dim fixes the text layout, since q_proj rows = heads x head_dim and k_proj rows =
    KV heads x head_dim), else from LeRobot's table for `variant` (config.json's
    paligemma_variant, modeling_pi0_fast.get_gemma_config) when every text (resp. vision)
    size of the weights matches that variant. Otherwise ArchError says what to pass.
    """
    hints = dict(hints or {})
    unknown = sorted(set(hints) - set(HINT_KEYS))
    if unknown:
        raise ArchError(f'unknown architecture hints: {unknown}')
    vw, channels, patch, patch2 = _shape(shapes, VISION + 'embeddings.patch_embedding.weight')
    n_pos = _shape(shapes, VISION + 'embeddings.position_embedding.weight')[0]
    side = math.isqrt(n_pos)
    if channels != 3 or patch != patch2 or side * side != n_pos:
        raise ArchError(f'vision embeddings do not describe square RGB patches: patch '
                        f'{(vw, channels, patch, patch2)}, {n_pos} positions')
    vocab, width = _shape(shapes, LM_HEAD)
    q_rows = _shape(shapes, LANGUAGE + 'layers.0.self_attn.q_proj.weight')[0]
    kv_rows = _shape(shapes, LANGUAGE + 'layers.0.self_attn.k_proj.weight')[0]
    sizes = {
        'width': width, 'depth': _count_layers(shapes, LANGUAGE + 'layers.'),
        'mlp_dim': _shape(shapes, LANGUAGE + 'layers.0.mlp.gate_proj.weight')[0],
        'vocab_size': vocab, 'vision_width': vw,
        'vision_depth': _count_layers(shapes, VISION + 'encoder.layers.'),
        'vision_mlp_dim': _shape(shapes, VISION + 'encoder.layers.0.mlp.fc1.weight')[0],
        'patch_size': patch, 'image_size': side * patch}
    base = VARIANTS.get(variant)
    text = _text_layout(hints, q_rows, kv_rows, sizes, base, variant)
    vision_heads = _vision_heads(hints, sizes, base, variant)
    arch = ArchConfig(**sizes, **text, vision_heads=vision_heads)
    _check_divisible(arch, q_rows, kv_rows)
    return arch


def _text_layout(hints, q_rows, kv_rows, sizes, base, variant):
    """Heads / KV heads / head_dim from one hint, else from the matching variant; or refuse."""
    if 'head_dim' in hints:
        hd = hints['head_dim']
    elif 'num_heads' in hints:
        hd = q_rows // hints['num_heads'] if hints['num_heads'] > 0 else 0
    elif 'num_kv_heads' in hints:
        hd = kv_rows // hints['num_kv_heads'] if hints['num_kv_heads'] > 0 else 0
    else:
        measured = (sizes['width'], sizes['depth'], sizes['mlp_dim'], q_rows, kv_rows)
        if base is not None and measured == (base.width, base.depth, base.mlp_dim,
                                             base.num_heads * base.head_dim,
                                             base.num_kv_heads * base.head_dim):
            return {'num_heads': base.num_heads, 'num_kv_heads': base.num_kv_heads,
                    'head_dim': base.head_dim}
        raise ArchError(
            f'the attention head layout cannot be determined: the weights have width '
            f'{sizes["width"]}, {sizes["depth"]} layers, MLP {sizes["mlp_dim"]}, q_proj rows '
            f'{q_rows}, k_proj rows {kv_rows}, which is not paligemma_variant {variant!r}'
            f'{_variant_text(base)}; pass arch_hints with num_heads, num_kv_heads or head_dim')
    if hd <= 0:
        raise ArchError(f'architecture hints {hints} give no positive head_dim')
    return {'num_heads': hints.get('num_heads', q_rows // hd),
            'num_kv_heads': hints.get('num_kv_heads', kv_rows // hd), 'head_dim': hd}


def _vision_heads(hints, sizes, base, variant):
    if 'vision_heads' in hints:
        return hints['vision_heads']
    measured = (sizes['vision_width'], sizes['vision_depth'], sizes['vision_mlp_dim'])
    if base is not None and measured == (base.vision_width, base.vision_depth,
                                         base.vision_mlp_dim):
        return base.vision_heads
    raise ArchError(f'cannot infer the SigLIP head count for vision width '
                    f'{sizes["vision_width"]} ({sizes["vision_depth"]} layers, MLP '
                    f'{sizes["vision_mlp_dim"]}; paligemma_variant {variant!r} uses SigLIP '
                    f"so400m): pass arch_hints={{'vision_heads': N}} (the checkpoint "
                    f'carries no {ARCH_METADATA_KEY} metadata)')


def _variant_text(base):
    if base is None:
        return ' (not a LeRobot variant)'
    return (f' (width {base.width}, {base.depth} layers, MLP {base.mlp_dim}, {base.num_heads} '
            f'heads x {base.head_dim}, {base.num_kv_heads} KV head(s))')


def _check_divisible(arch, q_rows, kv_rows):
    if arch.num_heads * arch.head_dim != q_rows or arch.num_kv_heads * arch.head_dim != kv_rows:
        raise ArchError(f'q_proj rows {q_rows} / k_proj rows {kv_rows} do not split into '
                        f'{arch.num_heads} heads and {arch.num_kv_heads} KV heads of '
                        f'{arch.head_dim}')
    if arch.num_heads % arch.num_kv_heads:
        raise ArchError(f'{arch.num_heads} heads are not a multiple of {arch.num_kv_heads} '
                        'KV heads')
    if arch.head_dim % 2:
        raise ArchError(f'head_dim {arch.head_dim} must be even for rotary embeddings')
    if arch.vision_width % arch.vision_heads:
        raise ArchError(f'vision width {arch.vision_width} is not divisible by '
                        f'{arch.vision_heads} heads')
