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
Rewire random PaliGemma weights so that greedy decoding emits one fixed, valid action sequence.

Tests of the facade, the policy node and the whole ROS graph need a model whose chunks decode
("Action: <FAST>|<eos>"); random weights never produce one. Construction (exact, no training):

* every Gemma layer's o_proj and down_proj are zero, so the residual stream at the last
  position is the current token's embedding x sqrt(width): the model becomes a bigram model
  logits = E @ (rmsnorm(E[t]) * (1 + w)) with E the tied embedding table;
* the chain s_0 = BOS, "Action", ":", "▁", FAST..., "|", EOS gets embeddings in two halves of
  the width, with orthonormal basis vectors e_k, a gain of +1 on the first half and -1 on the
  second (final-norm weight w = 0 / -2):  E[s_k] = r^k [e_k + e_(k+1) ; sqrt(2) e_k].
  Then, for the current token s_k, the bilinear form gives next s_(k+1): r^(2k+1), itself: 0,
  previous s_(k-1): r^(2k-1), every other token: 0 — the next token wins by a factor r^2.
* Only tokens in the chain have non-zero embeddings; the chain must hold distinct tokens and
  fit in half the width (len + 1 <= width / 2), so choose_scripted_chunk looks for a target
  chunk whose FAST encoding is short and repeat-free (the chunk is part of the FAST fitting
  corpus, so the BPE vocabulary holds a compact encoding of it).
* untied (LeRobot >= 0.5, lm_head apart from embed_tokens): the input table holds
  E[s_k] = r^k [e_k ; sqrt(2) e_k] and the head H[s_k] = r^k [e_k + e_(k-1) ; sqrt(2) e_k];
  H gives next s_(k+1): r^(k+1), itself: -r^k, others 0, while E used as the head would give
  -r^k to itself and 0 to every other token: only a model that uses the untied head for the
  logits (and the table for the inputs) emits the chain.
"""

import math

import numpy as np
import torch

from ..core.fast.tokenizer import FastActionTokenizer
from ..core.model.config import EMBED, LANGUAGE, LEROBOT_PREFIX, LM_HEAD

GROWTH = 1.5          # r: the next-token logit beats the previous one by r^2 = 2.25
TARGET_COPIES = 64    # copies of the target chunk in the FAST fitting corpus
MAX_TRIES = 24


def _candidates(rng, horizon, dim):
    """Seeded target chunks, slow to fast: constant, ramp, slow sines (normalized units)."""
    t = np.linspace(0.0, 1.0, horizon)[:, None]
    for i in range(MAX_TRIES):
        offset = rng.uniform(-1.0, 1.0, (1, dim))
        if i % 3 == 0:
            yield np.repeat(offset, horizon, axis=0)
        elif i % 3 == 1:
            yield offset + rng.uniform(-0.5, 0.5, (1, dim)) * t
        else:
            yield 0.5 * offset + 0.5 * np.sin(2 * np.pi * (0.5 * t + rng.uniform(0, 1, (1, dim))))


def choose_scripted_chunk(rng, corpus, fast_vocab_size, max_body_tokens):
    """
    Pick a target chunk and fit the FAST tokenizer: returns (target [H, D], tokenizer).

    The target is added TARGET_COPIES times to `corpus` ([N, H, D]) before fitting; the first
    candidate whose FAST ids are distinct and at most max_body_tokens long is taken.
    """
    horizon, dim = corpus.shape[1:]
    seen = []
    for target in _candidates(rng, horizon, dim):
        fitted = np.concatenate([corpus, np.repeat(target[None], TARGET_COPIES, axis=0)])
        fast = FastActionTokenizer.fit(fitted, vocab_size=fast_vocab_size)
        ids = fast.encode(target)
        if len(set(ids)) == len(ids) <= max_body_tokens:
            return target, fast
        seen.append(len(ids))
    raise ValueError(f'no scripted chunk of {horizon}x{dim} encodes into <= {max_body_tokens} '
                     f'distinct FAST tokens (tried lengths {seen}); use a wider arch or a '
                     'shorter chunk')


def max_chain_tokens(arch):
    """Longest chain (BOS ... EOS) the construction supports for this width."""
    return arch.width // 2 - 1


def script_weights(weights, arch, text, fast, target, untied=False):
    """
    Rewire `weights` ({full LeRobot name: tensor}, modified in place) to emit the target.

    untied: write lm_head and embed_tokens as two different tables (see the module doc).
    Returns the ids greedy decoding then produces after the prompt: "Action: ", the FAST ids
    of `target` mapped to PaliGemma ids, "|", EOS.
    """
    body = text.fast_to_text_ids(fast.encode(target)).tolist()
    emitted = [*text.action_prefix_ids, *body, text.end_marker_id, text.eos_id]
    chain = [text.bos_id, *emitted]
    if len(set(chain)) != len(chain):
        raise ValueError(f'scripted chain has repeated tokens: {chain}')
    half = arch.width // 2
    if len(chain) > max_chain_tokens(arch):
        raise ValueError(f'scripted chain of {len(chain)} tokens does not fit width '
                         f'{arch.width} (max {max_chain_tokens(arch)})')
    table = torch.zeros(arch.vocab_size, arch.width, dtype=torch.float64)
    head = table.clone()
    for k, token in enumerate(chain):
        scale = GROWTH ** k
        for t, step in ((table, 0 if untied else 1), (head, -1 if untied else 1)):
            t[token, k] += scale
            if k + step >= 0 and step:
                t[token, k + step] += scale
            t[token, half + k] = math.sqrt(2.0) * scale
    gain = torch.zeros(arch.width, dtype=torch.float64)
    gain[half:2 * half] = -2.0  # RMSNorm multiplies by (1 + w): -1 on the second half
    _assign(weights, LM_HEAD, head)
    if untied:
        weights[LEROBOT_PREFIX + EMBED] = table.to(weights[LEROBOT_PREFIX + LM_HEAD].dtype)
    _assign(weights, LANGUAGE + 'norm.weight', gain)
    for layer in range(arch.depth):
        for name in ('self_attn.o_proj.weight', 'mlp.down_proj.weight'):
            key = f'{LANGUAGE}layers.{layer}.{name}'
            _assign(weights, key, torch.zeros_like(weights[LEROBOT_PREFIX + key]))
    return emitted


def _assign(weights, rel, value):
    key = LEROBOT_PREFIX + rel
    weights[key] = value.to(weights[key].dtype)
