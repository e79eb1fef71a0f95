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

Without a step budget ``p`` advances by one per tick. With ``step_budget`` rho > 0 each
blended joint has its own position, which advances by as much as possible (at most one) while
keeping that joint's command step within rho x the largest per-tick step of the chunks
involved, so a large disagreement between chunks is spread over as many ticks as the chunks'
own motion needs, instead of becoming a jerk. Per joint, because one joint the chunks hardly
move (a constant shoulder pan that two chunks put in different places) must not hold back the
fade of the others, whose motion has room for it.

So that a blend always ends, each position must stay on or above a floor that reaches the end
after ``end / min_progress`` ticks (the executor derives ``min_progress`` from
``blend_max_steps``, so that is blend_max_steps): zero for the first ``FLOOR_GRACE`` of that
time, then rising linearly. A joint the chunks do not move at all gets no grace: its budget
is zero, no room will come, and it fades from the first tick. Only a joint that has fallen
back to the floor is forced forward, by what the floor needs, and only those steps can exceed
the budget; a joint ahead of the floor may pause while its chunks move at full speed. The
grace matters because a new chunk often arrives while the arm moves fastest: a floor rising
from the first tick forced many seams of a fast-moving policy over the budget, where the
replayed bags of the README's "Robot + GPU host" section stay within it with the grace
(``benchmarks/seam_replay.py``).
"""

import math

import numpy as np

SCHEDULES = ('linear', 'exponential', 'hard')
FLOOR_GRACE = 0.25  # the share of blend_max_steps before a blend is forced forward
STILL = 1e-9  # a per-tick budget at most this: the chunks hold the joint still


def schedule_weight(schedule, steps, p):
    """
    Return the old-side weight at blend position ``p`` (0 -> 1.0, steps + 1 -> 0.0).

    ``p`` is a number (a float is returned) or an array (an array of the same shape).
    """
    if schedule == 'hard' or steps <= 0:
        return np.zeros(np.shape(p)) if np.ndim(p) else 0.0
    lin = np.clip(1.0 - np.asarray(p, dtype=np.float64) / (steps + 1), 0.0, 1.0)
    w = lin * np.expm1(lin) / (math.e - 1.0) if schedule == 'exponential' else lin
    return w if np.ndim(p) else float(w)


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
        """Return the old-side weight at position ``p`` (a number, or an array of them)."""
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

    def floor(self, ticks, grace):
        """Return the least position a blend must have reached after ``ticks`` ticks."""
        longest = self.end / self.min_progress   # blend_max_steps, in ticks
        wait = grace * longest
        return min(self.end, self.end * max(0.0, ticks - wait) / (longest - wait))

    def advance(self, p, prev, old, new, budget, mask, ticks):
        """
        Return the next blend positions [D] after ``p`` [D] (one per joint).

        ``prev`` [D] is the previous tick's command (None: unknown), ``old`` / ``new`` [D] the
        two sources now, ``budget`` [D] the allowed step, ``mask`` [D] the joints that blend,
        ``ticks`` how many ticks the blend has run, this one included (its progress floor).
        Joints outside the mask (and every joint without a budget) advance by one.
        """
        p = np.asarray(p, dtype=np.float64)
        hi = np.minimum(p + 1.0, self.end)
        if self.step_budget <= 0 or prev is None or not np.any(mask):
            return hi
        # joints the chunks move get the grace (they may find room later); still ones do not
        # (sampling a constant chunk leaves rounding noise, far below any real motion)
        moving = budget > STILL
        floor = np.where(moving, self.floor(ticks, FLOOR_GRACE), self.floor(ticks, 0.0))
        lo = np.minimum(np.maximum(p, floor), hi)
        gap, base = old - new, new - prev

        def ok(q):  # per joint: this position keeps the joint's step within its budget
            return np.abs(base + self.weight(q) * gap) <= budget + 1e-12

        fits_hi, fits_lo = ok(hi), ok(lo)
        a, b = lo.copy(), hi.copy()
        search = ~fits_hi & fits_lo & mask
        for _ in range(16 if np.any(search) else 0):  # per joint, the feasible positions
            mid = 0.5 * (a + b)                          # form an interval starting at lo
            good = ok(mid)
            a, b = np.where(good, mid, a), np.where(good, b, mid)
        # forced progress (lo where even lo does not fit): those joints may exceed the budget
        q = np.where(fits_hi, hi, np.where(fits_lo, a, lo))
        return np.where(mask, q, hi)
