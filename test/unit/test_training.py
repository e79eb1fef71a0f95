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

"""The PI0-FAST training step: LeRobot's targets, masks and loss; it learns; gradients flow."""

from pi0fast_ros.core.model import ArchConfig, PaliGemma
from pi0fast_ros.core.policy.text_tokenizer import TextTokenizer
from pi0fast_ros.testing import training as tr
from pi0fast_ros.testing.text_tokenizer_build import build_text_tokenizer
import pytest
import torch

ARCH = ArchConfig(width=32, depth=2, mlp_dim=64, num_heads=2, num_kv_heads=1, head_dim=16,
                  vocab_size=300, vision_width=16, vision_depth=1, vision_mlp_dim=32,
                  vision_heads=2, patch_size=56)


def _model(seed=0):
    torch.manual_seed(seed)
    return tr.init_training_weights(PaliGemma(ARCH), seed=seed)


def _batch(seed=0, batch=3, n_cam=2, prompt_lens=(9, 6, 7), target_lens=(12, 8, 10)):
    """Random ids/images with ragged prompt and target lengths (padding inside the batch)."""
    gen = torch.Generator().manual_seed(seed)
    images = [torch.rand((batch, 3, 224, 224), generator=gen) * 2 - 1 for _ in range(n_cam)]
    img_masks = [torch.ones(batch, dtype=torch.bool) for _ in range(n_cam)]
    prompts = [[2] + torch.randint(3, 300, (n - 1,), generator=gen).tolist()
               for n in prompt_lens[:batch]]
    targets = [[2] + torch.randint(3, 300, (n - 1,), generator=gen).tolist()
               for n in target_lens[:batch]]
    tokens, masks = tr.pad_batch(prompts)
    tgt, tgt_masks = tr.pad_batch(targets)
    return tr.TrainingBatch(images, img_masks, tokens, masks, tgt, tgt_masks)


def _reference_mask(prefix_pad, target_pad):
    # LeRobot's rule written out per pair (modeling_pi0_fast.py:445-482).
    b, p = prefix_pad.shape
    t = target_pad.shape[1]
    pad = torch.cat([prefix_pad, target_pad], 1)
    out = torch.zeros((b, p + t, p + t), dtype=torch.bool)
    for n in range(b):
        for i in range(p + t):
            for j in range(p + t):
                if i < p:
                    ok = j < p
                else:
                    ok = j < p or j <= i
                out[n, i, j] = ok and bool(pad[n, i]) and bool(pad[n, j])
    return out


def test_attention_mask_matches_lerobot_rules():
    gen = torch.Generator().manual_seed(0)
    prefix_pad = torch.rand((2, 7), generator=gen) > 0.3
    target_pad = torch.tensor([[1, 1, 1, 1, 0], [1, 1, 0, 0, 0]], dtype=torch.bool)
    got = tr.training_attention_mask(prefix_pad, target_pad)
    assert torch.equal(got, _reference_mask(prefix_pad, target_pad))


def test_targets_are_bos_action_prefix_fast_bar_eos(tmp_path):
    text = TextTokenizer.from_pretrained(build_text_tokenizer(tmp_path, n_loc=64))
    fast = [0, 5, 63, 17]
    ids = tr.action_target_ids(fast, bos_id=text.bos_id,
                               action_prefix_ids=text.action_prefix_ids,
                               end_ids=[text.end_marker_id, text.eos_id],
                               pg_of_fast=lambda f: int(text.fast_to_text_ids(f)))
    tokens = text.ids_to_tokens(ids)
    assert tokens[:4] == ['<bos>', 'Action', ':', '\u2581']
    assert tokens[-2:] == ['|', '<eos>']
    # pg = vocab_size - 1 - 128 - fast (LeRobot TP:427-431); fast 0 is the highest <loc>
    assert ids[4:-2] == [text.vocab_size - 1 - 128 - f for f in fast]
    assert tokens[4] == '<loc0063>' and tokens[6] == '<loc0000>'
    truncated = tr.action_target_ids(fast, bos_id=2, action_prefix_ids=[7, 8, 9],
                                     end_ids=[10, 1], pg_of_fast=lambda f: 100 + f, max_len=6)
    assert truncated == [2, 7, 8, 9, 100, 105]


