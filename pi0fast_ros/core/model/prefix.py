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
The decoding prefix [cam_0 (256), ..., cam_{N-1} (256), 200 prompt tokens, BOS], LeRobot-exact.

Mirrors PI0FastPytorch.sample_actions_fast_kv_cache's prefill (M:703-730) and embed_prefix_fast
(M:359-443): same layout, pad mask, positions cumsum(pad)-1, and the additive 4-D mask (for a
prefix without FAST tokens every rule reduces to pad_i AND pad_j). The difference is speed:
every (camera, row) whose mask is true goes through SigLIP in ONE batched call; masked slots
keep their place in the sequence (zeros instead of SigLIP(-1 image)) - exact, since a masked
position is never attended to and so cannot influence any valid position.
"""

import dataclasses

import torch

from .layers import additive_mask


@dataclasses.dataclass
class Prefix:
    """Embedded prefix and its attention bookkeeping."""

    embeddings: torch.Tensor  # [B, L, W] compute dtype
    pad: torch.Tensor         # [B, L] bool, False for padding and masked cameras
    positions: torch.Tensor   # [B, L] long, cumsum(pad) - 1
    mask: torch.Tensor        # [B, 1, L, L] additive, compute dtype

    @property
    def length(self):
        """Prefix length L = tokens_per_image * N_cam + T + 1."""
        return self.embeddings.shape[1]


def check_inputs(arch, images, img_masks, tokens, masks):
    """Validate LeRobot-convention inputs; raise ValueError naming the offending argument."""
    if not isinstance(images, (list, tuple)) or not images:
        raise ValueError('images must be a non-empty list of [B, 3, H, W] tensors, one per camera')
    if not isinstance(img_masks, (list, tuple)) or len(img_masks) != len(images):
        raise ValueError(f'img_masks must be a list of {len(images)} [B] bool tensors')
    if tokens.dim() != 2 or tokens.dtype not in (torch.int64, torch.int32):
        raise ValueError(f'tokens must be [B, T] integer ids, got {tuple(tokens.shape)} '
                         f'{tokens.dtype}')
    batch = tokens.shape[0]
    if tuple(masks.shape) != tuple(tokens.shape) or masks.dtype != torch.bool:
        raise ValueError(f'masks must be a bool tensor of shape {tuple(tokens.shape)}, got '
                         f'{tuple(masks.shape)} {masks.dtype}')
    size = (batch, 3, arch.image_size, arch.image_size)
    for i, (img, m) in enumerate(zip(images, img_masks)):
        if tuple(img.shape) != size or not img.is_floating_point():
            raise ValueError(f'images[{i}] must be a float tensor of shape {size}, got '
                             f'{tuple(img.shape)} {img.dtype}')
        if not bool(torch.isfinite(img).all()):
            raise ValueError(f'images[{i}] has non-finite values')
        if tuple(m.shape) != (batch,) or m.dtype != torch.bool:
            raise ValueError(f'img_masks[{i}] must be a [{batch}] bool tensor, got '
                             f'{tuple(m.shape)} {m.dtype}')
    if not bool(torch.stack(list(img_masks)).any(0).all()):
        raise ValueError('every batch row needs at least one camera with mask True')
    if bool(((tokens < 0) | (tokens >= arch.vocab_size)).any()):
        raise ValueError(f'tokens must lie in [0, {arch.vocab_size})')


def embed_cameras(model, images, img_masks, batched=True):
    """
    Camera features [N, B, tokens_per_image, W]; zeros where the mask is False.

    images: N x [B, 3, H, W]; img_masks: N x [B]. batched: every present (camera, row) pair
    through SigLIP + projector in ONE call. Otherwise one call per camera with any row present,
    all B rows, as LeRobot does (M:392-403): matrix kernels may round differently for other
    row counts, so this is the bit-exact choice (measured on CPU: so400m-sized SigLIP features
    differ by <= 1e-6 in fp32 and by 1 bf16 ulp in bf16 between the two).
    """
    present = torch.stack(list(img_masks))          # [N, B]
    if not batched:
        features = {c: model.embed_images(images[c])
                    for c in present.any(1).nonzero()[:, 0].tolist()}
        sample = next(iter(features.values()))
        out = sample.new_zeros(*present.shape, *sample.shape[1:])
        for c, f in features.items():
            out[c] = f
        return out
    if bool(present.all()):
        pixels = torch.cat(list(images))            # [N*B, 3, H, W], camera-major
        return model.embed_images(pixels).unflatten(0, tuple(present.shape))
    cam, row = present.nonzero(as_tuple=True)
    pixels = torch.stack(list(images))[cam, row]    # [n_present, 3, H, W]
    features = model.embed_images(pixels)           # [n_present, T_img, W]
    out = features.new_zeros(*present.shape, *features.shape[1:])
    out[cam, row] = features
    return out


def embed_layout(model, images, img_masks, tokens, masks, bos_token_id, batch_cameras=True):
    """
    Validate and embed [cameras, tokens, BOS] in LeRobot's layout -> (embeddings, pad).

    embeddings [B, L, W] in the compute dtype (zeros in masked camera slots), pad [B, L] bool
    (False for padding and masked cameras); L = tokens_per_image * N_cam + T + 1. The last
    column is the extra inference BOS of M:703-707.
    """
    check_inputs(model.arch, images, img_masks, tokens, masks)
    batch, device = tokens.shape[0], tokens.device
    bos = torch.full((batch, 1), bos_token_id, dtype=torch.long, device=device)
    tokens = torch.cat([tokens.long(), bos], dim=1)
    masks = torch.cat([masks, torch.ones((batch, 1), dtype=torch.bool, device=device)], dim=1)
    cams = embed_cameras(model, images, img_masks, batch_cameras)  # [N, B, T_img, W]
    n_img = cams.shape[2]
    embs = torch.cat([*cams.unbind(0), model.embed_tokens(tokens)], dim=1)
    pad = torch.cat([*(m[:, None].expand(batch, n_img) for m in img_masks), masks], dim=1)
    return embs.to(model.compute_dtype), pad


def build_prefix(model, images, img_masks, tokens, masks, bos_token_id, batch_cameras=True):
    """Embed [cameras, tokens, BOS] -> Prefix with LeRobot's positions and 4-D mask."""
    embs, pad = embed_layout(model, images, img_masks, tokens, masks, bos_token_id,
                             batch_cameras)
    allowed = pad[:, None, :] & pad[:, :, None]      # [B, L, L]
    return Prefix(embeddings=embs, pad=pad, positions=torch.cumsum(pad, dim=1) - 1,
                  mask=additive_mask(allowed[:, None], embs.dtype))
