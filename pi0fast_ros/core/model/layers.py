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
Numerical building blocks with LeRobot 0.4.4's patched-transformers rounding behaviour.

Each function performs the same torch operations, in the same order and dtypes, as the code
LeRobot runs (openpi's transformers_replace for transformers 4.53.2, facts §0/§1), because
bf16 results and near-tie argmaxes depend on it. References are to openpi@15a9616
src/openpi/models_pytorch/transformers_replace/models/gemma/modeling_gemma.py (TR-gemma) and
transformers 4.53.2 integrations/sdpa_attention.py (SDPA).
"""

import torch
from torch import nn
import torch.nn.functional as F

# Additive mask value for blocked attention (LeRobot utils/constants.py:79), cast to the
# model dtype only after torch.where has built the float32 mask.
MASK_VALUE = -2.3819763e38

# CPU elementwise kernels finish a thread's chunk with a scalar tail loop whose cos/sin can
# differ by an ulp from the vectorised path. 64 positions x head_dim <= 32768 elements stay
# below ATen's parallel grain, so every element of a table block takes the vector path, just
# like the one-token decode step in LeRobot.
_ROPE_TABLE_BLOCK = 64


class RMSNorm(nn.Module):
    """Gemma RMSNorm, TR-gemma:49-104: x * rsqrt(mean(x.float()^2) + eps) * (1 + w.float())."""

    def __init__(self, dim, eps):
        super().__init__()
        self.eps = eps
        self.weight = nn.Parameter(torch.zeros(dim))

    def forward(self, x):
        # x may be bf16: x * rsqrt(fp32) promotes to fp32, the cast back happens once at the end.
        var = torch.mean(torch.square(x.float()), dim=-1, keepdim=True)
        normed = x * torch.rsqrt(var + self.eps)
        return (normed * (1.0 + self.weight.float())).to(x.dtype)


def rope_inv_freq(head_dim, theta, device=None, dtype=torch.float32):
    """
    Inverse frequencies [head_dim/2] as transformers' default rope init, stored in `dtype`.

    Pass the model dtype: LeRobot's `PaliGemma.to(bfloat16)` also casts the rotary
    `inv_freq` buffer, so under bf16 the frequencies are bf16-rounded before the fp32 cos/sin
    (checked against LeRobot 0.4.4: without this bf16 logits differ from the first token).
    """
    exponent = torch.arange(0, head_dim, 2, dtype=torch.int64)
    exponent = exponent.to(device=device, dtype=torch.float)
    return (1.0 / (theta ** (exponent / head_dim))).to(dtype)


def rope_cos_sin(inv_freq, position_ids, dtype):
    """
    Cos/sin tables for position_ids [B, L] -> two [B, L, head_dim] tensors in `dtype`.

    Same ops as GemmaRotaryEmbedding.forward (TR-gemma): an fp32 batched matmul with K=1,
    duplicated halves, cos/sin in fp32, then a cast to the hidden dtype.
    """
    inv = inv_freq[None, :, None].float().expand(position_ids.shape[0], -1, 1)
    pos = position_ids[:, None, :].float()
    freqs = (inv.float() @ pos.float()).transpose(1, 2)
    emb = torch.cat((freqs, freqs), dim=-1)
    return emb.cos().to(dtype), emb.sin().to(dtype)


def rope_table(inv_freq, num_positions, dtype):
    """
    Cos/sin for positions 0..num_positions-1 -> two [num_positions, head_dim] tensors.

    Row p equals rope_cos_sin of a one-token step at position p bit for bit (see
    _ROPE_TABLE_BLOCK), so decode steps can index it instead of recomputing.
    """
    cos_rows, sin_rows = [], []
    device = inv_freq.device
    for start in range(0, num_positions, _ROPE_TABLE_BLOCK):
        stop = min(start + _ROPE_TABLE_BLOCK, num_positions)
        pos = torch.arange(start, stop, device=device)[:, None]  # [n, 1]: n one-token steps
        cos, sin = rope_cos_sin(inv_freq, pos, dtype)
        cos_rows.append(cos[:, 0])
        sin_rows.append(sin[:, 0])
    return torch.cat(cos_rows), torch.cat(sin_rows)


def rotate_half(x):
    """Rotate the two halves of the last dim: [x1, x2] -> [-x2, x1]."""
    half = x.shape[-1] // 2
    return torch.cat((-x[..., half:], x[..., :half]), dim=-1)


def apply_rope(q, k, cos, sin):
    """q/k [B, H, L, hd], cos/sin [B, L, hd] -> rotated q, k (TR-gemma apply_rotary_pos_emb)."""
    cos = cos.unsqueeze(1)
    sin = sin.unsqueeze(1)
    return (q * cos) + (rotate_half(q) * sin), (k * cos) + (rotate_half(k) * sin)


def rotate(x, cos, sin):
    """Rotate one tensor: x [B, H, L, hd], cos/sin [B, L, hd] (the ops of apply_rope)."""
    return (x * cos.unsqueeze(1)) + (rotate_half(x) * sin.unsqueeze(1))


def repeat_kv(x, n_rep):
    """[B, KV, L, hd] -> [B, KV*n_rep, L, hd], materialised exactly as transformers does."""
    b, kv, length, hd = x.shape
    if n_rep == 1:
        return x
    return x[:, :, None].expand(b, kv, n_rep, length, hd).reshape(b, kv * n_rep, length, hd)


def expand_kv(x, n_rep):
    """
    [B, KV, L, hd] -> a [B, KV*n_rep, L, hd] view without copying (KV must be 1).

    CPU SDPA gives bit-identical results for this view and for repeat_kv's copy (checked in
    test_engine_parity); it saves copying the whole cache every decode step.
    """
    b, kv, length, hd = x.shape
    if n_rep == 1:
        return x
    if kv != 1:
        return repeat_kv(x, n_rep)
    return x.expand(b, n_rep, length, hd)


def sdpa(q, k, v, mask, scale):
    """
    Scaled dot-product attention as transformers' sdpa_attention_forward calls it.

    q [B, H, Lq, hd], k/v [B, H, Lk, hd] (already repeated), additive mask [B, 1, Lq, Lk] in the
    model dtype -> [B, Lq, H, hd] contiguous.
    """
    out = F.scaled_dot_product_attention(q.contiguous(), k, v, attn_mask=mask, dropout_p=0.0,
                                         scale=scale, is_causal=False)
    return out.transpose(1, 2).contiguous()


def additive_mask(allowed, dtype):
    """Bool mask -> additive float mask: 0 where allowed, MASK_VALUE elsewhere, then `dtype`."""
    return torch.where(allowed, 0.0, MASK_VALUE).to(dtype=dtype)
