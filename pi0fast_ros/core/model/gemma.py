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
Gemma decoder with LeRobot 0.4.4's patched numerics (facts §0/§1).

Submodule names follow transformers' GemmaModel, so weights below `model.language_model.` load
unchanged. The decoder does not own a KV cache: each layer hands its rotated q and new k/v to an
`attend(layer_index, q, k, v)` callback supplied by the caller (engine prefill, engine decode
step, growing-cache loop), which stores k/v wherever it keeps them and returns the attention
output [B, L, H, hd]. That keeps one copy of the layer maths for every decoding strategy.
"""

from torch import nn
import torch.nn.functional as F

from .layers import apply_rope, RMSNorm, rotate


class GemmaAttention(nn.Module):
    """Separate q/k/v/o projections (no bias), as transformers computes them."""

    def __init__(self, arch):
        super().__init__()
        self.head_dim = arch.head_dim
        self.num_heads = arch.num_heads
        self.num_kv_heads = arch.num_kv_heads
        self.scale = arch.head_dim ** -0.5
        self.q_proj = nn.Linear(arch.width, arch.num_heads * arch.head_dim, bias=False)
        self.k_proj = nn.Linear(arch.width, arch.num_kv_heads * arch.head_dim, bias=False)
        self.v_proj = nn.Linear(arch.width, arch.num_kv_heads * arch.head_dim, bias=False)
        self.o_proj = nn.Linear(arch.num_heads * arch.head_dim, arch.width, bias=False)

    def project(self, x, cos, sin):
        """Project x [B, L, W] -> q [B, H, L, hd], k/v [B, KV, L, hd]; RoPE on q and k."""
        shape = (*x.shape[:-1], -1, self.head_dim)
        q = self.q_proj(x).view(shape).transpose(1, 2)
        k = self.k_proj(x).view(shape).transpose(1, 2)
        v = self.v_proj(x).view(shape).transpose(1, 2)
        q, k = apply_rope(q, k, cos, sin)
        return q, k, v

    def project_q(self, x, cos, sin):
        """Project queries only: x [B, L, W] -> q [B, H, L, hd], RoPE applied (compact prefill)."""
        q = self.q_proj(x).view(*x.shape[:-1], -1, self.head_dim).transpose(1, 2)
        return rotate(q, cos, sin)

    def project_kv(self, x, cos, sin):
        """Keys and values only: x [B, L, W] -> k/v [B, KV, L, hd], RoPE on k."""
        shape = (*x.shape[:-1], -1, self.head_dim)
        k = self.k_proj(x).view(shape).transpose(1, 2)
        v = self.v_proj(x).view(shape).transpose(1, 2)
        return rotate(k, cos, sin), v

    def output(self, attn):
        """Attention output [B, L, H, hd] -> [B, L, W]."""
        return self.o_proj(attn.reshape(*attn.shape[:2], -1).contiguous())


class GemmaMLP(nn.Module):
    """down(gelu_tanh(gate(x)) * up(x))."""

    def __init__(self, arch):
        super().__init__()
        self.gate_proj = nn.Linear(arch.width, arch.mlp_dim, bias=False)
        self.up_proj = nn.Linear(arch.width, arch.mlp_dim, bias=False)
        self.down_proj = nn.Linear(arch.mlp_dim, arch.width, bias=False)

    def forward(self, x):
        return self.down_proj(F.gelu(self.gate_proj(x), approximate='tanh') * self.up_proj(x))


class GemmaLayer(nn.Module):
    """Pre-norm block: x + attn(norm(x)), then x + mlp(norm(x))."""

    def __init__(self, arch):
        super().__init__()
        self.input_layernorm = RMSNorm(arch.width, arch.rms_eps)
        self.self_attn = GemmaAttention(arch)
        self.post_attention_layernorm = RMSNorm(arch.width, arch.rms_eps)
        self.mlp = GemmaMLP(arch)

    def forward(self, x, cos, sin, attend):
        q, k, v = self.self_attn.project(self.input_layernorm(x), cos, sin)
        x = x + self.self_attn.output(attend(q, k, v))
        return x + self.mlp(self.post_attention_layernorm(x))


class GemmaDecoder(nn.Module):
    """
    Embedding table (tied with the LM head), layers and final norm.

    Unlike stock transformers, no sqrt(width) input scaling happens here: LeRobot scales token
    embeddings itself and feeds image features unscaled (facts §0).
    """

    def __init__(self, arch):
        super().__init__()
        self.embed_tokens = nn.Embedding(arch.vocab_size, arch.width)
        self.layers = nn.ModuleList(GemmaLayer(arch) for _ in range(arch.depth))
        self.norm = RMSNorm(arch.width, arch.rms_eps)

    @property
    def compute_dtype(self):
        """Hidden-state dtype: bf16 iff the attention weights are bf16 (TR-gemma:505-507)."""
        return self.layers[0].self_attn.q_proj.weight.dtype

    def forward(self, x, cos, sin, attend):
        """
        Run all layers on x [B, L, W] (no final norm).

        cos/sin [B, L, hd] in the compute dtype; attend(i, q, k, v) -> [B, L, H, hd].
        """
        x = x.to(self.compute_dtype)
        for i, layer in enumerate(self.layers):
            x = layer(x, cos, sin, lambda q, k, v, i=i: attend(i, q, k, v))
        return x
