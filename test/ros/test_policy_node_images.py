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

"""Camera message -> RGB conversion (nodes/image_conversion.py) on real rclpy messages."""

import array

import cv2
import numpy as np
from pi0fast_ros.nodes.image_conversion import available_backends, ImageConversionError
from pi0fast_ros.nodes.image_conversion import ImageConverter
from policy_node_msgs import compressed_msg
import pytest
from sensor_msgs.msg import CompressedImage, Image


def _rgb(height=48, width=64, seed=0):
    # A smooth colour image (JPEG-friendly) with distinct channels.
    rng = np.random.default_rng(seed)
    base = rng.integers(0, 256, (height // 8, width // 8, 3), dtype=np.uint8)
    return cv2.resize(base, (width, height), interpolation=cv2.INTER_LINEAR)


def raw_msg(pixels, encoding, step_pad=0):
    """Return an rclpy Image of `pixels`, each row followed by step_pad bytes of padding."""
    height, width = pixels.shape[:2]
    rows = pixels.reshape(height, -1)
    if step_pad:
        rows = np.concatenate([rows, np.full((height, step_pad), 77, np.uint8)], axis=1)
    msg = Image(height=height, width=width, encoding=encoding, step=rows.shape[1])
    msg.data = array.array('B', rows.tobytes())
    return msg


@pytest.fixture(scope='module')
def converter():
    return ImageConverter('rosbags-image')


def test_rgb8_is_passed_through_unchanged(converter):
    rgb = _rgb()
    out = converter.to_rgb(raw_msg(rgb, 'rgb8'))
    assert out.dtype == np.uint8 and out.shape == rgb.shape
    np.testing.assert_array_equal(out, rgb)


def test_bgr8_channels_are_swapped(converter):
    rgb = _rgb(seed=1)
    out = converter.to_rgb(raw_msg(np.ascontiguousarray(rgb[..., ::-1]), 'bgr8'))
    np.testing.assert_array_equal(out, rgb)


def test_mono8_is_replicated_to_three_channels(converter):
    gray = _rgb(seed=2)[..., 0].copy()
    out = converter.to_rgb(raw_msg(gray, 'mono8'))
    assert out.shape == gray.shape + (3,)
    for c in range(3):
        np.testing.assert_array_equal(out[..., c], gray)


@pytest.mark.parametrize('encoding', ['rgb8', 'mono8'])
def test_row_padding_in_step_is_skipped(converter, encoding):
    rgb = _rgb(height=10, width=13, seed=3)
    pixels = rgb if encoding == 'rgb8' else rgb[..., 0].copy()
    out = converter.to_rgb(raw_msg(pixels, encoding, step_pad=5))
    expected = rgb if encoding == 'rgb8' else np.repeat(pixels[..., None], 3, axis=2)
    np.testing.assert_array_equal(out, expected)


def test_png_is_lossless(converter):
    rgb = _rgb(seed=4)
    out = converter.to_rgb(compressed_msg(rgb[..., ::-1], '.png'))
    np.testing.assert_array_equal(out, rgb)


def test_grey_png_becomes_rgb(converter):
    gray = _rgb(seed=5)[..., 1].copy()
    out = converter.to_rgb(compressed_msg(gray, '.png'))
    np.testing.assert_array_equal(out, np.repeat(gray[..., None], 3, axis=2))


def test_jpeg_matches_opencv_decoding(converter):
    rgb = _rgb(height=96, width=128, seed=6)
    msg = compressed_msg(rgb[..., ::-1], '.jpg', fmt='rgb8; jpeg compressed bgr8')
    out = converter.to_rgb(msg)
    reference = cv2.imdecode(np.frombuffer(bytes(msg.data), np.uint8), cv2.IMREAD_COLOR)
    np.testing.assert_array_equal(out, reference[..., ::-1])
    # ... and it is the image that was encoded, up to JPEG loss (not e.g. BGR).
    assert np.abs(out.astype(int) - rgb).mean() < 4.0
    assert np.abs(out.astype(int) - rgb[..., ::-1]).mean() > 10.0


@pytest.mark.parametrize('encoding', ['16UC1', 'rgba8', 'yuv422', '32FC1'])
def test_unsupported_raw_encoding_names_itself(converter, encoding):
    msg = Image(height=2, width=2, encoding=encoding, step=16)
    msg.data = array.array('B', bytes(32))
    with pytest.raises(ImageConversionError, match=f"unsupported encoding '{encoding}'"):
        converter.to_rgb(msg)


def test_compressed_data_that_is_not_jpeg_or_png_is_refused(converter):
    msg = CompressedImage(format='16UC1; compressedDepth png')
    msg.data = array.array('B', bytes(12) + b'\x89PNG\r\n\x1a\n' + bytes(20))
    with pytest.raises(ImageConversionError, match='not jpeg or png'):
        converter.to_rgb(msg)


def test_corrupt_jpeg_is_refused(converter):
    good = compressed_msg(_rgb()[..., ::-1], '.jpg')
    msg = CompressedImage(format='jpeg')
    msg.data = array.array('B', bytes(good.data[:40]))
    with pytest.raises(ImageConversionError, match='could not be decoded'):
        converter.to_rgb(msg)


@pytest.mark.parametrize('height,width,step,size,match', [
    (4, 4, 11, 48, 'step 11 is smaller'),
    (4, 4, 12, 47, 'cannot hold 4 rows'),
    (0, 4, 12, 0, 'empty image'),
])
def test_inconsistent_raw_image_is_refused(converter, height, width, step, size, match):
    msg = Image(height=height, width=width, encoding='rgb8', step=step)
    msg.data = array.array('B', bytes(size))
    with pytest.raises(ImageConversionError, match=match):
        converter.to_rgb(msg)


def test_unknown_backend_is_an_error():
    with pytest.raises(ValueError, match='unknown image backend'):
        ImageConverter('pillow')


def test_rosbags_backend_is_available_here():
    assert 'rosbags-image' in available_backends()
    assert ImageConverter('rosbags-image').backend == 'rosbags-image'
    assert ImageConverter().backend == available_backends()[0]


def _cases():
    rgb = _rgb(height=60, width=80, seed=7)
    return {
        'rgb8': raw_msg(rgb, 'rgb8'),
        'bgr8': raw_msg(np.ascontiguousarray(rgb[..., ::-1]), 'bgr8'),
        'mono8': raw_msg(rgb[..., 0].copy(), 'mono8'),
        'rgb8_padded': raw_msg(rgb, 'rgb8', step_pad=8),
        'jpeg': compressed_msg(rgb[..., ::-1], '.jpg'),
        'png': compressed_msg(rgb[..., ::-1], '.png'),
        'grey_png': compressed_msg(rgb[..., 2].copy(), '.png'),
    }


@pytest.mark.parametrize('case', sorted(_cases()))
def test_cv_bridge_and_rosbags_image_agree(case):
    """Both backends give identical arrays. cv_bridge exists only where ROS 2 is installed."""
    if 'cv_bridge' not in available_backends():
        pytest.skip('cv_bridge is not importable here (it is not on PyPI); this comparison '
                    'runs under a ROS 2 installation')
    msg = _cases()[case]
    np.testing.assert_array_equal(ImageConverter('cv_bridge').to_rgb(msg),
                                  ImageConverter('rosbags-image').to_rgb(msg))
