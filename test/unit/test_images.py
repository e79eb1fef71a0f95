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

"""Camera preprocessing against a plain numpy re-computation of LeRobot's rules."""

import numpy as np
from pi0fast_ros.core.policy.images import (ImageError, prepare_images,
                                            set_conversion_thread_setup, to_model_image)
import pytest
import torch


def _bilinear_axis(n_in, n_out):
    """
    Source indices and weights of a bilinear resize, align_corners=False, no antialias.

    torch computes the source coordinate in float32 as one fused multiply-add,
    fma(in/out, dst + 0.5, -0.5); float64 arithmetic rounded once to float32 reproduces it.
    (Plain float32 or float64 would be off by up to ~3e-5 in value on noise images.)
    """
    f32 = np.float32
    scale = np.float64(f32(n_in) / f32(n_out))
    src = (scale * (np.arange(n_out) + 0.5) - 0.5).astype(f32)
    src = np.maximum(src, f32(0))
    i0 = np.minimum(np.floor(src).astype(int), n_in - 1)
    i1 = np.minimum(i0 + 1, n_in - 1)
    w1 = (src - i0).astype(np.float64)
    return i0, i1, 1.0 - w1, w1


def reference(image):
    """Compute LeRobot's pipeline by hand in float64: [3, 224, 224]."""
    x = image.astype(np.float64) / 255.0  # H W C
    h, w = x.shape[:2]
    ratio = max(w / 224, h / 224)
    nh, nw = int(h / ratio), int(w / ratio)
    if (h, w) != (224, 224):
        r0, r1, rw0, rw1 = _bilinear_axis(h, nh)
        c0, c1, cw0, cw1 = _bilinear_axis(w, nw)
        rows = x[r0] * rw0[:, None, None] + x[r1] * rw1[:, None, None]
        x = rows[:, c0] * cw0[None, :, None] + rows[:, c1] * cw1[None, :, None]
        x = np.clip(x, -1, 1)
        top, left = (224 - nh) // 2, (224 - nw) // 2
        padded = np.full((224, 224, 3), -1.0)
        padded[top:top + nh, left:left + nw] = x
        x = padded
    return (x * 2 - 1).transpose(2, 0, 1)


def _frame(rng, h, w):
    return rng.integers(0, 256, size=(h, w, 3), dtype=np.uint8)


def test_square_224_is_exact():
    img = _frame(np.random.default_rng(0), 224, 224)
    out = to_model_image(img)
    expected = torch.from_numpy(img).permute(2, 0, 1)[None].float() / 255 * 2.0 - 1.0
    assert out.shape == (1, 3, 224, 224) and out.dtype == torch.float32
    assert torch.equal(out, expected)


@pytest.mark.parametrize('h,w', [(480, 640), (640, 480), (100, 300), (300, 224), (224, 100),
                                 (7, 5), (720, 1280), (1, 1)])
def test_resize_with_pad_matches_reference(h, w):
    img = _frame(np.random.default_rng(h * 1000 + w), h, w)
    out = to_model_image(img)[0].numpy()
    ref = reference(img)
    # torch sums in float32, the reference in float64
    np.testing.assert_allclose(out, ref, rtol=0, atol=1e-6)
    # the padding value is exactly -3 (LeRobot pads with -1 before x*2-1) and sits where
    # LeRobot puts it: floor((224-h')/2) on top/left, the rest bottom/right
    ratio = max(w / 224, h / 224)
    nh, nw = int(h / ratio), int(w / ratio)
    top, left = (224 - nh) // 2, (224 - nw) // 2
    pad = np.ones((224, 224), bool)
    pad[top:top + nh, left:left + nw] = False
    assert (out[:, pad] == -3.0).all()
    assert (out[:, ~pad] >= -1.0).all() and (out[:, ~pad] <= 1.0).all()


@pytest.mark.parametrize('h,w', [(480, 640), (640, 480), (720, 1280), (240, 320), (100, 300),
                                 (300, 224), (7, 5), (1, 1), (1080, 1920)])
