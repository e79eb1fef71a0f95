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
Camera frames for the fake robot: a 2-D drawing of the arm(s) from a few viewpoints.

Each arm is an SO-100-like chain: a yaw joint at the base, three pitch joints (shoulder, elbow,
wrist) in the vertical plane the yaw selects, a wrist roll and a parallel gripper. ALOHA's two
arms use the same chain, one per name prefix. Views are orthographic: 'side' (x-z), 'front'
(y-z), 'top' (y-x) and 'wrist' (the gripper seen from the wrist, with a horizon that tilts and
moves with the wrist). A fixed cube on the table gives the scene some static content. Every
pixel depends only on the joint values, so equal states give identical frames.
"""

import dataclasses
import math

import cv2
import numpy as np

VIEWS = ('side', 'front', 'top', 'wrist')
# Link lengths (m) and shoulder height of the drawn arm; roughly an SO-100's proportions.
LINKS = (0.116, 0.135, 0.10)
SHOULDER_HEIGHT = 0.06
# Pose at zero joint values: upper arm vertical, forearm horizontal, hand in line with it.
PITCH_OFFSETS = (0.0, math.pi / 2, 0.0)
ARM_SPACING = 0.45                  # m between the bases of neighbouring arms (along y)
CUBE = (0.24, 0.06, 0.03)           # x, y of its centre and half the edge (m), on the table
LINK_COLOURS = ((230, 120, 40), (60, 160, 230), (90, 200, 90))   # RGB per link
JAW_COLOUR = (240, 220, 60)
CUBE_COLOUR = (200, 40, 40)


@dataclasses.dataclass(frozen=True)
class ArmLayout:
    """
    Which joints drive the drawing.

    Joint names are suffixes combined with each prefix in arm_prefixes ('' for a single arm,
    e.g. ('left_', 'right_') for ALOHA). angle_scale converts joint units to radians (pi/180 for
    degrees); gripper_range is (closed, open) in gripper units. Unnamed joints are drawn at 0.
    """

    arm_prefixes: tuple = ('',)
    yaw_joint: str = 'shoulder_pan'
    pitch_joints: tuple = ('shoulder_lift', 'elbow_flex', 'wrist_flex')
    roll_joint: str = 'wrist_roll'
    gripper_joint: str = 'gripper'
    angle_scale: float = math.pi / 180.0
    gripper_range: tuple = (0.0, 100.0)

    def arm_joints(self, state, prefix):
        """Return (yaw, (p1, p2, p3), roll) in radians and the gripper opening in [0, 1]."""
        def angle(suffix):
            return state.get(prefix + suffix, 0.0) * self.angle_scale if suffix else 0.0

        pitches = tuple(angle(s) for s in self.pitch_joints)
        pitches += (0.0,) * (3 - len(pitches))
        closed, opened = self.gripper_range
        grip = state.get(prefix + self.gripper_joint, closed) if self.gripper_joint else closed
        span = opened - closed
        opening = 0.0 if span == 0 else min(max((grip - closed) / span, 0.0), 1.0)
        return angle(self.yaw_joint), pitches[:3], angle(self.roll_joint), opening


@dataclasses.dataclass(frozen=True)
class ArmPose:
    """World points of one drawn arm, each a float array [3] (x forward, y left, z up)."""

    base: np.ndarray
    joints: tuple        # shoulder, elbow, wrist, tool centre
    jaws: tuple          # two (root, tip) pairs
    hand_pitch: float    # angle of the hand from vertical (rad)
    roll: float


def arm_pose(layout, state, prefix, base_y):
    """Forward kinematics of one arm in world coordinates."""
    yaw, pitches, roll, opening = layout.arm_joints(state, prefix)
    heading = np.array([math.cos(yaw), math.sin(yaw), 0.0])
    up = np.array([0.0, 0.0, 1.0])
    base = np.array([0.0, base_y, 0.0])
    points = [base + SHOULDER_HEIGHT * up]
    theta = 0.0
    for length, offset, pitch in zip(LINKS, PITCH_OFFSETS, pitches):
        theta += offset + pitch                   # cumulative angle from vertical
        step = length * (math.sin(theta) * heading + math.cos(theta) * up)
        points.append(points[-1] + step)
    along = (points[-1] - points[-2]) / LINKS[-1]
    # The jaws open across the hand; roll turns that axis about the hand.
    side = np.array([-heading[1], heading[0], 0.0])
    normal = np.cross(along, side)
    across = math.cos(roll) * side + math.sin(roll) * normal
    half = 0.008 + 0.03 * opening
    tip = points[-1]
    jaws = tuple((tip + s * half * across, tip + s * half * across + 0.04 * along)
                 for s in (-1.0, 1.0))
    return ArmPose(base, tuple(points), jaws, theta, roll)


class ArmRenderer:
    """Renders RGB frames (uint8 [height, width, 3]) of the arms for one view."""

    def __init__(self, layout, view, width, height, arm_prefix=None):
        if view not in VIEWS:
            raise ValueError(f'unknown camera view {view!r}; use one of {list(VIEWS)}')
        if width < 32 or height < 32:
            raise ValueError(f'image size {width}x{height} is too small (>= 32x32)')
        self.layout, self.view, self.size = layout, view, (width, height)
        prefixes = list(layout.arm_prefixes)
        if arm_prefix is not None and arm_prefix not in prefixes:
            raise ValueError(f'arm {arm_prefix!r} is not one of arm_prefixes {prefixes}')
        self.prefixes = prefixes if arm_prefix is None else [arm_prefix]
        # Bases spread along y, centred on 0; the left arm (first prefix) at +y.
        n = len(prefixes)
        self.base_y = {p: ((n - 1) / 2.0 - i) * ARM_SPACING for i, p in enumerate(prefixes)}
        self._scale, self._centre = self._fit()
        self._background = self._draw_background()

    def render(self, state):
        """Draw the arms for state ({joint name: value}); returns a new RGB image."""
        image = self._background.copy()
        poses = [arm_pose(self.layout, state, p, self.base_y[p]) for p in self.prefixes]
        if self.view == 'wrist':
            self._draw_wrist(image, poses[0])
        else:
            for pose in poses:
                self._draw_arm(image, pose)
        return image

    # -- projection ----------------------------------------------------------------------
    def _uv(self, point):
        x, y, z = point
        return {'side': (x, z), 'front': (-y, z), 'top': (-y, x)}[self.view]

    def _px(self, point):
        u, v = self._uv(point)
        cu, cv = self._centre
        return (int(round(self.size[0] / 2 + self._scale * (u - cu))),
                int(round(self.size[1] / 2 - self._scale * (v - cv))))

    def _fit(self):
        # World box that holds every reachable point of the drawn arms, plus a margin.
        reach = SHOULDER_HEIGHT + sum(LINKS) + 0.05
        ys = list(self.base_y.values())
        box = {'side': ((-reach, reach), (-0.02, reach)),
               'front': ((-max(ys) - reach, -min(ys) + reach), (-0.02, reach)),
               'top': ((-max(ys) - reach, -min(ys) + reach), (-reach, reach))}.get(self.view)
        if box is None:
            return 1.0, (0.0, 0.0)
        (u0, u1), (v0, v1) = box
        scale = min(self.size[0] / (u1 - u0), self.size[1] / (v1 - v0))
        return scale, ((u0 + u1) / 2, (v0 + v1) / 2)

    # -- drawing -------------------------------------------------------------------------
    def _draw_background(self):
        w, h = self.size
        image = np.empty((h, w, 3), np.uint8)
        # A vertical gradient, so that the frame is not flat even where nothing is drawn.
        image[:] = np.linspace(60, 110, h, dtype=np.uint8)[:, None, None]
        if self.view == 'wrist':
            return image
        if self.view == 'top':
            for x in np.arange(-0.5, 0.55, 0.1):
                cv2.line(image, self._px((x, 2.0, 0)), self._px((x, -2.0, 0)), (80, 80, 80), 1)
        else:
            cv2.line(image, self._px((-2.0, 2.0, 0)), self._px((2.0, -2.0, 0)), (150, 150, 150), 2)
        cx, cy, half = CUBE
        corners = [(cx + dx, cy + dy, dz) for dx in (-half, half) for dy in (-half, half)
                   for dz in (0.0, 2 * half)]
        pts = np.array([self._px(c) for c in corners], np.int32)
        cv2.fillConvexPoly(image, cv2.convexHull(pts), CUBE_COLOUR)
        return image

    def _line_width(self):
        return max(2, int(round(self.size[1] / 60)))

    def _draw_arm(self, image, pose):
        width = self._line_width()
        cv2.circle(image, self._px(pose.base), 2 * width, (200, 200, 200), -1)
        cv2.line(image, self._px(pose.base), self._px(pose.joints[0]), (200, 200, 200), width)
        for colour, a, b in zip(LINK_COLOURS, pose.joints[:-1], pose.joints[1:]):
            cv2.line(image, self._px(a), self._px(b), colour, width, cv2.LINE_AA)
            cv2.circle(image, self._px(a), width, (255, 255, 255), -1)
        for root, tip in pose.jaws:
            cv2.line(image, self._px(root), self._px(tip), JAW_COLOUR, max(1, width - 1))

    def _draw_wrist(self, image, pose):
        w, h = self.size
        # The horizon: mid-frame when the hand is level, out of the top of the frame when it
        # points down at the table, tilted by the roll.
        dx, dy = math.cos(pose.roll) * w, math.sin(pose.roll) * w
        centre = (w / 2, h / 2 + 0.8 * h * math.cos(pose.hand_pitch))
        floor = np.array([(centre[0] - dx, centre[1] - dy), (centre[0] + dx, centre[1] + dy),
                          (centre[0] + dx - dy * 4, centre[1] + dy + dx * 4),
                          (centre[0] - dx - dy * 4, centre[1] - dy + dx * 4)], np.int32)
        cv2.fillConvexPoly(image, floor, (150, 120, 90))
        # The two jaws as seen from the wrist camera: their gap is the gripper opening.
        (r0, _), (r1, _) = pose.jaws
        gap = (np.linalg.norm(r1 - r0) - 0.016) / 0.06   # 0..1 over the opening range
        for s in (-1, 1):
            x = int(w / 2 + s * (0.06 + 0.3 * gap) * w)
            cv2.rectangle(image, (x - w // 20, int(0.55 * h)), (x + w // 20, h), JAW_COLOUR, -1)
