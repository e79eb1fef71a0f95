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
PaliGemma as PI0-FAST uses it: SigLIP -> linear projector -> Gemma, LM head tied to embeddings.

Module names are short (`vision.`, `projector.`, `gemma.`); `to_module_name` / `to_weight_name`
map them to LeRobot's weight names (relative to config.LEROBOT_PREFIX).
"""

import math

import torch
from torch import nn
import torch.nn.functional as F

from .config import EMBED, keeps_fp32, LANGUAGE, LM_HEAD, PROJECTOR, VISION
from .gemma import GemmaDecoder
from .siglip import SiglipVision

_MODULE_PREFIXES = ((VISION, 'vision.'), (PROJECTOR, 'projector.'), (LANGUAGE, 'gemma.'))


def to_module_name(weight_name):
    """Map a LeRobot weight name (relative) to a PaliGemma parameter (lm_head -> table)."""
    if weight_name == LM_HEAD:
        weight_name = EMBED
    for lerobot, ours in _MODULE_PREFIXES:
        if weight_name.startswith(lerobot):
            return ours + weight_name[len(lerobot):]
    raise KeyError(weight_name)


def to_weight_name(module_name):
    """Parameter name in PaliGemma -> LeRobot weight name (relative); embeddings -> lm_head."""
    for lerobot, ours in _MODULE_PREFIXES:
        if module_name.startswith(ours):
            name = lerobot + module_name[len(ours):]
            return LM_HEAD if name == EMBED else name
    raise KeyError(module_name)


class PaliGemma(nn.Module):
    """The PI0-FAST backbone. Build it with `checkpoint.load_checkpoint` or from an ArchConfig."""

    def __init__(self, arch):
        super().__init__()
        self.arch = arch
        self.vision = SiglipVision(arch)
        self.projector = nn.Linear(arch.vision_width, arch.width)
        self.gemma = GemmaDecoder(arch)

    @property
    def compute_dtype(self):
        """Dtype of hidden states and logits (bf16 or fp32)."""
        return self.gemma.compute_dtype

    @property
    def device(self):
        """Device of the weights."""
        return self.projector.weight.device

    def embed_images(self, pixels):
        """Images [N, 3, H, W] in [-1, 1] -> [N, tokens_per_image, width] (no sqrt scaling)."""
        return self.projector(self.vision(pixels))

    def embed_tokens(self, ids):
        """Token ids [B, T] -> embeddings * sqrt(width) in the table dtype (M:410-414)."""
        emb = self.gemma.embed_tokens(ids)
        return emb * math.sqrt(emb.shape[-1])

    def lm_head(self, hidden):
        """Normed hidden [B, L, W] -> logits [B, L, vocab] through the tied embedding table."""
        return F.linear(hidden, self.gemma.embed_tokens.weight)

    def num_parameters(self):
        """Parameter count (tied weights counted once)."""
        return sum(p.numel() for p in self.parameters())


def dtype_for(weight_name, dtype):
    """Return LeRobot's dtype for a parameter under `dtype` (bf16 keeps some in fp32)."""
    if dtype == torch.bfloat16 and keeps_fp32(weight_name):
        return torch.float32
    return dtype
