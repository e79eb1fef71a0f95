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
LeRobot 0.4.4's decoding strategy on our layers: a growing cache, rebuilt every step.

Per step (M:758-799): concatenate the new K/V onto each layer's cache, append a 1 to the pad
mask, recompute position = sum(mask) - 1, rebuild the [B, 1, 1, L] additive mask, recompute
RoPE, materialise the repeated K/V. Kept as the benchmark baseline and as a same-numerics
cross-check of the static-cache engine; always decodes all steps.
"""

import time

import torch

from ..core.model.layers import additive_mask, repeat_kv, rope_cos_sin, rope_inv_freq, sdpa
from ..core.model.prefix import build_prefix


@torch.inference_mode()
def generate_growing(model, images, img_masks, tokens, masks, max_steps, bos_token_id=2,
                     timings=None):
    """
    Decode greedy tokens [B, max_steps] the way LeRobot's KV loop does.

    timings: optional dict, filled with prefill_ms and decode_ms.
    """
    t0 = _now(model.device)
    arch, dtype = model.arch, model.compute_dtype
    n_rep, scale = arch.num_heads // arch.num_kv_heads, arch.head_dim ** -0.5
    inv_freq = rope_inv_freq(arch.head_dim, arch.rope_theta, model.device, dtype)
    prefix = build_prefix(model, images, img_masks, tokens, masks, bos_token_id)
    cache = [None] * arch.depth

    def attend_with(mask):
        def attend(i, q, k, v):
            if cache[i] is not None:  # DynamicCache.update: concatenate along the sequence
                k = torch.cat([cache[i][0], k], dim=-2)
                v = torch.cat([cache[i][1], v], dim=-2)
            cache[i] = (k, v)
            return sdpa(q, repeat_kv(k, n_rep).contiguous(), repeat_kv(v, n_rep).contiguous(),
                        mask, scale)
        return attend

    cos, sin = rope_cos_sin(inv_freq, prefix.positions, dtype)
    hidden = model.gemma(prefix.embeddings, cos, sin, attend_with(prefix.mask))
    last = model.gemma.norm(hidden)[:, -1:].contiguous()  # see decode.prefill
    token = model.lm_head(last)[:, -1].argmax(-1, keepdim=True)
    out, pad = [token], prefix.pad
    t1 = _now(model.device)
    for _ in range(1, max_steps):
        pad = torch.cat([pad, torch.ones_like(pad[:, :1])], dim=1)
        positions = pad.sum(dim=1, keepdim=True) - 1
        mask = additive_mask(pad[:, None, None, :], dtype)
        cos, sin = rope_cos_sin(inv_freq, positions, dtype)
        hidden = model.gemma(model.embed_tokens(token), cos, sin, attend_with(mask))
        token = model.lm_head(model.gemma.norm(hidden))[:, -1].argmax(-1, keepdim=True)
        out.append(token)
    if timings is not None:
        timings.update(prefill_ms=(t1 - t0) * 1e3, decode_ms=(_now(model.device) - t1) * 1e3)
    return torch.cat(out, dim=1)


def _now(device):
    if device.type == 'cuda':
        torch.cuda.synchronize(device)
    return time.perf_counter()
