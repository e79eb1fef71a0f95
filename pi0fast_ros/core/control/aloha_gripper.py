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
The ALOHA gripper maps between the ALOHA runtime's linear gripper and pi0's angular one.

Formulas and constants: pi0fast-facts §6, i.e. openpi src/openpi/policies/aloha_policy.py
(@15a9616) lines 109-156 for the current constants, and LeRobot 0.4.4
policies/smolvla/modeling_smolvla.py:171-229 for the older ones:

- state side, ``to_angular``: normalized linear value -> metres (0.01844..0.05800) ->
  horn angle ``asin(clip((r^2 + L^2 - a^2) / (2 r L), -1, 1))`` with horn radius r = 0.022 and
  arm length a = 0.036 (Interbotix) -> normalized over an angular range;
- action side, ``from_angular``: ``normalize(v * k + c, -0.6213, 1.4910)``;
- ``from_angular_inv`` (training actions) is its exact inverse.

``to_angular`` is invertible on the linear range where the clip is inactive (the whole
0..1 range: at v = 1 the argument is exactly 1, i.e. 90 degrees); its inverse here solves the
law of cosines for L (the positive root; the other is negative because a > r).
"""

import dataclasses

import numpy as np

from .adapters import Adapter, AdapterSpecError

# Interbotix gripper geometry and the ALOHA puppet gripper range (metres).
HORN_RADIUS = 0.022
ARM_LENGTH = 0.036
LINEAR_CLOSED = 0.01844
LINEAR_OPEN = 0.05800
# ALOHA puppet gripper joint range (radians): PUPPET_GRIPPER_JOINT_OPEN / _CLOSE.
JOINT_MIN = -0.6213
JOINT_MAX = 1.4910


@dataclasses.dataclass(frozen=True)
class GripperConstants:
    """The constants that differ between openpi's current maps and LeRobot's older ones."""

    # to_angular normalizes the horn angle over [angle_min, angle_max]
    angle_min: float
    angle_max: float
    # from_angular un-normalizes v as v * from_scale + from_offset before the joint range
    from_scale: float
    from_offset: float


CONSTANTS = {
    # openpi aloha_policy.py:134-156: encoder counts (2405, 3110) -> (0.5476, 1.6296) rad;
    # from_angular only adds 0.5476 ("predictions are already in radians").
    'openpi': GripperConstants(0.5476, 1.6296, 1.0, 0.5476),
    # LeRobot smolvla / openpi before acda45e: (0.4, 1.5) measured on a Trossen robot.
    'lerobot': GripperConstants(0.4, 1.5, 1.5 - 0.4, 0.4),
}


def to_angular(v, c):
    """Map the normalized linear gripper (ALOHA runtime) to the angular one (pi0)."""
    length = v * (LINEAR_OPEN - LINEAR_CLOSED) + LINEAR_CLOSED
    cos_arg = (HORN_RADIUS ** 2 + length ** 2 - ARM_LENGTH ** 2) / (2 * HORN_RADIUS * length)
    theta = np.arcsin(np.clip(cos_arg, -1.0, 1.0))
    return (theta - c.angle_min) / (c.angle_max - c.angle_min)


def to_angular_inv(w, c):
    """Invert to_angular where its clip is inactive (angle <= 90 degrees)."""
    s = np.sin(w * (c.angle_max - c.angle_min) + c.angle_min)
    # L^2 - 2 r s L + (r^2 - a^2) = 0, positive root
    length = HORN_RADIUS * s + np.sqrt(ARM_LENGTH ** 2 - HORN_RADIUS ** 2 * (1.0 - s ** 2))
    return (length - LINEAR_CLOSED) / (LINEAR_OPEN - LINEAR_CLOSED)


def from_angular(v, c):
    """Map a policy gripper action to the ALOHA gripper command (normalized joint range)."""
    return (v * c.from_scale + c.from_offset - JOINT_MIN) / (JOINT_MAX - JOINT_MIN)


def from_angular_inv(v, c):
    """Invert from_angular: recorded gripper command -> policy (training) action."""
    return (v * (JOINT_MAX - JOINT_MIN) + JOINT_MIN - c.from_offset) / c.from_scale


class AlohaGripper(Adapter):
    """
    The ALOHA gripper maps on the gripper dims (default 6 and 13).

    ``state_to_policy`` = to_angular, ``action_to_robot`` = from_angular,
    ``robot_to_action`` = from_angular_inv, ``policy_to_state`` = to_angular's inverse.
    """

    kind = 'aloha_gripper'

    def __init__(self, name, indices=(6, 13), constants='openpi'):
        super().__init__(name)
        if constants not in CONSTANTS:
            raise AdapterSpecError(
                f'adapter {name!r} (aloha_gripper): constants must be one of '
                f'{sorted(CONSTANTS)}, got {constants!r}')
        self.constants = CONSTANTS[constants]
        self.indices = [int(i) for i in indices]
        if not self.indices or len(set(self.indices)) != len(self.indices):
            raise AdapterSpecError(
                f'adapter {name!r} (aloha_gripper): indices must be unique and non-empty, '
                f'got {self.indices}')

    def check_dim(self, dim):
        self._check_indices(self.indices, dim)

    def _on_grippers(self, x, fn):
        x = self._check_input(x)
        x[..., self.indices] = fn(x[..., self.indices], self.constants)
        return x

    def state_to_policy(self, x):
        return self._on_grippers(x, to_angular)

    def policy_to_state(self, x):
        return self._on_grippers(x, to_angular_inv)

    def action_to_robot(self, x):
        return self._on_grippers(x, from_angular)

    def robot_to_action(self, x):
        return self._on_grippers(x, from_angular_inv)
