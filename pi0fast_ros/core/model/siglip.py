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
SigLIP vision tower (no pooling head) with LeRobot's patched dtype handling.

Submodule names follow transformers' SiglipVisionTransformer, so weight names below
`model.vision_tower.vision_model.` load unchanged. Operation order follows openpi@15a9616
transformers_replace/models/siglip/modeling_siglip.py (TR-siglip) with SDPA attention.
"""

import torch
from torch import nn
import torch.nn.functional as F

from .layers import sdpa


class SiglipEmbeddings(nn.Module):
    """Patch conv + learned position table, computed in the conv's dtype (fp32 under bf16)."""

    def __init__(self, arch):
        super().__init__()
        self.patch_embedding = nn.Conv2d(3, arch.vision_width, kernel_size=arch.patch_size,
                                         stride=arch.patch_size, padding='valid')
        self.position_embedding = nn.Embedding(arch.tokens_per_image, arch.vision_width)

    def forward(self, pixels):
        # pixels [N, 3, H, W] -> [N, T, C]; TR-siglip:271-283 (no interpolation).
        patches = self.patch_embedding(pixels.to(dtype=self.patch_embedding.weight.dtype))
        embeddings = patches.flatten(2).transpose(1, 2)
        # The table itself equals transformers' lookup of arange(T) (a plain copy of the rows).
        return embeddings + self.position_embedding.weight[None]


class SiglipAttention(nn.Module):
    """Bidirectional multi-head attention with biases, scale head_dim^-0.5."""

    def __init__(self, width, heads):
        super().__init__()
        self.heads = heads
        self.scale = (width // heads) ** -0.5
        self.q_proj = nn.Linear(width, width)
        self.k_proj = nn.Linear(width, width)
        self.v_proj = nn.Linear(width, width)
        self.out_proj = nn.Linear(width, width)

    def forward(self, x):
        n, t, c = x.shape
        q = self.q_proj(x).view(n, t, self.heads, -1).transpose(1, 2)
        k = self.k_proj(x).view(n, t, self.heads, -1).transpose(1, 2)
        v = self.v_proj(x).view(n, t, self.heads, -1).transpose(1, 2)
        out = sdpa(q, k.contiguous(), v.contiguous(), None, self.scale)
        return self.out_proj(out.reshape(n, t, c).contiguous())


class SiglipMLP(nn.Module):
    """fc1 -> gelu (tanh approximation) -> fc2."""

    def __init__(self, width, mlp_dim):
        super().__init__()
        self.fc1 = nn.Linear(width, mlp_dim)
        self.fc2 = nn.Linear(mlp_dim, width)

    def forward(self, x):
        return self.fc2(F.gelu(self.fc1(x), approximate='tanh'))


class SiglipLayer(nn.Module):
    """Pre-norm transformer block."""

    def __init__(self, arch):
        super().__init__()
        self.layer_norm1 = nn.LayerNorm(arch.vision_width, eps=arch.layer_norm_eps)
        self.self_attn = SiglipAttention(arch.vision_width, arch.vision_heads)
        self.layer_norm2 = nn.LayerNorm(arch.vision_width, eps=arch.layer_norm_eps)
        self.mlp = SiglipMLP(arch.vision_width, arch.vision_mlp_dim)

    def forward(self, x):
        x = x + self.self_attn(self.layer_norm1(x))
        return x + self.mlp(self.layer_norm2(x))


class SiglipEncoder(nn.Module):
    """The stack of layers (a container so weight names read `encoder.layers.N.`)."""

    def __init__(self, arch):
        super().__init__()
        self.layers = nn.ModuleList(SiglipLayer(arch) for _ in range(arch.vision_depth))


class SiglipVision(nn.Module):
    """
    Images [N, 3, H, W] float in [-1, 1] -> features [N, tokens_per_image, vision_width].

    Hidden states switch to bf16 after the (fp32) embeddings when the encoder weights are bf16
    (TR-siglip:776-778).
    """

    def __init__(self, arch):
        super().__init__()
        self.embeddings = SiglipEmbeddings(arch)
        self.encoder = SiglipEncoder(arch)
        self.post_layernorm = nn.LayerNorm(arch.vision_width, eps=arch.layer_norm_eps)

    def forward(self, pixels):
        x = self.embeddings(pixels)
        layers = self.encoder.layers
        if len(layers) and layers[0].self_attn.q_proj.weight.dtype == torch.bfloat16:
            x = x.to(torch.bfloat16)
        for layer in layers:
            x = layer(x)
        return self.post_layernorm(x)
