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
Chunk scheduling and blending: the executor-side form of Real-Time Chunking (DESIGN §3).

At every control tick the scheduler samples the newest chunk that has started at the tick
time. When a new chunk takes over, the command is ``w * old(t) + (1 - w) * new(t)`` for
``blend_steps`` ticks, ``w`` following a schedule from the old source's side:

- ``linear``: the interior of ``linspace(1, 0, N + 2)``, i.e. N/(N+1), ..., 1/(N+1) — RTC's
  LINEAR prefix weights (LeRobot 0.4.4 policies/rtc/modeling_rtc.py:259-279);
- ``exponential``: RTC's EXP schedule, ``w * expm1(w) / (e - 1)`` of the linear weights
  (modeling_rtc.py:263-267): the old chunk fades faster;
- ``hard``: switch at once (what we avoid; kept for comparison and for grippers).

Joints in the hard mask (e.g. grippers) always switch at once. The "old" side is whatever was
being commanded: a chunk (sampled at t, or its last action once it has ended), a blend still in
progress (so a chunk arriving mid-blend never causes a jump), or a held value (after a hold).
"""

import math

import numpy as np

from .chunks import ChunkError, INTERPOLATIONS

SCHEDULES = ('linear', 'exponential', 'hard')
MAX_NESTING = 4  # blends of blends when chunks arrive faster than blend_steps ticks


def blend_weights(schedule, steps):
    """Return the old-side weights [N] of the N blending ticks (empty for ``hard``)."""
    if schedule not in SCHEDULES:
        raise ValueError(f'blend schedule must be one of {SCHEDULES}, got {schedule!r}')
    if schedule == 'hard' or steps <= 0:
        return np.zeros(0)
    w = np.linspace(1.0, 0.0, steps + 2)[1:-1]
    if schedule == 'exponential':
        w = w * np.expm1(w) / (math.e - 1.0)
    return w


class _ChunkSource:
    def __init__(self, chunk, interpolation):
        self.chunk = chunk
        self.interpolation = interpolation

    def sample(self, t_ns):
        return self.chunk.sample(t_ns, self.interpolation)

    def depth(self):
        return 0


class _HeldSource:
    def __init__(self, value, stamp_ns):
        self.value = np.array(value, dtype=np.float64)
        self.chunk = None
        self.stamp_ns = stamp_ns

    def sample(self, t_ns):
        return self.value.copy()

    def depth(self):
        return 0


class _BlendSource:
    def __init__(self, old, new, weights, hard_mask):
        self.old, self.new = old, new
        self.weights, self.hard_mask = weights, hard_mask
        self.tick = 0

    @property
    def chunk(self):
        return self.new.chunk

    def weight(self):
        return float(self.weights[self.tick]) if self.tick < len(self.weights) else 0.0

    def sample(self, t_ns):
        w = np.where(self.hard_mask, 0.0, self.weight())  # [D] old-side weight per joint
        return w * self.old.sample(t_ns) + (1.0 - w) * self.new.sample(t_ns)

    def done(self):
        return self.tick >= len(self.weights)

    def depth(self):
        return 1 + self.old.depth()


def _stamp_of(source):
    if source is None:
        return 0
    if isinstance(source, _HeldSource):
        return source.stamp_ns
    return source.chunk.stamp_ns


class Sample:
    """What the scheduler gives for one tick (policy space)."""

    __slots__ = ('target', 'active_stamp_ns', 'previous_stamp_ns', 'blend_weight',
                 'chunk_index', 'reason')

    def __init__(self, target, active_stamp_ns=0, previous_stamp_ns=0, blend_weight=0.0,
                 chunk_index=float('nan'), reason=''):
        self.target = target                        # float64 [D], or None (nothing to do)
        self.active_stamp_ns = active_stamp_ns      # newest chunk in use (its id)
        self.previous_stamp_ns = previous_stamp_ns  # the source being blended out, or 0
        self.blend_weight = blend_weight            # old-side weight (non-hard joints)
        self.chunk_index = chunk_index              # fractional action index in the active chunk
        self.reason = reason                        # why target is None: no_chunk / exhausted


class ChunkScheduler:
    """
    Time-indexed chunk scheduling with blending; ROS-free and clock-free (times in ns).

    ``submit`` validates ordering and staleness (raising ChunkError), ``step`` gives the
    policy-space target of one tick, ``rebase`` tells it what was really commanded when the
    executor held instead, so the next chunk blends in from there.
    """

    def __init__(self, dim, schedule='linear', blend_steps=5, hard_mask=None,
                 interpolation='linear'):
        if interpolation not in INTERPOLATIONS:
            raise ValueError(f'interpolation must be one of {INTERPOLATIONS}, got '
                             f'{interpolation!r}')
        self.dim = dim
        self.weights = blend_weights(schedule, blend_steps)
        self.hard_mask = np.zeros(dim, bool) if hard_mask is None else \
            np.asarray(hard_mask, bool)
        if self.hard_mask.shape != (dim,):
            raise ValueError(f'hard_mask must have {dim} entries, got {self.hard_mask.shape}')
        self.interpolation = interpolation
        self._source = None   # what is commanded now: chunk, blend or held value
        self._pending = None  # accepted chunk that has not started yet
        self._last_chunk = None  # newest chunk that has started (for reporting)

    def newest_stamp_ns(self):
        """Stamp of the newest accepted chunk (pending or active), 0 if none."""
        candidates = [c.stamp_ns for c in (self._pending, self._last_chunk) if c]
        return max(candidates, default=0)

    def _active_chunk(self):
        return None if self._source is None else self._source.chunk

    def submit(self, chunk, now_ns):
        """
        Accept a chunk or raise ChunkError (``stale``, ``out_of_order``, ``shape``).

        Returns the chunk it supersedes before that one started (or None).
        """
        if chunk.positions.shape[1] != self.dim:
            raise ChunkError('shape', f'chunk has {chunk.positions.shape[1]} joints, '
                                      f'expected {self.dim}')
        if chunk.end_ns <= now_ns:
            raise ChunkError('stale', f'chunk {chunk.stamp_ns} ended '
                                      f'{(now_ns - chunk.end_ns) / 1e6:.1f} ms ago (stamp '
                                      f'{(now_ns - chunk.stamp_ns) / 1e6:.1f} ms old, horizon '
                                      f'{(chunk.end_ns - chunk.stamp_ns) / 1e6:.1f} ms)')
        if chunk.stamp_ns <= self.newest_stamp_ns():
            raise ChunkError('out_of_order', f'chunk {chunk.stamp_ns} is not newer than '
                                             f'chunk {self.newest_stamp_ns()}')
        superseded, self._pending = self._pending, chunk
        return superseded

    def _activate(self, now_ns):
        chunk, self._pending = self._pending, None
        self._last_chunk = chunk
        new = _ChunkSource(chunk, self.interpolation)
        if self._source is None or len(self.weights) == 0:
            self._source = new
            return
        old = self._source
        if old.depth() >= MAX_NESTING:
            old = _HeldSource(old.sample(now_ns), _stamp_of(old))
        self._source = _BlendSource(old, new, self.weights, self.hard_mask)

    def step(self, now_ns):
        """Return the Sample for the tick at ``now_ns`` and advance the blend by one tick."""
        if self._pending is not None and self._pending.start_ns <= now_ns:
            self._activate(now_ns)
        source = self._source
        chunk = self._active_chunk()
        if chunk is None or not chunk.covers(now_ns):
            last = chunk or self._last_chunk
            if last is None:
                return Sample(None, reason='no_chunk')
            return Sample(None, last.stamp_ns, chunk_index=last.index_at(now_ns),
                          reason='chunk_exhausted')
        target = source.sample(now_ns)
        sample = Sample(target, chunk.stamp_ns, chunk_index=chunk.index_at(now_ns))
        if isinstance(source, _BlendSource):
            sample.previous_stamp_ns = _stamp_of(source.old)
            sample.blend_weight = source.weight()
            source.tick += 1
            if source.done():
                self._source = source.new
        return sample

    def rebase(self, value, now_ns):
        """
        Record that ``value`` (policy space) was commanded instead of the scheduler's target.

        The newest chunk (if any) then blends in from ``value`` over the next blend ticks.
        """
        chunk = self._active_chunk() or self._last_chunk
        held = _HeldSource(value, chunk.stamp_ns if chunk else _stamp_of(self._source))
        if chunk is None or not chunk.covers(now_ns):
            self._source = held
        elif len(self.weights) == 0:
            self._source = _ChunkSource(chunk, self.interpolation)
        else:
            self._source = _BlendSource(held, _ChunkSource(chunk, self.interpolation),
                                        self.weights, self.hard_mask)
