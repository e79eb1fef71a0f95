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
How fast a blend fades the old source out: the schedule and the optional step budget.

The old-side weight follows a schedule curve ``W(p)`` of the blend position ``p`` (ticks):

- ``linear``: ``W(p) = 1 - p / (N + 1)``, so ticks p = 1..N give N/(N+1), ..., 1/(N+1): the
  interior of ``linspace(1, 0, N + 2)``, RTC's LINEAR prefix weights (LeRobot 0.4.4
  policies/rtc/modeling_rtc.py:259-279);
- ``exponential``: RTC's EXP schedule, ``lin * expm1(lin) / (e - 1)`` of the linear weight
  (modeling_rtc.py:263-267): the old source fades faster at first;
- ``hard``: no blend at all.

Without a step budget ``p`` advances by one per tick. With ``step_budget`` rho > 0 it advances
by as much as possible (at most one) while keeping every joint's command step within rho x the
largest per-tick step of the chunks involved, so a large disagreement between chunks is spread
over as many ticks as the chunks' own motion needs, instead of becoming a jerk. So that a blend
always ends, ``p`` advances by at least ``min_progress`` per tick (the executor derives it from
``blend_max_steps``); only those forced ticks can exceed the budget.
"""

import math

import numpy as np

SCHEDULES = ('linear', 'exponential', 'hard')


def schedule_weight(schedule, steps, p):
    """Return the old-side weight at blend position ``p`` (0 -> 1.0, steps + 1 -> 0.0)."""
    if schedule == 'hard' or steps <= 0:
        return 0.0
    lin = min(1.0, max(0.0, 1.0 - p / (steps + 1)))
    return lin * math.expm1(lin) / (math.e - 1.0) if schedule == 'exponential' else lin


def blend_weights(schedule, steps):
    """Return the old-side weights [N] of the N ticks of an unbudgeted blend."""
    if schedule not in SCHEDULES:
        raise ValueError(f'blend schedule must be one of {SCHEDULES}, got {schedule!r}')
    if schedule == 'hard' or steps <= 0:
        return np.zeros(0)
    return np.array([schedule_weight(schedule, steps, p) for p in range(1, steps + 1)])


def chunk_max_step(chunk, tick_ns, interpolation='linear'):
    """Return the largest per-tick step [D] of a chunk sampled at the control rate."""
    times = np.arange(chunk.start_ns, chunk.end_ns, tick_ns)
    if len(times) < 2:
        return np.zeros(chunk.positions.shape[1])
    samples = chunk.sample_many(times, interpolation)  # [N, D]
    return np.abs(np.diff(samples, axis=0)).max(axis=0)


class BlendRule:
    """The schedule of a blend and its optional step budget (see the module docstring)."""

    def __init__(self, schedule, steps, step_budget, min_progress, tick_ns, interpolation):
        """
        Take every setting from the caller (the executor node's defaults are in its table).

        step_budget 0: a fixed schedule (tick_ns and min_progress are then not used).
        """
        if schedule not in SCHEDULES:
            raise ValueError(f'blend schedule must be one of {SCHEDULES}, got {schedule!r}')
        if steps < 0:
            raise ValueError(f'blend steps must be >= 0, got {steps}')
        if step_budget < 0 or (step_budget > 0 and tick_ns <= 0):
            raise ValueError('step_budget must be >= 0 and needs the tick period')
        if not 0.0 < min_progress <= 1.0:
            raise ValueError(f'min_progress must be in (0, 1], got {min_progress}')
        self.schedule, self.steps = schedule, int(steps)
        self.step_budget, self.min_progress = float(step_budget), float(min_progress)
        self.tick_ns, self.interpolation = tick_ns, interpolation
        self._cache = {}  # id(chunk) -> (chunk, max step); two entries are enough

    @property
    def blends(self):
        return self.schedule != 'hard' and self.steps > 0

    @property
    def end(self):
        """Blend position at which the old weight reaches 0."""
        return self.steps + 1

    def weight(self, p):
        return schedule_weight(self.schedule, self.steps, p)

    def max_step(self, chunk):
        """Largest per-tick step [D] of ``chunk`` (cached per chunk)."""
        entry = self._cache.get(id(chunk))
        if entry is None or entry[0] is not chunk:
            if len(self._cache) > 4:
                self._cache.clear()
            entry = self._cache[id(chunk)] = (
                chunk, chunk_max_step(chunk, self.tick_ns, self.interpolation))
        return entry[1]

    def advance(self, p, prev, old, new, budget, mask):
        """
        Return the next blend position after ``p``.

        ``prev`` [D] is the previous tick's command (None: unknown), ``old`` / ``new`` [D] the
        two sources now, ``budget`` [D] the allowed step, ``mask`` [D] the joints that blend.
        """
        hi = min(p + 1.0, self.end)
        if self.step_budget <= 0 or prev is None or not np.any(mask):
            return hi
        lo = min(p + self.min_progress, self.end)
        gap = (old - new)[mask]
        base = (new - prev)[mask]
        allowed = budget[mask]

        def ok(q):
            return bool(np.all(np.abs(base + self.weight(q) * gap) <= allowed + 1e-12))

        if ok(hi):
            return hi
        if not ok(lo):
            return lo  # forced progress: this tick may exceed the budget
        for _ in range(16):  # the feasible positions form an interval starting at lo
            mid = 0.5 * (lo + hi)
            lo, hi = (mid, hi) if ok(mid) else (lo, mid)
        return lo