def test_matches_torch_resize_with_pad_pipeline_bit_for_bit(h, w):
    # LeRobot's exact tensor sequence (policies/utils.py:128-133, M:1063-1080): /255, CHW,
    # contiguous, interpolate, clamp, F.pad -1, x*2-1 — written directly with torch ops.
    ratio = max(w / 224, h / 224)
    nh, nw = int(h / ratio), int(w / ratio)
    top, left = (224 - nh) // 2, (224 - nw) // 2
    for seed in range(3):
        img = _frame(np.random.default_rng(seed * 7 + h + w), h, w)
        x = (torch.from_numpy(img).float() / 255).permute(2, 0, 1).contiguous()[None]
        x = torch.nn.functional.interpolate(x, size=(nh, nw), mode='bilinear',
                                            align_corners=False).clamp(-1.0, 1.0)
        x = torch.nn.functional.pad(x, (left, 224 - nw - left, top, 224 - nh - top),
                                    value=-1.0) * 2.0 - 1.0
        assert torch.equal(to_model_image(img), x), (h, w, seed)


def test_bgr_view_with_negative_strides_is_accepted():
    img = _frame(np.random.default_rng(4), 60, 80)
    assert torch.equal(to_model_image(img[:, :, ::-1]),
                       to_model_image(np.ascontiguousarray(img[:, :, ::-1])))


SLOTS = ['observation.images.a', 'observation.images.b', 'observation.images.c']


@pytest.mark.parametrize('missing', [(0,), (1,), (2,), (0, 2), ()])
def test_missing_cameras_follow_lerobot_order(missing):
    rng = np.random.default_rng(5)
    frames = {s: _frame(rng, 96, 128) for s in SLOTS}
    given = {s: (None if i in missing else frames[s]) for i, s in enumerate(SLOTS)}
    images, masks = prepare_images(given, SLOTS)
    present = [s for i, s in enumerate(SLOTS) if i not in missing]
    assert len(images) == len(masks) == 3
    # present cameras first, in checkpoint order, then the missing ones
    for k, slot in enumerate(present):
        assert masks[k].dtype == torch.bool and masks[k].tolist() == [True]
        assert torch.equal(images[k], to_model_image(frames[slot]))
    for k in range(len(present), 3):
        assert masks[k].tolist() == [False]
        assert images[k].shape == (1, 3, 224, 224) and (images[k] == -1.0).all()


def test_absent_key_counts_as_missing_and_empty_camera_slots_stay_masked():
    slots = SLOTS[:2] + ['observation.images.empty_camera_0']
    img = _frame(np.random.default_rng(6), 50, 50)
    images, masks = prepare_images({SLOTS[1]: img}, slots)
    assert [m.item() for m in masks] == [True, False, False]
    assert torch.equal(images[0], to_model_image(img))


def test_no_camera_is_an_error():
    with pytest.raises(ImageError, match='no camera image'):
        prepare_images(dict.fromkeys(SLOTS), SLOTS)


@pytest.mark.parametrize('bad,match', [
    (np.zeros((10, 10, 3), np.float32), 'dtype uint8'),
    (np.zeros((10, 10), np.uint8), 'HxWx3'),
    (np.zeros((10, 10, 4), np.uint8), 'HxWx3'),
    (np.zeros((3, 10, 10), np.uint8), 'HxWx3'),
    (np.zeros((0, 10, 3), np.uint8), 'empty'),
    ([[[0, 0, 0]]], 'numpy array or torch tensor'),
])
def test_bad_images_are_refused(bad, match):
    with pytest.raises(ImageError, match=match):
        prepare_images({SLOTS[0]: bad}, SLOTS)


def test_conversion_threads_use_the_callers_thread_count():
    # The pool's threads are started once; with another intra-op thread count than the caller
    # the bilinear resize rounds differently (~4e-7), and the images would depend on history.
    threads = torch.get_num_threads()
    rng = np.random.default_rng(8)
    frames = {s: _frame(rng, 96, 128) for s in SLOTS}
    try:
        set_conversion_thread_setup(None)        # a fresh pool, started below with 1 thread
        torch.set_num_threads(1)
        prepare_images(frames, SLOTS)
        torch.set_num_threads(2)
        images, _ = prepare_images(frames, SLOTS)
        for k, slot in enumerate(SLOTS):
            assert torch.equal(images[k], to_model_image(frames[slot]))
    finally:
        torch.set_num_threads(threads)
