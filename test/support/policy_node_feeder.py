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
A robot stand-in for the policy node's tests: cameras and joint states from the test's probe.

One timer publishes, every period, a joint state and a frame per camera, all stamped with the
probe's ROS time (or made bad on purpose, see `mode`), and remembers every stamp it sent, so
tests can tell which inputs a chunk was computed from.
"""

import array
import threading

import cv2
import numpy as np
from pi0fast_ros.testing.random_checkpoint import make_random_checkpoint
from rclpy.qos import qos_profile_sensor_data
from sensor_msgs.msg import CompressedImage, Image, JointState

JOINTS = ['shoulder_pan', 'shoulder_lift', 'elbow_flex', 'wrist_flex', 'wrist_roll', 'gripper']
CAMERAS = [('cam/front/image_raw', False), ('cam/wrist/image_raw/compressed', True)]
HORIZON, RATE_HZ = 10, 30.0
FIRST_INSTRUCTION = 'pick up the red cube'

GOOD = 'good'
STALE_CAMERA = 'stale_camera'          # the first camera's frames stamped 10 s in the past
MISSING_JOINT = 'missing_joint'        # the last joint left out of the joint state
NAN_JOINT = 'nan_joint'                # one joint position NaN
BAD_ENCODING = 'bad_encoding'          # the first (raw) camera sends 16UC1
SILENT = 'silent'                      # publish nothing
HUGE_STATE = 'huge_state'              # finite joint positions x 1000 (absurd but finite)


def make_checkpoint(directory):
    """Tiny scripted checkpoint: slots front, wrist, side; 6-dim state and actions."""
    # state statistics around the Feeder's joint states (+-0.1), so that they lie inside the
    # checkpoint's state envelope (mean +- 3 std)
    state = {'mean': np.zeros(6), 'std': np.full(6, 0.5)}
    return make_random_checkpoint(directory / 'tiny', seed=3, cameras=('front', 'wrist', 'side'),
                                  state_dim=6, action_dim=6, chunk_size=HORIZON, scripted=True,
                                  stats={'observation.state': state})


def node_params(checkpoint, **overrides):
    """Parameters of a policy node on that checkpoint, fed by a Feeder with CAMERAS."""
    params = {'checkpoint_path': str(checkpoint), 'action_joint_names': JOINTS,
              'action_rate_hz': RATE_HZ, 'camera_slots': ['front', 'wrist'],
              'camera_topics': [t for t, _ in CAMERAS], 'max_input_age_s': 3.0,
              'instruction': FIRST_INSTRUCTION, 'diagnostics_period_s': 0.2,
              'torch_threads': 1}
    params.update(overrides)
    return params


def _frame(seed, height, width):
    rng = np.random.default_rng(seed)
    small = rng.integers(0, 256, (max(height // 8, 1), max(width // 8, 1), 3), np.uint8)
    return cv2.resize(small, (width, height), interpolation=cv2.INTER_LINEAR)


class Feeder:
    """
    Publish joint states + camera frames from probe.node at `rate_hz`.

    cameras: list of (topic, compressed) pairs. joint_names: names of the joint state.
    prefix: prepended to every topic (e.g. the namespace of the node under test).
    """

    def __init__(self, probe, cameras, joint_names, rate_hz=20.0, size=(48, 64), prefix=''):
        self.node = probe.node
        self.joint_names = list(joint_names)
        self.mode = GOOD
        self.joint_stamps = []            # (mode, stamp_ns) of every joint state sent
        self.camera_stamps = {topic: [] for topic, _ in cameras}   # (mode, stamp_ns) each
        self.sent = 0
        self._lock = threading.Lock()
        self._tick = 0
        self._joints_pub = self.node.create_publisher(JointState, prefix + 'joint_states',
                                                      qos_profile_sensor_data)
        self._cams = []
        for i, (topic, compressed) in enumerate(cameras):
            rgb = _frame(i, *size)
            if compressed:
                ok, buf = cv2.imencode('.jpg', rgb[..., ::-1])
                assert ok
                payload = array.array('B', buf.tobytes())
            else:
                payload = array.array('B', rgb.tobytes())
            pub = self.node.create_publisher(CompressedImage if compressed else Image,
                                             prefix + topic,
                                             qos_profile_sensor_data)
            self._cams.append((topic, compressed, payload, size, pub))
        self._timer = self.node.create_timer(1.0 / rate_hz, self._publish)

    def set_mode(self, mode):
        with self._lock:
            self.mode = mode

    def stamps(self, mode=None):
        """Return the joint-state stamps sent, in ns; only those sent in `mode` if given."""
        with self._lock:
            return [s for m, s in self.joint_stamps if mode is None or m == mode]

    def frame_stamps(self, topic, mode=None):
        """Return the stamps of the frames sent on topic, in ns; only in `mode` if given."""
        with self._lock:
            return [s for m, s in self.camera_stamps[topic] if mode is None or m == mode]

    def stop(self):
        self._timer.cancel()

    def extra_frames(self, rate_hz):
        """
        Publish good camera frames (stamped now) on a timer of their own; return its stop Event.

        The main timer sends the joint state last, so each inference starts right after a
        burst and the next burst may always come after it ended; frames from an unrelated rate
        arrive at any phase of an inference.
        """
        done = threading.Event()

        def publish():
            if done.is_set():
                # Destroyed from its own callback: no race with the executor's wait set.
                self.node.destroy_timer(timer)
                return
            stamp = self.node.get_clock().now().to_msg()
            for _, compressed, payload, size, pub in self._cams:
                pub.publish(self._camera_msg(compressed, payload, size, stamp, bad=False))
            with self._lock:
                self.sent += len(self._cams)
        timer = self.node.create_timer(1.0 / rate_hz, publish)
        return done

    def _publish(self):
        with self._lock:
            mode = self.mode
        if mode == SILENT:
            return
        now = self.node.get_clock().now()
        stamp = now.to_msg()
        self._tick += 1
        for i, (topic, compressed, payload, size, pub) in enumerate(self._cams):
            cam_stamp = stamp
            if i == 0 and mode == STALE_CAMERA:
                cam_stamp = (now - _seconds(10.0)).to_msg()
            pub.publish(self._camera_msg(compressed, payload, size, cam_stamp,
                                         bad=(i == 0 and mode == BAD_ENCODING)))
            with self._lock:
                self.camera_stamps[topic].append(
                    (mode, cam_stamp.sec * 10**9 + cam_stamp.nanosec))
        self._joints_pub.publish(self._joint_msg(mode, stamp))
        with self._lock:
            self.joint_stamps.append((mode, now.nanoseconds))
            self.sent += 1 + len(self._cams)

    def _camera_msg(self, compressed, payload, size, stamp, bad):
        if compressed:
            msg = CompressedImage(format='jpeg', data=payload)
        else:
            height, width = size
            msg = Image(height=height, width=width, encoding='16UC1' if bad else 'rgb8',
                        step=width * 3, data=payload)
        msg.header.stamp = stamp
        return msg

    def _joint_msg(self, mode, stamp):
        names = list(self.joint_names)
        positions = [0.1 * np.sin(0.05 * self._tick + j) for j in range(len(names))]
        if mode == MISSING_JOINT:
            names, positions = names[:-1], positions[:-1]
        if mode == NAN_JOINT:
            positions[1] = float('nan')
        if mode == HUGE_STATE:
            positions = [1000.0 * p for p in positions]
        msg = JointState(name=names, position=positions)
        msg.header.stamp = stamp
        return msg


def _seconds(value):
    from rclpy.duration import Duration
    return Duration(seconds=value)
