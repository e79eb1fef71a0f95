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
Command safety in robot space, after the adapters: NaN rejection, joint limits, step limit.

The filter never invents a command: a non-finite command is refused (the executor then holds
the last command), an out-of-range one is clamped to the limits, and a jump is cut to the
per-tick step limit measured from the last command actually sent. The watchdog decides when
the policy has been silent for too long.
"""

import dataclasses

import numpy as np


def _vector(name, values, dim):
    # None / empty -> no limit; one value -> the same for every joint; else one per joint.
    if values is None or len(values) == 0:
        return None
    v = np.asarray(values, dtype=np.float64)
    if v.ndim != 1 or v.size not in (1, dim):
        raise ValueError(f'{name} needs 1 or {dim} values (one per command joint), got '
                         f'{v.size}')
    if np.any(np.isnan(v)):
        raise ValueError(f'{name} contains NaN')
    return np.broadcast_to(v, (dim,)).copy()


@dataclasses.dataclass(frozen=True)
class SafetyResult:
    """Outcome of one check: the command to send (None = refuse) and what was changed."""

    command: object          # float64 [D] or None
    reason: str = ''         # why the command was refused ('non_finite'), else ''
    clamped: tuple = ()      # names of joints changed by the position limits
    step_limited: tuple = ()  # names of joints changed by the step limit


class SafetyFilter:
    """
    Joint limits and a per-tick step limit on robot-space commands.

    ``lower`` / ``upper``: position limits (None or empty: none; +-inf allowed per joint);
    ``max_step``: the largest change per tick per joint (max velocity / control rate).
    """

    def __init__(self, names, lower=None, upper=None, max_step=None):
        self.names = list(names)
        dim = len(self.names)
        self.lower = _vector('lower limits', lower, dim)
        self.upper = _vector('upper limits', upper, dim)
        self.max_step = _vector('max step', max_step, dim)
        if self.lower is not None and self.upper is not None and \
                np.any(self.lower > self.upper):
            bad = [n for n, lo, hi in zip(self.names, self.lower, self.upper) if lo > hi]
            raise ValueError(f'lower limit above upper limit for joints {bad}')
        if self.max_step is not None and np.any(self.max_step <= 0.0):
            raise ValueError('max step must be > 0 for every joint')

    def _changed(self, before, after):
        return tuple(n for n, b, a in zip(self.names, before, after) if b != a)

    def check(self, command, last=None):
        """Check one command [D] against the limits and the last command sent (or None)."""
        command = np.array(command, dtype=np.float64)
        if command.shape != (len(self.names),):
            raise ValueError(f'command has shape {command.shape}, expected '
                             f'({len(self.names)},)')
        if not np.all(np.isfinite(command)):
            return SafetyResult(None, 'non_finite')
        limited = command
        if self.lower is not None:
            limited = np.maximum(limited, self.lower)
        if self.upper is not None:
            limited = np.minimum(limited, self.upper)
        clamped = self._changed(command, limited)
        stepped = ()
        if self.max_step is not None and last is not None:
            # Measured from the last command sent: even a robot starting outside its limits
            # moves back towards them without a jump.
            target = limited
            limited = np.clip(target, last - self.max_step, last + self.max_step)
            stepped = self._changed(target, limited)
        return SafetyResult(limited, '', clamped, stepped)


class Watchdog:
    """Expires when nothing fed it for ``timeout_s`` (0 disables it); times in ns."""

    def __init__(self, timeout_s):
        if timeout_s < 0:
            raise ValueError(f'watchdog timeout must be >= 0, got {timeout_s}')
        self.timeout_ns = int(round(timeout_s * 1e9))
        self.last_feed_ns = None

    def feed(self, now_ns):
        self.last_feed_ns = now_ns

    def expired(self, now_ns):
        """Return True when enabled, fed once, and the last feed is older than the timeout."""
        if self.timeout_ns == 0 or self.last_feed_ns is None:
            return False
        return now_ns - self.last_feed_ns > self.timeout_ns
