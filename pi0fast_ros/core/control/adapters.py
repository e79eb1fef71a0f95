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
Embodiment adapters: small pure transforms between robot space and policy space.

Every adapter has four maps, because the state side and the action side of an embodiment are
*different* functions (pi0fast-facts §6: ALOHA state goes through ``to_angular``, actions
through ``from_angular``, training actions through its inverse):

- ``state_to_policy``  robot joint state -> policy state (policy node, before normalization)
- ``policy_to_state``  its inverse
- ``action_to_robot``  policy action -> robot command (executor, after blending)
- ``robot_to_action``  its inverse (what turns recorded robot commands into training actions)

All maps take float arrays ``[..., D]`` (one vector or a whole chunk ``[H, D]``), never modify
their input, and return float64 arrays of the same shape. Index-based adapters address the
vector layout at their position in the chain (see ``adapter_chain.py``).
"""

import numpy as np


class AdapterSpecError(ValueError):
    """An adapter specification (YAML / ROS parameters) is invalid: the message says where."""


def _as_vector(x):
    # Copy to float64 so no caller's buffer is ever modified in place.
    return np.array(x, dtype=np.float64, copy=True)


class Adapter:
    """Base class: identity maps plus a dimension check."""

    kind = 'identity'

    def __init__(self, name):
        self.name = name

    def check_dim(self, dim):
        """Raise AdapterSpecError when this adapter cannot act on vectors of size ``dim``."""

    def _check_input(self, x):
        x = _as_vector(x)
        if x.ndim == 0:
            raise ValueError(f'adapter {self.name!r}: expected an array [..., D], got a scalar')
        self.check_dim(x.shape[-1])
        return x

    def state_to_policy(self, x):
        return self._check_input(x)

    def policy_to_state(self, x):
        return self._check_input(x)

    def action_to_robot(self, x):
        return self._check_input(x)

    def robot_to_action(self, x):
        return self._check_input(x)

    def _check_indices(self, indices, dim):
        bad = [i for i in indices if not 0 <= i < dim]
        if bad:
            raise AdapterSpecError(
                f'adapter {self.name!r} ({self.kind}): indices {bad} out of range for '
                f'{dim}-dim vectors')


class JointFlip(Adapter):
    """
    Multiply every joint by +1 or -1 (the ALOHA joint-flip mask).

    The map is its own inverse and is the same on the state and the action side
    (openpi aloha_policy.py:104-106, 181-201).
    """

    kind = 'joint_flip'

    def __init__(self, name, mask):
        super().__init__(name)
        mask = np.asarray(mask, dtype=np.float64)
        if mask.ndim != 1 or mask.size == 0 or not np.all(np.abs(mask) == 1.0):
            raise AdapterSpecError(
                f'adapter {name!r} (joint_flip): mask must be a non-empty list of 1 / -1, '
                f'got {mask.tolist()}')
        self.mask = mask

    def check_dim(self, dim):
        if dim != self.mask.size:
            raise AdapterSpecError(
                f'adapter {self.name!r} (joint_flip): mask has {self.mask.size} entries but '
                f'vectors have {dim}')

    def _flip(self, x):
        return self._check_input(x) * self.mask

    state_to_policy = policy_to_state = action_to_robot = robot_to_action = _flip


class ScaleOffset(Adapter):
    """
    Per-joint affine unit change: ``policy = robot * scale + offset`` on the chosen indices.

    State and action sides are the same unit conversion, so ``action_to_robot`` is the inverse
    of ``state_to_policy`` (degrees <-> radians, metres <-> percent, ...).
    """

    kind = 'scale_offset'

    def __init__(self, name, scale, offset=(0.0,), indices=None):
        super().__init__(name)
        self.indices = None if indices is None or len(indices) == 0 else \
            np.asarray(indices, dtype=np.int64)
        width = None if self.indices is None else self.indices.size
        self.scale = self._broadcast('scale', scale, width)
        self.offset = self._broadcast('offset', offset, width)
        if np.any(self.scale == 0.0) or not np.all(np.isfinite(self.scale)):
            raise AdapterSpecError(
                f'adapter {name!r} ({self.kind}): scale must be finite and non-zero, got '
                f'{self.scale.tolist()}')
        if not np.all(np.isfinite(self.offset)):
            raise AdapterSpecError(f'adapter {name!r} ({self.kind}): offset must be finite')

    def _broadcast(self, key, values, width):
        values = np.atleast_1d(np.asarray(values, dtype=np.float64))
        if values.ndim != 1 or values.size == 0:
            raise AdapterSpecError(f'adapter {self.name!r} ({self.kind}): {key} is empty')
        if values.size != 1 and width is not None and values.size != width:
            raise AdapterSpecError(
                f'adapter {self.name!r} ({self.kind}): {key} has {values.size} entries, '
                f'indices have {width} (give one value per index, or a single value)')
        return values

    def check_dim(self, dim):
        if self.indices is not None:
            self._check_indices(self.indices.tolist(), dim)
            return
        for key, values in (('scale', self.scale), ('offset', self.offset)):
            if values.size not in (1, dim):
                raise AdapterSpecError(
                    f'adapter {self.name!r} ({self.kind}): {key} has {values.size} entries '
                    f'but vectors have {dim}')

    def _apply(self, x, fn):
        x = self._check_input(x)
        if self.indices is None:
            return fn(x)
        x[..., self.indices] = fn(x[..., self.indices])
        return x

    def state_to_policy(self, x):
        return self._apply(x, lambda v: v * self.scale + self.offset)

    def policy_to_state(self, x):
        return self._apply(x, lambda v: (v - self.offset) / self.scale)

    action_to_robot = policy_to_state
    robot_to_action = state_to_policy


def range_map(name, robot_min, robot_max, policy_min, policy_max, indices=None):
    """
    Build a ScaleOffset mapping ``[robot_min, robot_max]`` linearly onto ``[policy_min, max]``.

    E.g. a gripper stroke of 0..0.04 m onto LeRobot's 0..100 percent.
    """
    lo_r, hi_r, lo_p, hi_p = (np.atleast_1d(np.asarray(v, dtype=np.float64))
                              for v in (robot_min, robot_max, policy_min, policy_max))
    try:
        span_r, span_p = np.broadcast_arrays(hi_r - lo_r, hi_p - lo_p)
        lo_r, lo_p = np.broadcast_arrays(lo_r, lo_p)
    except ValueError as exc:
        raise AdapterSpecError(f'adapter {name!r} (range_map): range lengths differ') from exc
    if np.any(span_r == 0.0):
        raise AdapterSpecError(f'adapter {name!r} (range_map): robot_min == robot_max')
    scale = span_p / span_r
    adapter = ScaleOffset(name, scale, lo_p - lo_r * scale, indices)
    adapter.kind = 'range_map'
    return adapter


class IndexMap(Adapter):
    """
    Reorder joints: ``policy[i] = robot[indices[i]]``; ``indices`` must be a permutation.

    A permutation keeps the map invertible and never invents a value for a joint.
    """

    kind = 'index_map'

    def __init__(self, name, indices):
        super().__init__(name)
        indices = [int(i) for i in indices]
        if sorted(indices) != list(range(len(indices))) or not indices:
            raise AdapterSpecError(
                f'adapter {name!r} ({self.kind}): indices must be a permutation of '
                f'0..N-1, got {indices}')
        self.indices = np.asarray(indices, dtype=np.int64)
        self.inverse = np.argsort(self.indices)

    def check_dim(self, dim):
        if dim != self.indices.size:
            raise AdapterSpecError(
                f'adapter {self.name!r} ({self.kind}): maps {self.indices.size} joints but '
                f'vectors have {dim}')

    def state_to_policy(self, x):
        return self._check_input(x)[..., self.indices]

    def policy_to_state(self, x):
        return self._check_input(x)[..., self.inverse]

    action_to_robot = policy_to_state
    robot_to_action = state_to_policy

    def robot_names(self, policy_names):
        """Robot-side joint order for the given policy-side names."""
        return [policy_names[i] for i in self.inverse]


def name_map(name, robot_names, policy_names):
    """Build an IndexMap from the robot's joint order and the policy's (same set of names)."""
    robot_names, policy_names = list(robot_names), list(policy_names)
    if sorted(robot_names) != sorted(policy_names) or len(set(robot_names)) != len(robot_names):
        raise AdapterSpecError(
            f'adapter {name!r} (name_map): robot_names {robot_names} and policy_names '
            f'{policy_names} must hold the same unique names')
    adapter = IndexMap(name, [robot_names.index(n) for n in policy_names])
    adapter.kind = 'name_map'
    return adapter
