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
A minimal PI0-FAST training step: next-token cross-entropy on the FAST segment, as LeRobot.

What LeRobot 0.4.4 does, and what this file reproduces (facts section 2):
- Targets (processor/tokenizer_processor.py:479-511, ActionTokenizerProcessorStep): [BOS] +
  encode("Action: ", no special tokens) + (vocab_size - 1 - 128 - fast_id) for each FAST id +
  encode("|") with the tokenizer's add_eos_token=True, i.e. "|" then EOS; right-padded with 0
  and a False mask to max_action_tokens; longer sequences are truncated (mask all True).
- Sequence (modeling_pi0_fast.py:356-482): [images (256 per camera), language (padded prompt),
  targets]; images + language attend to each other bidirectionally, targets attend to all of
  them and causally among themselves, and nothing in the prefix sees the targets; every pair
  is also AND-ed with both padding masks. position_ids = cumsum(pad) - 1.
- Loss (modeling_pi0_fast.py:536-576): lm_head on the target positions only; logits [:-1]
  predict tokens [1:]; CE averaged over the shifted target mask.

Trailing padding of the language or target segments changes nothing (padded positions are
masked out as keys and do not advance the positions), so batches here are padded only to
their own longest row instead of 200 / 256 slots: the same loss, a shorter sequence.
"""

import dataclasses
import logging
import math

import torch

from ..core.model.layers import additive_mask, repeat_kv, rope_cos_sin, rope_inv_freq, sdpa
from ..core.model.prefix import embed_cameras

LOG = logging.getLogger(__name__)


@dataclasses.dataclass
class TrainingBatch:
    """One batch in LeRobot's tensor conventions (see forward_logits for shapes)."""

    images: list          # N_cam x [B, 3, 224, 224] float in [-1, 1]
    img_masks: list       # N_cam x [B] bool
    tokens: torch.Tensor  # [B, P] long: BOS + prompt, right-padded with 0
    masks: torch.Tensor   # [B, P] bool
    targets: torch.Tensor       # [B, T] long: BOS, 'Action: ', FAST ids, '|', EOS, padding
    target_masks: torch.Tensor  # [B, T] bool


def action_target_ids(fast_ids, *, bos_id, action_prefix_ids, end_ids, pg_of_fast,
                      max_len=None):
    """
    Return the LeRobot training target for one chunk as a list of PaliGemma ids.

    fast_ids: FAST token ids of the chunk; action_prefix_ids: encode('Action: ') without
    special tokens; end_ids: encode('|') with EOS appended (['|', EOS]); pg_of_fast: the
    FAST -> PaliGemma id map (vocab_size - 1 - 128 - id). max_len truncates like LeRobot.
    """
    ids = [int(bos_id), *map(int, action_prefix_ids), *(int(pg_of_fast(f)) for f in fast_ids),
           *map(int, end_ids)]
    if max_len is not None and len(ids) > max_len:
        LOG.warning('target of %d tokens truncated to max_action_tokens=%d (its end marker '
                    'is lost)', len(ids), max_len)
        ids = ids[:max_len]
    return ids


def pad_batch(rows, pad_id=0):
    """List of id lists -> (ids long [B, T], mask bool [B, T]), right-padded to the longest."""
    width = max(len(r) for r in rows)
    ids = torch.full((len(rows), width), pad_id, dtype=torch.long)
    mask = torch.zeros((len(rows), width), dtype=torch.bool)
    for i, r in enumerate(rows):
        ids[i, :len(r)] = torch.as_tensor(r, dtype=torch.long)
        mask[i, :len(r)] = True
    return ids, mask


def training_attention_mask(prefix_pad, target_pad):
    """
    Boolean attention mask of the training sequence [prefix, targets].

    prefix_pad: bool [B, P] (image and language validity); target_pad: bool [B, T].
    Returns bool [B, P + T, P + T], True where query i may attend to key j.
    """
    p, t = prefix_pad.shape[1], target_pad.shape[1]
    allowed = torch.zeros((p + t, p + t), dtype=torch.bool, device=prefix_pad.device)
    allowed[:, :p] = True                       # everyone sees the prefix
    allowed[p:, p:] = torch.ones((t, t), dtype=torch.bool, device=prefix_pad.device).tril()
    pad = torch.cat([prefix_pad, target_pad], dim=1)
    return allowed[None] & pad[:, None, :] & pad[:, :, None]


def positions(pad):
    """position_ids = cumsum(pad) - 1 over the whole sequence: long [B, L]."""
    return torch.cumsum(pad.long(), dim=1) - 1


def next_token_loss(logits, targets, target_mask, reduction='mean'):
    """
    Compute LeRobot's FAST loss: logits[:, i] predicts targets[:, i + 1], masked mean.

    logits: float [B, T, V] at the target positions; targets: long [B, T]; target_mask:
    bool [B, T]. reduction='none' returns the per-token losses [B, T - 1] (masked ones 0).
    """
    pred = logits[:, :-1].float()
    tgt = targets[:, 1:]
    m = target_mask[:, 1:].float()
    per_token = torch.nn.functional.cross_entropy(
        pred.reshape(-1, pred.shape[-1]), tgt.reshape(-1), reduction='none').view(tgt.shape)
    per_token = per_token * m
    if reduction == 'none':
        return per_token
    return per_token.sum() / m.sum().clamp(min=1)