def test_loss_is_masked_shifted_cross_entropy():
    gen = torch.Generator().manual_seed(1)
    logits = torch.randn((2, 5, 11), generator=gen)
    targets = torch.randint(0, 11, (2, 5), generator=gen)
    mask = torch.tensor([[1, 1, 1, 1, 1], [1, 1, 1, 0, 0]], dtype=torch.bool)
    terms = [torch.nn.functional.cross_entropy(logits[b, i], targets[b, i + 1], reduction='sum')
             for b in range(2) for i in range(4) if mask[b, i + 1]]
    expected = torch.stack(terms).mean()
    assert torch.allclose(tr.next_token_loss(logits, targets, mask), expected, atol=1e-6)


def test_prefix_never_sees_targets_and_targets_are_causal():
    model = _model().eval()
    b = _batch()
    args = (b.images, b.img_masks, b.tokens, b.masks)
    with torch.no_grad():
        h1 = tr.forward_hidden(model, *args, b.targets, b.target_masks)
        changed = b.targets.clone()
        changed[:, 5:] = (changed[:, 5:] + 7) % 300
        h2 = tr.forward_hidden(model, *args, changed, b.target_masks)
    n_prefix = h1.shape[1] - b.targets.shape[1]
    # Valid positions only: a padded query attends to nothing valid, its output is unused.
    n_img = n_prefix - b.tokens.shape[1]
    valid = torch.cat([torch.ones((3, n_img), dtype=torch.bool), b.masks, b.target_masks], 1)
    blind = valid.clone()
    blind[:, n_prefix + 5:] = False
    # the prefix and the first 5 target positions are blind to target tokens 5.. ; later
    # positions do see them (so this test can fail in both directions)
    assert torch.allclose(h1[blind], h2[blind], atol=1e-5)
    assert (h1[0, n_prefix + 5:] - h2[0, n_prefix + 5:]).abs().max() > 1e-3


def test_padding_content_does_not_matter():
    model = _model().eval()
    b = _batch()
    with torch.no_grad():
        l1 = tr.forward_loss(model, b)
        b.tokens[~b.masks] = 123
        b.targets[~b.target_masks] = 45
        l2 = tr.forward_loss(model, b)
    assert torch.allclose(l1, l2, atol=1e-6)


def test_gradient_reaches_every_parameter():
    model = _model().train()
    loss = tr.forward_loss(model, _batch())
    loss.backward()
    for name, p in model.named_parameters():
        assert p.grad is not None, f'{name} got no gradient'
        assert torch.isfinite(p.grad).all(), f'{name} has a non-finite gradient'
        assert p.grad.abs().sum() > 0, f'{name} has an all-zero gradient'


def test_masked_camera_gets_no_gradient_path():
    model = _model().train()
    b = _batch(n_cam=2)
    b.img_masks[1] = torch.zeros(3, dtype=torch.bool)
    for image in b.images:
        image.requires_grad_(True)
    tr.forward_loss(model, b).backward()
    # a masked camera is never attended to: nothing flows back into its pixels
    assert b.images[1].grad is None or not b.images[1].grad.any()
    assert b.images[0].grad.any()


def test_loss_falls_when_fitting_a_small_batch():
    model = _model()
    opt = tr.make_optimizer(model, lr=3e-3)
    b = _batch(seed=3)
    losses = [tr.train_step(model, opt, b, lr=3e-3)[0] for _ in range(40)]
    assert losses[-1] < 0.3 * losses[0], losses


def test_training_is_deterministic():
    runs = []
    for _ in range(2):
        model = _model(seed=5)
        opt = tr.make_optimizer(model, lr=1e-3)
        runs.append([tr.train_step(model, opt, _batch(seed=4), lr=1e-3)[0] for _ in range(3)])
    assert runs[0] == runs[1]


@pytest.mark.parametrize('step, expected', [(0, 0.1), (9, 1.0), (10, 1.0), (110, 0.0), (60, 0.5)])
def test_cosine_schedule(step, expected):
    assert tr.cosine_lr(step, 1.0, 10, 110, 0.0) == pytest.approx(expected, abs=1e-9)
