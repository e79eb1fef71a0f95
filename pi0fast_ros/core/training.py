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

import logging

import torch

LOG = logging.getLogger(__name__)

# LeRobot's additive mask value (lerobot/utils/constants.py:79), also used by the engine.
MASK_VALUE = -2.3819763e38


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


def additive_mask(allowed, dtype):
    """Bool [B, L, L] -> the model's additive float mask [B, 1, L, L] (0 or MASK_VALUE)."""
    zero = torch.zeros((), dtype=torch.float32, device=allowed.device)
    neg = torch.full((), MASK_VALUE, dtype=torch.float32, device=allowed.device)
    return torch.where(allowed[:, None], zero, neg).to(dtype)


def positions(pad):
    """position_ids = cumsum(pad) - 1 over the whole sequence: long [B, L]."""
    return torch.cumsum(pad.long(), dim=1) - 1


def next_token_loss(logits, targets, target_mask, reduction='mean'):
    """
    LeRobot's FAST loss: logits[:, i] predicts targets[:, i + 1], masked mean.

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