def forward_hidden(model, images, img_masks, tokens, masks, targets, target_masks):
    """
    Training forward of PI0-FAST through the engine's PaliGemma modules.

    images: N_cam x [B, 3, H, W] in [-1, 1]; img_masks: N_cam x [B] bool; tokens/masks:
    [B, P] prompt ids (BOS + prompt, padded) and validity; targets/target_masks: [B, T] from
    pad_batch(action_target_ids(...)). Returns the last hidden states (before the final norm)
    of the whole sequence [cameras, prompt, targets]: [B, N_cam * T_img + P + T, W].
    No inference_mode anywhere: gradients flow into every module.
    """
    cams = embed_cameras(model, images, img_masks)                      # [N, B, T_img, W]
    batch, n_img = tokens.shape[0], cams.shape[2]
    embs = torch.cat([*cams.unbind(0), model.embed_tokens(tokens), model.embed_tokens(targets)],
                     dim=1).to(model.compute_dtype)                     # [B, L, W]
    prefix_pad = torch.cat([*(m[:, None].expand(batch, n_img) for m in img_masks), masks], dim=1)
    allowed = training_attention_mask(prefix_pad, target_masks)         # [B, L, L]
    mask = additive_mask(allowed[:, None], embs.dtype)                  # [B, 1, L, L]
    pad = torch.cat([prefix_pad, target_masks], dim=1)
    gemma = model.gemma
    inv_freq = rope_inv_freq(model.arch.head_dim, model.arch.rope_theta, embs.device)
    cos, sin = rope_cos_sin(inv_freq, positions(pad), embs.dtype)      # [B, L, hd]

    def attend(i, q, k, v):
        # q [B, H, L, hd]; k/v [B, KV, L, hd] -> [B, L, H, hd]
        attn = gemma.layers[i].self_attn
        n_rep = attn.num_heads // attn.num_kv_heads
        return sdpa(q, repeat_kv(k, n_rep), repeat_kv(v, n_rep), mask, attn.scale)

    return gemma(embs, cos, sin, attend)


def forward_logits(model, images, img_masks, tokens, masks, targets, target_masks):
    """Logits [B, T, vocab] at the target positions (final norm + tied LM head, M:553-555)."""
    hidden = forward_hidden(model, images, img_masks, tokens, masks, targets, target_masks)
    return model.lm_head(model.gemma.norm(hidden[:, -targets.shape[1]:]))


def forward_loss(model, batch):
    """Mean next-token loss of a TrainingBatch (see forward_logits and next_token_loss)."""
    logits = forward_logits(model, batch.images, batch.img_masks, batch.tokens, batch.masks,
                            batch.targets, batch.target_masks)
    return next_token_loss(logits, batch.targets, batch.target_masks)


def init_training_weights(model, seed):
    """
    Seeded initialisation of a PaliGemma for training from scratch (GPT-2 style).

    Linear / conv weights N(0, 0.02), residual output projections (o_proj, down_proj,
    out_proj, fc2) scaled by 1/sqrt(2 * depth), biases 0; the token table N(0, 1/sqrt(width)),
    so that embeddings * sqrt(width) have unit scale and the tied LM head starts with O(1)
    logits; Gemma RMSNorm weights 0 (= scale 1, as they multiply by 1 + w); LayerNorm 1 / 0.
    """
    gen = torch.Generator().manual_seed(seed)
    arch = model.arch
    residual = {'o_proj': arch.depth, 'down_proj': arch.depth,
                'out_proj': arch.vision_depth, 'fc2': arch.vision_depth}
    with torch.no_grad():
        for name, p in model.named_parameters():
            parts = name.split('.')
            if name == 'gemma.embed_tokens.weight':
                p.normal_(0.0, arch.width ** -0.5, generator=gen)
            elif 'norm' in name and not name.endswith('bias'):
                p.fill_(0.0 if name.startswith('gemma.') else 1.0)
            elif name.endswith('bias'):
                p.zero_()
            else:
                depth = residual.get(parts[-2])
                std = 0.02 / math.sqrt(2 * depth) if depth else 0.02
                p.normal_(0.0, std, generator=gen)
    return model


def make_optimizer(model, lr, weight_decay=0.01, betas=(0.9, 0.95), eps=1e-8):
    """Build AdamW as LeRobot's pi0_fast preset (betas 0.9/0.95); no decay on norms/biases."""
    decay, no_decay = [], []
    for name, p in model.named_parameters():
        (no_decay if p.ndim < 2 or 'norm' in name else decay).append(p)
    groups = [{'params': decay, 'weight_decay': weight_decay},
              {'params': no_decay, 'weight_decay': 0.0}]
    return torch.optim.AdamW(groups, lr=lr, betas=betas, eps=eps)


def cosine_lr(step, peak_lr, warmup_steps, total_steps, final_lr):
    """Linear warm-up to peak_lr, then cosine decay to final_lr (LeRobot's schedule shape)."""
    if step < warmup_steps:
        return peak_lr * (step + 1) / warmup_steps
    progress = min(1.0, (step - warmup_steps) / max(1, total_steps - warmup_steps))
    return final_lr + 0.5 * (peak_lr - final_lr) * (1.0 + math.cos(math.pi * progress))


def train_step(model, optimizer, batch, lr, grad_clip_norm=1.0):
    """One optimizer step on a TrainingBatch; returns (loss, grad_norm) as floats."""
    for group in optimizer.param_groups:
        group['lr'] = lr
    optimizer.zero_grad(set_to_none=True)
    loss = forward_loss(model, batch)
    loss.backward()
    grad_norm = torch.nn.utils.clip_grad_norm_(model.parameters(), grad_clip_norm)
    optimizer.step()
    return float(loss.detach()), float(grad_norm)
