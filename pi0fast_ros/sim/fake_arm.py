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
Joint dynamics of the fake robot: position commands -> joint states.

A position-controlled servo is modelled as a first-order lag towards the commanded target
(time constant `time_constant_s`), with a per-joint speed limit and hard position limits. That
is close enough to an SO-100 / ALOHA servo under position control for the policy to see its
own commands take effect with a realistic delay, and simple enough to test exactly.
"""

import dataclasses
import math

import numpy as np


class CommandError(ValueError):
    """A command the fake robot refuses (wrong length, unknown joint, NaN): it keeps its target."""


@dataclasses.dataclass(frozen=True)
class ArmLimits:
    """Per-joint limits, arrays of shape [n_joints]; +-inf means unlimited."""

    lower: np.ndarray
    upper: np.ndarray
    max_velocity: np.ndarray   # units per second, > 0

    @staticmethod
    def build(n, lower=(), upper=(), max_velocity=()):
        """Build limits from possibly empty sequences (empty = unlimited)."""
        def arr(values, fill, name):
            if len(values) == 0:
                return np.full(n, fill)
            if len(values) != n:
                raise ValueError(f'{name} has {len(values)} entries for {n} joints')
            return np.asarray(values, dtype=np.float64)

        limits = ArmLimits(arr(lower, -np.inf, 'position_min'), arr(upper, np.inf, 'position_max'),
                           arr(max_velocity, np.inf, 'max_velocity'))
        if np.any(limits.lower > limits.upper):
            raise ValueError('position_min must not exceed position_max '
                             f'(joints {np.flatnonzero(limits.lower > limits.upper).tolist()})')
        if np.any(~(limits.max_velocity > 0)):
            raise ValueError('max_velocity must be > 0 for every joint')
        return limits


class FakeArm:
    """
    Integrates position targets into joint positions and velocities.

    Not thread-safe: the fake_robot node calls it from one callback group.
    """

    def __init__(self, joint_names, limits, time_constant_s, initial=None):
        self.joint_names = tuple(joint_names)
        if len(set(self.joint_names)) != len(self.joint_names) or not all(self.joint_names):
            raise ValueError(f'joint names must be unique and non-empty: {self.joint_names}')
        if not time_constant_s >= 0.0:
            raise ValueError(f'time_constant_s must be >= 0, got {time_constant_s}')
        self.limits = limits
        self.time_constant_s = float(time_constant_s)
        self._index = {name: i for i, name in enumerate(self.joint_names)}
        start = self._initial(initial)
        self.positions = start.copy()          # [n]
        self.velocities = np.zeros_like(start)  # [n]
        self.target = start.copy()             # [n], always within the limits
        self.clamped_commands = 0              # commands with >= 1 joint outside the limits

    def _initial(self, initial):
        n = len(self.joint_names)
        if initial is None or len(initial) == 0:
            # Start at rest in the middle of the range (0 where a joint is unlimited).
            lo, hi = self.limits.lower, self.limits.upper
            bounded = np.isfinite(lo) & np.isfinite(hi)
            mid = np.zeros(n)
            mid[bounded] = 0.5 * (lo[bounded] + hi[bounded])
            return np.clip(mid, lo, hi)
        values = np.asarray(initial, dtype=np.float64)
        if values.shape != (n,) or not np.all(np.isfinite(values)):
            raise ValueError(f'initial positions must be {n} finite values, got {initial}')
        return np.clip(values, self.limits.lower, self.limits.upper)

    def command(self, values, names=None):
        """
        Set a new position target.

        values: sequence of floats; names: the joint name of each value, or None for the arm's
        own joint order (a Float64MultiArray). Joints not named keep their target. Values outside
        the limits are clamped (counted in clamped_commands). Raises CommandError and keeps the
        previous target for a wrong length, an unknown joint or a non-finite value.
        """
        values = np.asarray(values, dtype=np.float64)
        if names is None:
            if values.shape != (len(self.joint_names),):
                raise CommandError(f'command has {values.size} values; the arm has '
                                   f'{len(self.joint_names)} joints {list(self.joint_names)}')
            index = np.arange(len(self.joint_names))
        else:
            index = self._indices(names, values)
        if not np.all(np.isfinite(values)):
            raise CommandError(f'command has non-finite values: {values.tolist()}')
        target = self.target.copy()
        target[index] = values
        clipped = np.clip(target, self.limits.lower, self.limits.upper)
        if np.any(clipped != target):
            self.clamped_commands += 1
        self.target = clipped

    def _indices(self, names, values):
        names = list(names)
        if len(names) != values.size:
            raise CommandError(f'command has {len(names)} names but {values.size} values')
        unknown = [n for n in names if n not in self._index]
        if unknown:
            raise CommandError(f'command names unknown joints {unknown}; the arm has '
                               f'{list(self.joint_names)}')
        if len(set(names)) != len(names):
            raise CommandError(f'command names a joint twice: {names}')
        return np.array([self._index[n] for n in names], dtype=np.intp)

    def step(self, dt):
        """Advance the servos by dt seconds; return the new positions [n] (a copy)."""
        if dt <= 0.0:
            return self.positions.copy()
        # Exact discretisation of dx/dt = (target - x) / tau over dt, then the speed limit.
        gain = 1.0 if self.time_constant_s == 0.0 else -math.expm1(-dt / self.time_constant_s)
        delta = (self.target - self.positions) * gain
        max_step = self.limits.max_velocity * dt
        delta = np.clip(delta, -max_step, max_step)
        new = np.clip(self.positions + delta, self.limits.lower, self.limits.upper)
        self.velocities = (new - self.positions) / dt
        self.positions = new
        return new.copy()

    def state(self):
        """Return {joint name: position}."""
        return dict(zip(self.joint_names, self.positions.tolist()))


def scripted_leader(t_s, start, limits):
    """
    Positions of a scripted teleoperation leader arm at t_s seconds ([n]).

    Each joint swings smoothly about its start position, a joint at its own slow frequency
    (0.2 Hz + 0.05 Hz per joint index), by a quarter of its range (1.0 where unlimited), and
    stays within the limits: a stand-in for a person moving a leader arm.
    """
    start = np.asarray(start, dtype=np.float64)
    span = limits.upper - limits.lower
    amplitude = np.where(np.isfinite(span), 0.25 * span, 1.0)
    freq = 0.2 + 0.05 * np.arange(start.size)
    positions = start + amplitude * np.sin(2.0 * np.pi * freq * t_s)
    return np.clip(positions, limits.lower, limits.upper)
