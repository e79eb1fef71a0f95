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
fake_robot: stands in for the arm(s) and the cameras, so the whole graph runs on any machine.

Subscribes `joint_commands` (Float64MultiArray in joint order, JointState or single-point
JointTrajectory by name; by default whatever type the executor publishes), integrates the
targets with sim/fake_arm.py (limits, speed limit, first-order lag) and publishes
`joint_states` at joint_state_rate_hz and, per camera, `<prefix>/<name>/image_raw` (rgb8) and
`<prefix>/<name>/image_raw/compressed` (JPEG) at camera_rate_hz, drawn by sim/arm_render.py
from the current joint state. A camera topic with no subscriber costs nothing. Frames and joint
states carry the ROS time at which they were produced. With `leader_topic` set (teleoperation,
`teleop_topic:=`), it plays a scripted leader arm instead: it publishes the leader's JointState
there and follows it, ignoring joint_commands.
"""

import array
import sys
import time

import cv2
from diagnostic_msgs.msg import DiagnosticArray
import numpy as np
from rclpy.node import Node
from rclpy.qos import QoSProfile, ReliabilityPolicy
from sensor_msgs.msg import CompressedImage, Image, JointState

from .config import COMMAND_TYPES, TABLE, validate
from ..common import declare_table, make_status, run_node
from ..topic_types import discovered_types, message_class
from ...sim.arm_render import ArmRenderer
from ...sim.fake_arm import CommandError, FakeArm, scripted_leader

# Best effort accepts both reliable and best-effort publishers of commands.
COMMAND_QOS = QoSProfile(depth=10, reliability=ReliabilityPolicy.BEST_EFFORT)


class FakeRobotNode(Node):
    """The fake arm and cameras; see the module docstring."""

    def __init__(self, **kwargs):
        super().__init__('fake_robot', **kwargs)
        self.config = cfg = validate(declare_table(self, TABLE))
        self.arm = FakeArm(cfg.joint_names, cfg.limits, cfg.time_constant_s,
                           cfg.initial_positions or None)
        # The positions of the last joint tick, which the cameras draw (every callback runs on
        # run_node's one executor thread: no lock needed).
        self._snapshot = self.arm.state()
        self._last_step = time.monotonic()
        self._noise = np.random.default_rng(cfg.noise_seed)
        self.counts = {'commands': 0, 'rejected': 0, 'frames': 0}
        self._last_error = ''
        self._joint_pub = self.create_publisher(JointState, 'joint_states', 10)
        self._diag_pub = self.create_publisher(DiagnosticArray, '/diagnostics', 10)
        self._cameras = [self._make_camera(c) for c in cfg.cameras]
        self._command_sub = None
        self._command_type = None
        self._leader = None
        if cfg.leader_topic:
            # teleoperation: the arm follows a scripted leader instead of joint_commands
            self._leader = (self.create_publisher(JointState, cfg.leader_topic, 10),
                            self.arm.state(), time.monotonic())
        self.create_timer(1.0 / cfg.joint_state_rate_hz, self._on_joint_tick)
        if self._cameras:
            self.create_timer(1.0 / cfg.camera_rate_hz, self._on_camera_tick)
        self.create_timer(1.0, self._on_slow_tick)
        if cfg.command_type != 'auto' and self._leader is None:
            self._subscribe_commands(cfg.command_type)
        self.get_logger().info(
            f'fake robot ready: {len(cfg.joint_names)} joints, cameras '
            f'{[c.name for c in cfg.cameras]}, command type {cfg.command_type}')

    # -- commands ------------------------------------------------------------------------
    def _subscribe_commands(self, type_name):
        cls = message_class(type_name)
        self._command_type = type_name
        self._command_sub = self.create_subscription(
            cls, 'joint_commands', self._on_command, COMMAND_QOS)
        self.get_logger().info(f'listening to joint_commands as {type_name}')

    def _discover_command_type(self):
        types = [t for t in discovered_types(self, 'joint_commands')
                 if t in COMMAND_TYPES.values()]
        if types:
            self._subscribe_commands(types[0])

    def _on_command(self, msg):
        try:
            values, names = _command_values(msg)
            self.arm.command(values, names)
            self.counts['commands'] += 1
        except CommandError as exc:
            self.counts['rejected'] += 1
            self._last_error = str(exc)
            self.get_logger().warning(f'command rejected, holding the previous target: {exc}',
                                      throttle_duration_sec=2.0)

    # -- joint states --------------------------------------------------------------------
    def _on_joint_tick(self):
        now = time.monotonic()
        if self._leader is not None:
            self._play_leader(now)
        # Integrate over the real elapsed time, so a late tick does not slow the arm down.
        positions = self.arm.step(min(now - self._last_step, 0.1))
        self._last_step = now
        self._snapshot = dict(zip(self.arm.joint_names, positions.tolist()))
        msg = JointState()
        msg.header.stamp = self.get_clock().now().to_msg()
        msg.name = list(self.arm.joint_names)
        if self.config.position_noise_std > 0.0:
            # encoder jitter on the reading only: the arm and the cameras stay exact
            positions = positions + self._noise.normal(0.0, self.config.position_noise_std,
                                                       positions.shape)
        msg.position = positions.tolist()
        msg.velocity = self.arm.velocities.tolist()
        self._joint_pub.publish(msg)

    def _play_leader(self, now):
        publisher, start, t0 = self._leader
        names = list(self.arm.joint_names)
        positions = scripted_leader(now - t0, [start[n] for n in names], self.arm.limits)
        msg = JointState()
        msg.header.stamp = self.get_clock().now().to_msg()
        msg.name = names
        msg.position = positions.tolist()
        publisher.publish(msg)
        self.arm.command(positions)
        self.counts['commands'] += 1

    # -- cameras -------------------------------------------------------------------------
    def _make_camera(self, camera):
        cfg = self.config
        base = f'{cfg.camera_topic_prefix.strip("/")}/{camera.name}/image_raw'.lstrip('/')
        return {
            'frame_id': f'{camera.name}_optical_frame',
            'renderer': ArmRenderer(cfg.layout, camera.view, *cfg.image_size, camera.arm),
            'raw': self.create_publisher(Image, base, 2),
            'compressed': self.create_publisher(CompressedImage, base + '/compressed', 2),
        }

    def _on_camera_tick(self):
        state = self._snapshot
        stamp = self.get_clock().now().to_msg()
        for cam in self._cameras:
            want_raw = cam['raw'].get_subscription_count() > 0
            want_jpeg = cam['compressed'].get_subscription_count() > 0
            if not (want_raw or want_jpeg):
                continue
            rgb = cam['renderer'].render(state)      # uint8 [H, W, 3]
            if want_raw:
                cam['raw'].publish(_image_msg(rgb, stamp, cam['frame_id']))
            if want_jpeg:
                cam['compressed'].publish(
                    _jpeg_msg(rgb, stamp, cam['frame_id'], self.config.jpeg_quality))
        self.counts['frames'] += 1

    # -- housekeeping --------------------------------------------------------------------
    def _on_slow_tick(self):
        if self._command_sub is None and self._leader is None:
            self._discover_command_type()
        values = {**self.counts, 'clamped_commands': self.arm.clamped_commands,
                  'command_type': self._command_type or 'waiting for joint_commands',
                  'last_error': self._last_error}
        level = 'warn' if self.counts['rejected'] else 'ok'
        msg = DiagnosticArray()
        msg.header.stamp = self.get_clock().now().to_msg()
        msg.status = [make_status(self, level, 'fake hardware', values)]
        self._diag_pub.publish(msg)


def _command_values(msg):
    """Return (values, names or None) of a command message; raise CommandError if unusable."""
    if hasattr(msg, 'points'):          # JointTrajectory: the first point is the command
        if not msg.points:
            raise CommandError('JointTrajectory command without points')
        return list(msg.points[0].positions), list(msg.joint_names)
    if hasattr(msg, 'position'):        # JointState
        return list(msg.position), list(msg.name)
    return list(msg.data), None         # Float64MultiArray, in the arm's joint order


def _image_msg(rgb, stamp, frame_id):
    msg = Image()
    msg.header.stamp = stamp
    msg.header.frame_id = frame_id
    msg.height, msg.width = rgb.shape[:2]
    msg.encoding = 'rgb8'
    msg.step = rgb.shape[1] * 3
    msg.data = array.array('B', rgb.tobytes())    # array: no per-element type check
    return msg


def _jpeg_msg(rgb, stamp, frame_id, quality):
    ok, buf = cv2.imencode('.jpg', cv2.cvtColor(rgb, cv2.COLOR_RGB2BGR),
                           [cv2.IMWRITE_JPEG_QUALITY, quality])
    if not ok:
        raise RuntimeError('OpenCV could not encode a JPEG frame')
    msg = CompressedImage()
    msg.header.stamp = stamp
    msg.header.frame_id = frame_id
    msg.format = 'rgb8; jpeg compressed bgr8'
    msg.data = array.array('B', buf.tobytes())
    return msg


def main(args=None):
    return run_node(FakeRobotNode, args=args)


if __name__ == '__main__':
    sys.exit(main())
