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
Static-cache prefill and decode steps.

Sequence slots: the cache is allocated for a prefix CAPACITY C (the uncompacted LeRobot prefix
length, fixed by the input shapes) plus S - 1 generated tokens. A call's prefix fills slots
[0, P) with P <= C (P = C in exact mode; the compacted length in the compact modes, see
compact.py); the token generated at step t-1 is fed at step t (t = 1 .. S-1) into slot
P + t - 1. Its RoPE position is n_valid + t - 1 and it may attend to the valid prefix slots and
slots P .. P + t - 1, exactly as LeRobot's growing pad mask (M:758-781) allows. Slots
[P + S - 1, C + S - 1) stay unused; keeping C fixed lets prompts of any length reuse one cache
(and one CUDA graph).

Two step variants share everything but the attention call:
- `step_exact` attends over the first P + t slots (views of the static buffer), giving
  LeRobot's SDPA call shapes, hence its rounding; used eagerly (CPU default).
- `step_static` attends over all slots with a mask, every shape fixed and every index a device
  tensor, so it can be captured in a CUDA graph (`GraphedStep`). Its attention reductions run
  over a different length, so logits may differ from LeRobot's in the last ulp.
"""

import torch
import torch.nn.functional as F

from .layers import additive_mask, expand_kv, repeat_kv, rope_cos_sin, rope_inv_freq
from .layers import rope_table, sdpa


class DecodeState:
    """KV cache and per-call tables, allocated once per (batch, prefix capacity, max steps)."""

    def __init__(self, model, batch, capacity, max_steps):
        arch, device = model.arch, model.device
        self.dtype = model.compute_dtype
        self.batch, self.capacity, self.max_steps = batch, capacity, max_steps
        self.length = capacity + max_steps - 1
        shape = (arch.depth, batch, arch.num_kv_heads, self.length, arch.head_dim)
        self.k = torch.zeros(shape, dtype=self.dtype, device=device)
        self.v = torch.zeros(shape, dtype=self.dtype, device=device)
        self.n_rep = arch.num_heads // arch.num_kv_heads
        self.scale = arch.head_dim ** -0.5
        self.inv_freq = rope_inv_freq(arch.head_dim, arch.rope_theta, device, self.dtype)
        # Positions never exceed capacity + max_steps - 2 (a fully valid prefix).
        self.cos, self.sin = rope_table(self.inv_freq, self.length, self.dtype)
        self.slot_ids = torch.arange(self.length, device=device)
        # Filled by reset() in place, so a captured graph keeps seeing the current call.
        self.prefix_len = capacity
        self.base = torch.full((1,), capacity - 1, dtype=torch.long, device=device)
        self.valid = torch.ones((batch, self.length), dtype=torch.bool, device=device)
        self.mask = torch.zeros((batch, 1, 1, self.length), dtype=self.dtype, device=device)
        self.positions = torch.zeros((batch, max_steps), dtype=torch.long, device=device)

    def key(self):
        """Return the (batch, prefix capacity, max steps) this state serves."""
        return (self.batch, self.capacity, self.max_steps)

    def reset(self, prefix_valid):
        """
        Load one call's prefix validity [B, P] bool (P <= capacity) into the tables.

        No allocation: everything is written in place.
        """
        length = prefix_valid.shape[1]
        if length > self.capacity:
            raise ValueError(f'prefix of {length} slots exceeds the cache capacity '
                             f'{self.capacity}')
        self.prefix_len = length
        self.base.fill_(length - 1)
        self.valid[:, :length] = prefix_valid
        self.valid[:, length:] = True
        self.mask.copy_(additive_mask(self.valid[:, None, None, :], self.dtype))
        steps = torch.arange(self.max_steps, device=self.positions.device)
        n_valid = prefix_valid.sum(dim=1, keepdim=True)
        self.positions.copy_(n_valid + steps - 1)


def prefill(model, prefix, state):
    """Run the prefix, filling cache slots [0, P) -> normed last hidden [B, 1, W]."""
    cos, sin = rope_cos_sin(state.inv_freq, prefix.positions, state.dtype)
    length = prefix.length

    def attend(i, q, k, v):
        state.k[i, :, :, :length] = k
        state.v[i, :, :, :length] = v
        keys = repeat_kv(k, state.n_rep).contiguous()
        values = repeat_kv(v, state.n_rep).contiguous()
        return sdpa(q, keys, values, prefix.mask, state.scale)

    hidden = model.gemma(prefix.embeddings, cos, sin, attend)
    # The final norm runs over the whole prefix, as in transformers, before taking the last row.
    # The row is made contiguous because LeRobot's lm_head (weights requiring grad) folds its
    # strided input into one mm; a strided input to a no-grad weight would take the bmm path of
    # torch.matmul (aten should_fold) and round differently.
    return model.gemma.norm(hidden)[:, -1:].contiguous()


def step_exact(model, state, token, t):
    """Feed token [B, 1] at step t (python int) -> normed hidden [B, 1, W]; LeRobot shapes."""
    slot = state.prefix_len + t - 1
    pos = state.positions[:, t:t + 1]               # [B, 1]
    mask = state.mask[..., :slot + 1]               # [B, 1, 1, P + t]

    def attend(i, q, k, v):
        state.k[i, :, :, slot:slot + 1] = k
        state.v[i, :, :, slot:slot + 1] = v
        keys = expand_kv(state.k[i, :, :, :slot + 1], state.n_rep)
        values = expand_kv(state.v[i, :, :, :slot + 1], state.n_rep)
        return sdpa(q, keys, values, mask, state.scale)

    hidden = model.gemma(model.embed_tokens(token), state.cos[pos], state.sin[pos], attend)
    return model.gemma.norm(hidden)


def step_static(model, state, token, step):
    """Fixed-shape step: token [B, 1], step a [1] long device tensor -> normed [B, 1, W]."""
    slot = step + state.base                        # [1]: prefix_len + step - 1
    pos = state.positions.index_select(1, step)     # [B, 1]
    allowed = state.valid & (state.slot_ids <= slot)
    mask = additive_mask(allowed[:, None, None, :], state.dtype)

    def attend(i, q, k, v):
        state.k[i].index_copy_(2, slot, k)
        state.v[i].index_copy_(2, slot, v)
        return grouped_attention(q, state.k[i], state.v[i], mask, state.scale)

    hidden = model.gemma(model.embed_tokens(token), state.cos[pos], state.sin[pos], attend)
    return model.gemma.norm(hidden)


def grouped_attention(q, k, v, mask, scale):
    """
    Attention without materialising repeated K/V.

    q [B, H, Lq, hd]; k/v [B, KV, L, hd]; mask [B, 1, 1, L] additive or None. The n_rep query
    heads sharing a KV head are treated as n_rep * Lq queries of that head (same maths as
    repeat_kv; heads are grouped as repeat_kv does, h = kv * n_rep + r) -> [B, Lq, H, hd].
    """
    b, h, lq, hd = q.shape
    kv = k.shape[1]
    out = F.scaled_dot_product_attention(q.reshape(b, kv, (h // kv) * lq, hd), k, v,
                                         attn_mask=mask, dropout_p=0.0, scale=scale,
                                         is_causal=False)
    return out.reshape(b, h, lq, hd).transpose(1, 2)


class StaticStep:
    """
    `step_static` behind static input buffers, run eagerly: the engine's 'static' decode step.

    The token and step buffers are written in place before each run, so the step reads only
    tensors whose addresses never change: what a CUDA graph needs (`GraphedStep` adds nothing
    but the capture and the replay). Everything else is this class, and runs on CPU in tests.
    """

    def __init__(self, model, state):
        device = state.k.device
        self.model, self.state = model, state
        self.token = torch.zeros((state.batch, 1), dtype=torch.long, device=device)
        self.step = torch.ones(1, dtype=torch.long, device=device)

    def __call__(self, token, t):
        """Run for token [B, 1] at step t (python int) -> normed hidden [B, 1, W]."""
        self.token.copy_(token)
        self.step.fill_(t)
        return self.replay()

    def replay(self):
        """Run the step on the current buffers."""
        return step_static(self.model, self.state, self.token, self.step)


class GraphedStep(StaticStep):
    """
    `StaticStep` captured in a CUDA graph at construction (checked at warm-up, see selfcheck.py).

    The captured graph reads the state's cache and tables in place, so DecodeState.reset()
    between calls is enough. Warmed up on a side stream before capture, as torch.cuda.graphs
    requires; the warm-up runs write cache slots that every call overwrites before reading.
    """

    def __init__(self, model, state, warmup=3):
        super().__init__(model, state)
        device = state.k.device
        stream = torch.cuda.Stream(device=device)
        stream.wait_stream(torch.cuda.current_stream(device))
        with torch.cuda.stream(stream):
            for _ in range(warmup):
                super().replay()
        torch.cuda.current_stream(device).wait_stream(stream)
        self.graph = torch.cuda.CUDAGraph()
        with torch.cuda.graph(self.graph):
            self.hidden = super().replay()

    def replay(self):
        """Replay the captured graph -> its static output buffer."""
        self.graph.replay()
        return self.hidden
