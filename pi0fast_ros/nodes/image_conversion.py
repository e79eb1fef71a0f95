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
Camera messages -> uint8 RGB arrays [H, W, 3], the policy facade's image input.

`sensor_msgs/Image` with encoding rgb8, bgr8 or mono8, and `sensor_msgs/CompressedImage` holding
JPEG or PNG data, are supported; anything else raises ImageConversionError with the reason.
The pixel work goes through ROS's `cv_bridge` where it is installed (apt ROS 2) and otherwise
through `rosbags-image` (PyPI): both wrap the same OpenCV calls (cvtColor for raw images,
imdecode with IMREAD_ANYCOLOR for compressed ones), so they give identical arrays. Messages are
duck-typed (height/width/encoding/step/data, or format/data), so rclpy and rosbags messages both
work. Checks that can be made without touching pixels (`check_image`) are cheap, so a node can
run them in its subscription callbacks and defer the conversion to its worker.
"""

import types

import cv2
import numpy as np

SUPPORTED_ENCODINGS = ('rgb8', 'bgr8', 'mono8')
SUPPORTED_COMPRESSED = ('jpeg', 'png')
# A compressed format is recognised by its data, not by the free-form `format` string.
_MAGIC = {'jpeg': b'\xff\xd8\xff', 'png': b'\x89PNG\r\n\x1a\n'}
_CHANNELS = {'rgb8': 3, 'bgr8': 3, 'mono8': 1}


class ImageConversionError(ValueError):
    """A camera message that cannot become an RGB image; the message says why."""


def is_compressed(msg):
    """Return True for a CompressedImage (it has `format`), False for a raw Image."""
    return hasattr(msg, 'format')


def compressed_kind(msg):
    """Return 'jpeg' or 'png' from the data's magic bytes, or raise ImageConversionError."""
    head = bytes(msg.data[:8])
    for kind, magic in _MAGIC.items():
        if head.startswith(magic):
            return kind
    raise ImageConversionError(
        f'unsupported compressed image (format {msg.format!r}, {len(msg.data)} bytes): the '
        f'data is not {" or ".join(SUPPORTED_COMPRESSED)}')


def check_image(msg):
    """
    Raise ImageConversionError unless msg is a supported, self-consistent camera message.

    Cheap (no pixel access): the encoding or compressed kind, the size, and for raw images
    that `step` and `data` hold height rows of width pixels.
    """
    if is_compressed(msg):
        if len(msg.data) == 0:
            raise ImageConversionError('empty compressed image')
        compressed_kind(msg)
        return
    if msg.encoding not in SUPPORTED_ENCODINGS:
        raise ImageConversionError(
            f'unsupported encoding {msg.encoding!r} (supported: '
            f'{", ".join(SUPPORTED_ENCODINGS + SUPPORTED_COMPRESSED)})')
    if msg.height == 0 or msg.width == 0:
        raise ImageConversionError(f'empty image ({msg.width}x{msg.height})')
    row = msg.width * _CHANNELS[msg.encoding]
    if msg.step < row:
        raise ImageConversionError(
            f'step {msg.step} is smaller than a row of {msg.width} {msg.encoding} pixels '
            f'({row} bytes)')
    if len(msg.data) < msg.step * (msg.height - 1) + row:
        raise ImageConversionError(
            f'{len(msg.data)} data bytes cannot hold {msg.height} rows of step {msg.step}')


def _compact(msg):
    # A view of a raw image without row padding (step > width * channels), so that both
    # backends see rows back to back (rosbags-image ignores `step`; older cv_bridge too).
    row = msg.width * _CHANNELS[msg.encoding]
    data = np.frombuffer(msg.data, np.uint8)
    if msg.step != row:
        rows = np.lib.stride_tricks.as_strided(
            data, shape=(msg.height, row), strides=(msg.step, 1))
        data = np.ascontiguousarray(rows)
    else:
        data = data[:msg.height * row]
    return types.SimpleNamespace(height=msg.height, width=msg.width, encoding=msg.encoding,
                                 is_bigendian=msg.is_bigendian, step=row, data=data)


def _decoded_to_rgb(image):
    # imdecode(IMREAD_ANYCOLOR) gives BGR [H, W, 3] for colour data and [H, W] for grey data.
    if image is None:
        raise ImageConversionError('compressed image data could not be decoded (corrupt?)')
    if image.dtype != np.uint8:
        raise ImageConversionError(f'decoded image has dtype {image.dtype}, expected uint8')
    if image.ndim == 2:
        return cv2.cvtColor(image, cv2.COLOR_GRAY2RGB)
    if image.ndim == 3 and image.shape[2] == 3:
        return cv2.cvtColor(image, cv2.COLOR_BGR2RGB)
    raise ImageConversionError(f'decoded image has unsupported shape {image.shape}')


class _RosbagsBackend:
    """rosbags-image (pip): message_to_cvimage on raw images, its imdecode on compressed."""

    name = 'rosbags-image'

    def __init__(self):
        from rosbags.image import image as rosbags_image
        self._lib = rosbags_image

    def raw_to_rgb(self, msg):
        return self._lib.image_to_cvimage(msg, 'rgb8')

    def decode(self, msg):
        try:
            return self._lib.compressed_image_to_cvimage(msg)
        except AssertionError:
            # rosbags asserts that imdecode returned an image.
            return None


class _CvBridgeBackend:
    """ROS's cv_bridge (apt ROS 2 installs): imgmsg_to_cv2 / compressed_imgmsg_to_cv2."""

    name = 'cv_bridge'

    def __init__(self):
        from cv_bridge import CvBridge
        self._bridge = CvBridge()

    def raw_to_rgb(self, msg):
        return self._bridge.imgmsg_to_cv2(msg, 'rgb8')

    def decode(self, msg):
        return self._bridge.compressed_imgmsg_to_cv2(msg, 'passthrough')


_BACKENDS = {'cv_bridge': _CvBridgeBackend, 'rosbags-image': _RosbagsBackend}


def available_backends():
    """Names of the conversion backends importable here, preferred first."""
    names = []
    for name, cls in _BACKENDS.items():
        try:
            cls()
        except ImportError:
            continue
        names.append(name)
    return names


class ImageConverter:
    """
    Convert camera messages to uint8 RGB [H, W, 3] through one backend.

    backend: 'cv_bridge', 'rosbags-image' or None for the first one available (cv_bridge
    preferred). Raises ImportError when the named backend (or none at all) can be imported.
    """

    def __init__(self, backend=None):
        names = [backend] if backend else list(_BACKENDS)
        errors = []
        for name in names:
            if name not in _BACKENDS:
                raise ValueError(f'unknown image backend {name!r} (known: {list(_BACKENDS)})')
            try:
                self._backend = _BACKENDS[name]()
                return
            except ImportError as exc:
                errors.append(f'{name}: {exc}')
        raise ImportError('no image conversion backend: ' + '; '.join(errors))

    @property
    def backend(self):
        """Name of the backend in use."""
        return self._backend.name

    def to_rgb(self, msg):
        """Return msg as uint8 RGB [H, W, 3], or raise ImageConversionError with the reason."""
        check_image(msg)
        try:
            if is_compressed(msg):
                return _decoded_to_rgb(self._backend.decode(msg))
            image = self._backend.raw_to_rgb(_compact(msg))
        except ImageConversionError:
            raise
        except Exception as exc:  # backends raise their own error types
            raise ImageConversionError(f'{self.backend} could not convert the image: {exc}')
        return image.reshape(msg.height, msg.width, 3)
