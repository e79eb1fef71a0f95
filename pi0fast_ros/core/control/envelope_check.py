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
The executor's chunk envelope: which chunks are refused whole before they can move anything.

Per joint, the first that applies:

1. configured limits: when both ``joint_limits.lower`` and ``.upper`` are finite for the
   command joint, a chunk point (mapped to robot space by the adapters) further than
   ``margin x (upper - lower)`` outside them is refused; inside that margin it is accepted and
   the per-tick safety filter clamps it to the limits. A user's explicit limits win over the
   policy's envelope;
2. the policy's action envelope (policy space, before the adapters), published by the policy
   node on ``action_envelope`` from the checkpoint's statistics (core/control/envelope.py);
3. neither: with ``require_envelope`` every chunk is refused (``no_envelope``) until the
   envelope arrives; without it the joint is not bounded.

A refused chunk never reaches the scheduler: the executor keeps doing what it did (and holds
when the watchdog expires), it never moves partly towards the refused target.
"""

import numpy as np

from .chunks import ChunkError
from .envelope import EnvelopeError, limits_envelope

OUT_OF_ENVELOPE = 'out_of_envelope'
NO_ENVELOPE = 'no_envelope'


class ChunkEnvelope:
    """
    Check chunks against configured limits and the policy's envelope (see the module doc).

    policy_names: action joint names (chunk column order); command_names: robot-side command
    joint names; robot_policy_names: the policy name of each command joint (the adapters'
    robot order); lower / upper: configured limits (robot space, command order; empty: none).
    """

    def __init__(self, policy_names, command_names, robot_policy_names, lower, upper, margin,
                 require):
        if not margin >= 0.0:
            raise ValueError(f'envelope margin must be >= 0, got {margin}')
        self.policy_names = tuple(policy_names)
        self.require = bool(require)
        self.limits, self.limit_columns = limits_envelope(command_names, lower, upper, margin)
        covered = {n for n, c in zip(robot_policy_names, self.limit_columns) if c}
        self.policy_columns = np.array([n not in covered for n in self.policy_names], bool)
        self.policy_envelope = None

    def set_policy_envelope(self, envelope):
        """Use the policy's Envelope from now on; raise EnvelopeError if its joints differ."""
        if tuple(envelope.names) != self.policy_names:
            raise EnvelopeError(f'envelope joints {list(envelope.names)} are not the action '
                                f'joints {list(self.policy_names)}')
        self.policy_envelope = envelope

    @property
    def unbounded(self):
        """Return the action joints that no envelope bounds now (none once the policy's came)."""
        if self.policy_envelope is not None:
            return []
        return [n for n, c in zip(self.policy_names, self.policy_columns) if c]

    def describe(self):
        """One line for diagnostics: what bounds the chunks now."""
        parts = []
        if self.limit_columns.any():
            parts.append(f'{self.limits.source} on {int(self.limit_columns.sum())} joints')
        if self.policy_columns.any():
            parts.append(self.policy_envelope.source if self.policy_envelope is not None
                         else 'no action envelope yet' + (' (chunks refused)' if self.require
                                                          else ' (unbounded)'))
        return '; '.join(parts)

    def check(self, positions, robot):
        """
        Raise ChunkError unless the chunk lies inside its envelope.

        positions: the chunk [H, D] in policy space; robot: the same mapped by the adapters.
        """
        if self.limit_columns.any():
            problem = self.limits.violations(robot, self.limit_columns)
            if problem:
                raise ChunkError(OUT_OF_ENVELOPE, f'chunk leaves the joint limits: {problem}')
        if not self.policy_columns.any():
            return
        if self.policy_envelope is None:
            if self.require:
                raise ChunkError(NO_ENVELOPE, f'no envelope for joints {self.unbounded}: '
                                              'waiting for the policy node on action_envelope '
                                              '(or set joint_limits.lower / .upper)')
            return
        problem = self.policy_envelope.violations(positions, self.policy_columns)
        if problem:
            raise ChunkError(OUT_OF_ENVELOPE, f"chunk leaves the policy's envelope: {problem}")
