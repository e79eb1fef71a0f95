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
Slow, plain PI0-FAST decoding: full recompute of the whole sequence for every token.

An oracle for the engine, deliberately sharing none of its code: it reads weights by their
LeRobot names from a state dict, embeds each camera separately (masked cameras included, as
LeRobot does), builds the full attention mask from the segment rules of facts §1 (image and
language bidirectional, FAST tokens causal among themselves and seeing image+language, all
AND-ed with padding), computes RoPE directly, and uses explicit softmax attention. Runs in any
float dtype (float64 makes it an exact-arithmetic yardstick for the fp32 engine).
"""

import math

import torch
import torch.nn.functional as F

_P = 'model.paligemma_with_expert.paligemma.'
_V = _P + 'model.vision_tower.vision_model.'
_L = _P + 'model.language_model.'


def _w(weights, name, dtype):
    return weights[name].to(dtype)


def _linear(weights, x, name, dtype, bias=True):
    b = _w(weights, name + '.bias', dtype) if bias else None
    return F.linear(x, _w(weights, name + '.weight', dtype), b)


def _attention(q, k, v, allowed, scale):
    """Attend: q [B, H, L, d], k/v [B, H, L, d], allowed [B, L, L] bool or None."""
    scores = q @ k.transpose(-1, -2) * scale
    if allowed is not None:
        scores = scores.masked_fill(~allowed[:, None], float('-inf'))
    probs = torch.softmax(scores, dim=-1)
    return torch.nan_to_num(probs) @ v  # fully masked (padding) rows -> 0


def _vision(weights, arch, pixels, dtype):
    """One camera [B, 3, H, W] -> [B, 256, width] image features."""
    x = F.conv2d(pixels.to(dtype), _w(weights, _V + 'embeddings.patch_embedding.weight', dtype),
                 _w(weights, _V + 'embeddings.patch_embedding.bias', dtype),
                 stride=arch.patch_size)
    x = x.flatten(2).transpose(1, 2) + _w(weights, _V + 'embeddings.position_embedding.weight',
                                          dtype)
    b, n, c = x.shape
    heads = arch.vision_heads
    for i in range(arch.vision_depth):
        p = f'{_V}encoder.layers.{i}.'

        def norm(t, name):
            return F.layer_norm(t, (c,), _w(weights, p + name + '.weight', dtype),
                                _w(weights, p + name + '.bias', dtype), arch.layer_norm_eps)
        h = norm(x, 'layer_norm1')
        q, k, v = (_linear(weights, h, p + f'self_attn.{s}_proj', dtype)
                   .view(b, n, heads, c // heads).transpose(1, 2) for s in 'qkv')
        a = _attention(q, k, v, None, (c // heads) ** -0.5).transpose(1, 2).reshape(b, n, c)
        x = x + _linear(weights, a, p + 'self_attn.out_proj', dtype)
        h = norm(x, 'layer_norm2')
        h = F.gelu(_linear(weights, h, p + 'mlp.fc1', dtype), approximate='tanh')
        x = x + _linear(weights, h, p + 'mlp.fc2', dtype)
    x = F.layer_norm(x, (c,), _w(weights, _V + 'post_layernorm.weight', dtype),
                     _w(weights, _V + 'post_layernorm.bias', dtype), arch.layer_norm_eps)
    return _linear(weights, x, _P + 'model.multi_modal_projector.linear', dtype)


def _rms(weights, x, name, eps, dtype):
    var = x.pow(2).mean(-1, keepdim=True)
    return x / torch.sqrt(var + eps) * (1 + _w(weights, name, dtype))


def _rope(x, positions, theta):
    """Rotate x [B, H, L, d] by positions [B, L] (rotate-half convention)."""
    d = x.shape[-1]
    freq = theta ** (-torch.arange(0, d, 2, dtype=torch.float64) / d)
    angle = positions.to(torch.float64)[..., None] * freq.to(positions.device)  # [B, L, d/2]
    cos = torch.cat([angle.cos(), angle.cos()], -1)[:, None].to(x.dtype)
    sin = torch.cat([angle.sin(), angle.sin()], -1)[:, None].to(x.dtype)
    x1, x2 = x[..., :d // 2], x[..., d // 2:]
    return x * cos + torch.cat([-x2, x1], -1) * sin


def _gemma_last_logits(weights, arch, x, allowed, positions, dtype):
    """Full forward of the Gemma stack on x [B, L, W] -> logits of the last position [B, V]."""
    b, n, _ = x.shape
    hd, h, kv = arch.head_dim, arch.num_heads, arch.num_kv_heads
    for i in range(arch.depth):
        p = f'{_L}layers.{i}.'
        y = _rms(weights, x, p + 'input_layernorm.weight', arch.rms_eps, dtype)
        q = _linear(weights, y, p + 'self_attn.q_proj', dtype, False).view(b, n, h, hd)
        k = _linear(weights, y, p + 'self_attn.k_proj', dtype, False).view(b, n, kv, hd)
        v = _linear(weights, y, p + 'self_attn.v_proj', dtype, False).view(b, n, kv, hd)
        q, k = _rope(q.transpose(1, 2), positions, arch.rope_theta), \
            _rope(k.transpose(1, 2), positions, arch.rope_theta)
        v = v.transpose(1, 2)
        k, v = k.repeat_interleave(h // kv, 1), v.repeat_interleave(h // kv, 1)
        a = _attention(q, k, v, allowed, hd ** -0.5).transpose(1, 2).reshape(b, n, h * hd)
        x = x + _linear(weights, a, p + 'self_attn.o_proj', dtype, False)
        y = _rms(weights, x, p + 'post_attention_layernorm.weight', arch.rms_eps, dtype)
        gate = F.gelu(_linear(weights, y, p + 'mlp.gate_proj', dtype, False), approximate='tanh')
        up = _linear(weights, y, p + 'mlp.up_proj', dtype, False)
        x = x + _linear(weights, gate * up, p + 'mlp.down_proj', dtype, False)
    last = _rms(weights, x[:, -1], _L + 'norm.weight', arch.rms_eps, dtype)
    return last @ _w(weights, _P + 'lm_head.weight', dtype).T


def _segment_mask(kinds, pad):
    """kinds: per position 0 = image/language, 1 = FAST; pad [B, L] -> allowed [B, L, L]."""
    fast = torch.tensor(kinds, dtype=torch.bool, device=pad.device)
    n = len(kinds)
    causal = torch.ones(n, n, dtype=torch.bool, device=pad.device).tril()
    # query i may see key j if j is prefix, or both are FAST and j <= i
    rule = ~fast[None, :] | (fast[:, None] & fast[None, :] & causal)
    return rule[None] & pad[:, None, :] & pad[:, :, None]


@torch.no_grad()
def reference_generate(weights, arch, images, img_masks, tokens, masks, max_steps,
                       bos_token_id=2, dtype=torch.float64):
    """
    Greedy tokens [B, max_steps] by full recompute; inputs in LeRobot's conventions.

    weights: {full LeRobot name: tensor} with lm_head.weight, plus embed_tokens.weight for an
    untied head (e.g. init_random_weights or checkpoint.lerobot_state_dict(model)).
    """
    b = tokens.shape[0]
    width = arch.width
    table = 'model.language_model.embed_tokens.weight'  # untied (LeRobot >= 0.5) if present
    embed = _w(weights, _P + (table if _P + table in weights else 'lm_head.weight'), dtype)
    tokens = torch.cat([tokens, torch.full((b, 1), bos_token_id, dtype=tokens.dtype)], 1)
    masks = torch.cat([masks, torch.ones(b, 1, dtype=torch.bool)], 1)
    parts = [_vision(weights, arch, img, dtype) for img in images]
    parts.append(embed[tokens] * math.sqrt(width))
    pads = [m[:, None].expand(b, arch.tokens_per_image) for m in img_masks] + [masks]
    x, pad = torch.cat(parts, 1), torch.cat(pads, 1)
    kinds = [0] * x.shape[1]
    out = []
    for _ in range(max_steps):
        allowed = _segment_mask(kinds, pad)
        positions = pad.long().cumsum(1) - 1
        nxt = _gemma_last_logits(weights, arch, x, allowed, positions, dtype).argmax(-1)
        out.append(nxt)
        x = torch.cat([x, embed[nxt][:, None] * math.sqrt(width)], 1)
        pad = torch.cat([pad, torch.ones(b, 1, dtype=torch.bool)], 1)
        kinds.append(1)
    return torch.stack(out, 1)
