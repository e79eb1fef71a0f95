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
PaliGemma as PI0-FAST uses it: SigLIP -> linear projector -> Gemma -> LM head.

LeRobot 0.4.4 ties the LM head to the embedding table; LeRobot >= 0.5 does not (untied_head:
`head.weight` gives the logits, the table the input embeddings). numerics '0.5' applies
LeRobot >= 0.5's small numeric differences (docs: lerobot-versions.md): the embedding scale
sqrt(width) is rounded to the table dtype first (transformers 5's scaled embedding: 45.25 in
bf16), and image features go through `f / 2048**0.5 * 2048**0.5` in float32.

Module names are short (`vision.`, `projector.`, `gemma.`, `head.`); `to_module_name` /
`to_weight_name` map them to LeRobot's weight names (relative to config.LEROBOT_PREFIX).
"""

import math

import torch
from torch import nn
import torch.nn.functional as F

from .config import EMBED, keeps_fp32, LANGUAGE, LM_HEAD, PROJECTOR, VISION
from .gemma import GemmaDecoder
from .siglip import SiglipVision

_MODULE_PREFIXES = ((VISION, 'vision.'), (PROJECTOR, 'projector.'), (LANGUAGE, 'gemma.'))


NUMERICS = ('0.4', '0.5')
_IMAGE_NORM = 2048 ** 0.5  # hard-coded in LeRobot >= 0.5 PI0FastPaliGemma.embed_image


def to_module_name(weight_name, untied_head=False):
    """Map a LeRobot weight name (relative) to a PaliGemma parameter (lm_head -> table if tied)."""
    if weight_name == LM_HEAD:
        if untied_head:
            return 'head.weight'
        weight_name = EMBED
    for lerobot, ours in _MODULE_PREFIXES:
        if weight_name.startswith(lerobot):
            return ours + weight_name[len(lerobot):]
    raise KeyError(weight_name)


def to_weight_name(module_name, untied_head=False):
    """Parameter name in PaliGemma -> LeRobot weight name (relative); tied table -> lm_head."""
    if module_name == 'head.weight':
        return LM_HEAD
    for lerobot, ours in _MODULE_PREFIXES:
        if module_name.startswith(ours):
            name = lerobot + module_name[len(ours):]
            return LM_HEAD if name == EMBED and not untied_head else name
    raise KeyError(module_name)


class PaliGemma(nn.Module):
    """The PI0-FAST backbone. Build it with `checkpoint.load_checkpoint` or from an ArchConfig."""

    def __init__(self, arch, untied_head=False, numerics='0.4'):
        super().__init__()
        if numerics not in NUMERICS:
            raise ValueError(f'numerics must be one of {NUMERICS}, got {numerics!r}')
        self.arch = arch
        self.numerics = numerics
        self.vision = SiglipVision(arch)
        self.projector = nn.Linear(arch.vision_width, arch.width)
        self.gemma = GemmaDecoder(arch)
        self.head = nn.Linear(arch.width, arch.vocab_size, bias=False) if untied_head else None

    @property
    def untied_head(self):
        """Whether the LM head has its own weights (LeRobot >= 0.5)."""
        return self.head is not None

    @property
    def output_table(self):
        """Return the [vocab, width] matrix the logits are computed with."""
        return self.gemma.embed_tokens.weight if self.head is None else self.head.weight

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
        features = self.projector(self.vision(pixels))
        if self.numerics == '0.5':  # fp32 in LeRobot >= 0.5: differs in the last bits only
            features = features / _IMAGE_NORM * _IMAGE_NORM
        return features

    def embed_tokens(self, ids):
        """Token ids [B, T] -> embeddings * sqrt(width) in the table dtype (M:410-414)."""
        emb = self.gemma.embed_tokens(ids)
        if self.numerics == '0.5':  # transformers 5: scale cast to the table dtype first
            return emb * torch.tensor(math.sqrt(emb.shape[-1]), dtype=emb.dtype,
                                      device=emb.device)
        return emb * math.sqrt(emb.shape[-1])

    def lm_head(self, hidden):
        """Normed hidden [B, L, W] -> logits [B, L, vocab] (tied table or untied head)."""
        return F.linear(hidden, self.output_table)

    def num_parameters(self):
        """Parameter count (tied weights counted once)."""
        return sum(p.numel() for p in self.parameters())


def dtype_for(weight_name, dtype, numerics='0.4'):
    """Return LeRobot's dtype for a parameter under `dtype` (bf16 keeps some in fp32)."""
    if dtype == torch.bfloat16 and keeps_fp32(weight_name, numerics):
        return torch.float32
    return dtype
