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

"""Small real messages for the policy node's unit tests."""

import array

import cv2
from sensor_msgs.msg import CompressedImage, Image, JointState

NAMES = ['a', 'b', 'c']
SEC = 1_000_000_000


def joint_state(names, positions, stamp_ns=5 * SEC):
    msg = JointState(name=list(names), position=[float(p) for p in positions])
    msg.header.stamp.sec, msg.header.stamp.nanosec = divmod(stamp_ns, SEC)
    return msg


def image(value, stamp_ns=5 * SEC, encoding='rgb8', height=6, width=8):
    msg = Image(height=height, width=width, encoding=encoding, step=width * 3)
    msg.data = array.array('B', bytes([value]) * (height * width * 3))
    msg.header.stamp.sec, msg.header.stamp.nanosec = divmod(stamp_ns, SEC)
    return msg


def compressed_msg(bgr_or_gray, ext, fmt=None):
    ok, buf = cv2.imencode(ext, bgr_or_gray)
    assert ok
    msg = CompressedImage(format=fmt or ext.lstrip('.'))
    msg.data = array.array('B', buf.tobytes())
    return msg
