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
Camera images -> the tensors PI0-FAST sees, exactly as LeRobot 0.4.4 computes them.

LeRobot's path for a robot frame (uint8 HxWx3 RGB):
  1. x / 255 in fp32, CHW, contiguous (lerobot/policies/utils.py:128-133);
  2. if not 224x224: resize_with_pad (M:76-147): ratio = max(W/224, H/224), new size
     int(H/ratio) x int(W/ratio), bilinear, align_corners=False, no antialias, clamp to
     [-1, 1], pad top/left floor((224-h)/2), the rest bottom/right, with value -1;
  3. x * 2 - 1 (M:1076), which turns the -1 padding into -3.0 (facts §8.4; we keep the quirk
     for parity). LeRobot >= 0.5 clamps to [0, 1] and pads with 0, so its border is -1.0;
     interior pixels are the same (bilinear weights keep [0, 1] values in [0, 1]): the
     `pad_value` argument selects the border;
  4. present cameras first in checkpoint order, then one all -1 image with mask False per
     missing key (M:1043-1093), so a missing middle camera shifts the later ones forward.
"""

from concurrent.futures import ThreadPoolExecutor
import functools

import numpy as np
import torch
import torch.nn.functional as F  # noqa: N812

IMAGE_SIZE = (224, 224)
PAD_0_4 = -3.0  # LeRobot 0.4.4's resize-with-pad border after x * 2 - 1 (>= 0.5: -1.0)


_thread_setup = None


@functools.cache
def _pool():
    """Two threads for converting camera frames, created on first use."""
    return ThreadPoolExecutor(2, thread_name_prefix='images', initializer=_thread_setup)


def set_conversion_thread_setup(setup):
    """
    Run ``setup()`` first in each camera conversion thread (e.g. to give it a priority).

    Applies to threads started from now on: an existing pool is shut down (after its
    work) and a new one is started on the next use.
    """
    global _thread_setup
    _thread_setup = setup
    if _pool.cache_info().currsize:
        old = _pool()
        _pool.cache_clear()
        old.shutdown(wait=True)


class ImageError(ValueError):
    """An image with the wrong type, dtype, rank or channel count."""


def check_image(name, image):
    """Raise ImageError unless `image` is a uint8 HxWx3 numpy array or tensor, H, W >= 1."""
    if not isinstance(image, (np.ndarray, torch.Tensor)):
        raise ImageError(f'image {name!r}: expected a numpy array or torch tensor, '
                         f'got {type(image).__name__}')
    if image.dtype not in (np.uint8, torch.uint8):
        raise ImageError(f'image {name!r}: expected dtype uint8, got {image.dtype}')
    if image.ndim != 3 or image.shape[2] != 3:
        raise ImageError(f'image {name!r}: expected shape HxWx3 (RGB), got '
                         f'{tuple(image.shape)}')
    if image.shape[0] < 1 or image.shape[1] < 1:
        raise ImageError(f'image {name!r}: empty image {tuple(image.shape)}')


def resized_shape(height, width, size=IMAGE_SIZE):
    """Return LeRobot's resize_with_pad target (h, w) before padding (M:110-113)."""
    ratio = max(width / size[1], height / size[0])
    return int(height / ratio), int(width / ratio)


def to_model_image(image, device='cpu', size=IMAGE_SIZE, out=None, pad_value=PAD_0_4):
    """
    Convert one uint8 HxWx3 RGB frame to the model input [1, 3, 224, 224] fp32 in [-1, 1].

    The pad border is pad_value: -3.0 (LeRobot 0.4.4's quirk) or -1.0 (LeRobot >= 0.5).
    `out`, if given, is a [1, 3, h, w] fp32 tensor
    on `device` that receives the result (e.g. a slice of a preallocated camera batch).
    """
    check_image('image', image)
    if isinstance(image, np.ndarray):  # e.g. a BGR->RGB view has negative strides
        image = torch.from_numpy(np.ascontiguousarray(image))
    # Move 1 byte/pixel to the device, then convert there: uint8 -> fp32 division is exact
    # IEEE arithmetic, so the values equal LeRobot's CPU float32 / 255.
    frame = image.to(device, non_blocking=True).unsqueeze(0).permute(0, 3, 1, 2)
    if frame.device.type != 'cpu':
        frame = frame.contiguous()      # [1, 3, H, W] contiguous, as LeRobot
    # On CPU the HWC frame is used as is, a channels-last [1, 3, H, W] view: no transposing
    # copy, and the channels-last bilinear kernel is ~3x faster at 640x480. Each output pixel
    # is the same float32 expression of the same 4 inputs and weights in both memory
    # formats; test_images.py checks bit equality with LeRobot's contiguous op sequence.
    x = frame.to(torch.float32).div_(255)
    if out is None:
        out = torch.empty((1, 3, *size), dtype=torch.float32, device=device)
    height, width = x.shape[-2:]
    if (height, width) == tuple(size):
        return torch.mul(x, 2.0, out=out).sub_(1.0)
    h, w = resized_shape(height, width, size)
    x = F.interpolate(x, size=(h, w), mode='bilinear', align_corners=False).clamp_(-1.0, 1.0)
    top, left = (size[0] - h) // 2, (size[1] - w) // 2
    # pad-with--1-then-(x*2-1) == fill -3 then write x*2-1 inside: one pass, no padded copy.
    out.fill_(pad_value)
    torch.mul(x, 2.0, out=out[:, :, top:top + h, left:left + w]).sub_(1.0)
    return out


def prepare_images(images, slots, device='cpu', size=IMAGE_SIZE, pad_value=PAD_0_4):
    """
    Order and preprocess the camera frames of one observation as LeRobot does.

    images: {slot: uint8 HxWx3 or None}; a slot that is absent or None is missing.
    slots: every image key of the checkpoint in input_features order (incl. empty_camera_i).
    Returns (list of [1, 3, 224, 224] fp32 tensors, list of [1] bool masks), one per slot:
    the present cameras first (checkpoint order), then an all -1 image with mask False for
    each missing slot. pad_value: the resize-with-pad border (see to_model_image). Raises
    ImageError if no camera is present (LeRobot does too, M:1050).
    """
    present = [s for s in slots if images.get(s) is not None]
    if not present:
        raise ImageError(f'no camera image given; expected at least one of {list(slots)}')
    batch = torch.empty((len(slots), 3, *size), dtype=torch.float32, device=device)
    for slot in present:
        check_image(slot, images[slot])

    threads = torch.get_num_threads()

    def convert(i):
        # A pool thread keeps the intra-op thread count it was started with, and the bilinear
        # resize rounds differently (~4e-7) with another count: use the caller's.
        if torch.get_num_threads() != threads:
            torch.set_num_threads(threads)
        to_model_image(images[present[i]], device, size, out=batch[i:i + 1],
                       pad_value=pad_value)
    if len(present) > 1 and batch.device.type == 'cpu':
        # torch releases the GIL inside each op: two cameras at a time use both cores even
        # when torch itself is limited to one thread (the policy node's torch_threads).
        list(_pool().map(convert, range(len(present))))
    else:
        for i in range(len(present)):
            convert(i)
    batch[len(present):].fill_(-1.0)
    masks = [torch.tensor([i < len(present)], device=device) for i in range(len(slots))]
    return [batch[i:i + 1] for i in range(len(slots))], masks
