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
time. When a new chunk takes over, the command is ``w * old(t) + (1 - w) * new(t)``, with the
old-side weight ``w`` fading 1 -> 0 over ``blend_steps`` ticks along a schedule (linear,
exponential or hard switch; see blend_rule.py, also for the optional step budget that slows
the fade where the chunks disagree by more than they move). Joints in the hard mask (e.g.
grippers) switch at once from one chunk to the next; blending in from a held value (after a
hold, a disable, or from the measured pose at start) moves them along the schedule too, so a
gripper never jumps to where a chunk computed during the hold wants it.

The "old" side is whatever was being commanded: a chunk, a blend still in progress (so a
chunk arriving mid-blend never causes a jump), or a held value (after a hold). Once the old
side has nothing current to say (its chunk ended, or it is a held value), old(t) is its last
value moved along with the new chunk: only the offset between them fades, so the command never
lags behind and then races to catch up.
"""

import numpy as np

from .chunks import ChunkError, INTERPOLATIONS

MAX_NESTING = 4  # blends of blends when chunks arrive faster than a blend lasts
MAX_PENDING = 16  # accepted chunks waiting for their start time; beyond, the oldest is dropped


# Sources: sample(t) -> [D] or None when the source has nothing current to say (a chunk past
# its end, a held value); hold_value(t) -> what it would hold then.
class _ChunkSource:
    def __init__(self, chunk, interpolation):
        self.chunk = chunk
        self.interpolation = interpolation

    def sample(self, t_ns):
        return self.chunk.sample(t_ns, self.interpolation) if self.chunk.covers(t_ns) else None

    def hold_value(self, t_ns):
        return self.chunk.sample(t_ns, self.interpolation)  # clamped to the last action

    def depth(self):
        return 0


class _HeldSource:
    def __init__(self, value, stamp_ns, after_hold=True, budget_chunk=None):
        self.value = np.array(value, dtype=np.float64)
        self.chunk = None
        self.stamp_ns = stamp_ns
        self.after_hold = after_hold  # a value really held (not a collapsed blend of chunks)
        # a collapsed blend was moving with this chunk: the blend out of it may move as fast
        self.budget_chunk = budget_chunk

    def sample(self, t_ns):
        return None

    def hold_value(self, t_ns):
        return self.value.copy()

    def depth(self):
        return 0


class _BlendSource:
    """``w * old(t) + (1 - w) * new(t)``; the weight advances once per tick (first sample)."""

    def __init__(self, old, new, rule, hard_mask, t_ns, prev, from_hold=False):
        self.old, self.new, self.rule = old, new, rule
        self.mask = ~hard_mask  # joints that blend
        self.from_hold = from_hold  # blending in from a held value: hard joints blend too
        o = old.sample(t_ns)
        self._anchor = (old.hold_value(t_ns) if o is None else o, new.hold_value(t_ns))
        # blend position and old-side weight per joint (blend_rule.py), tick time, last command
        self.p, self._t, self._out = np.zeros(len(self.mask)), None, prev
        self._ticks = 0  # ticks this blend has advanced (its progress floor)
        self.w = np.ones(len(self.mask))
        # Once a newer chunk blends in over this blend, this one keeps its weight: its output
        # stays a convex mix of chunks (moving no faster than they do) and the newer blend
        # alone fades the whole remaining offset.
        self.frozen = False

    @property
    def chunk(self):
        return self.new.chunk

    def _budget(self):
        old = self.old.chunk or getattr(self.old, 'budget_chunk', None)
        steps = [self.rule.max_step(c) for c in (self.new.chunk, old) if c]
        return self.rule.step_budget * np.max(steps, axis=0)

    def sample(self, t_ns):
        n = self.new.sample(t_ns)
        if n is None:
            return None
        o = self.old.sample(t_ns)
        if o is None:
            o = self._anchor[0] + (n - self._anchor[1])
        else:
            self._anchor = (o, n)
        if t_ns != self._t and not self.frozen:  # a new tick: move along the schedule
            budget = self._budget() if self.rule.step_budget > 0 else None
            self._ticks += 1
            self.p = self.rule.advance(self.p, self._out, o, n, budget, self.mask,
                                       self._ticks)
            self.w, self._t = self.rule.weight(self.p), t_ns
        w = np.where(self.mask, self.w, 0.0)  # [D] old-side weight per joint
        self._out = w * o + (1.0 - w) * n
        return self._out

    def hold_value(self, t_ns):
        value = self.sample(t_ns)
        if value is None:
            value = self._out if self._out is not None else self.new.hold_value(t_ns)
        return value

    def done(self):
        return bool(np.all(self.p >= self.rule.end))

    def reported_weight(self):
        """Return the largest old-side weight left on the blended joints (the status')."""
        return float(self.w[self.mask].max() if self.mask.any() else self.w.max())

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
                 'chunk_index', 'reason', 'blending')

    def __init__(self, target, active_stamp_ns=0, previous_stamp_ns=0, blend_weight=0.0,
                 chunk_index=float('nan'), reason=''):
        self.target = target                        # float64 [D], or None (nothing to do)
        self.active_stamp_ns = active_stamp_ns      # newest chunk in use (its id)
        self.previous_stamp_ns = previous_stamp_ns  # the source being blended out, or 0
        self.blend_weight = blend_weight            # largest old-side weight (non-hard joints)
        self.chunk_index = chunk_index              # fractional action index in the active chunk
        self.reason = reason                        # why target is None: no_chunk / exhausted
        self.blending = False                       # an old source still has weight


class ChunkScheduler:
    """
    Time-indexed chunk scheduling with blending; ROS-free and clock-free (times in ns).

    ``rule`` (a BlendRule) says how a blend fades and how chunks are sampled. ``submit``
    validates ordering, staleness and how far ahead a chunk starts (at most
    ``max_future_ns``; None: unbounded), raising ChunkError; ``step`` gives the
    policy-space target of one tick, ``rebase`` tells it what was really commanded when the
    executor held instead, so the next chunk blends in from there.
    """

    def __init__(self, dim, rule, hard_mask=None, max_future_ns=None):
        interpolation = rule.interpolation
        if interpolation not in INTERPOLATIONS:
            raise ValueError(f'interpolation must be one of {INTERPOLATIONS}, got '
                             f'{interpolation!r}')
        self.dim = dim
        self.rule = rule
        self.hard_mask = np.zeros(dim, bool) if hard_mask is None else \
            np.asarray(hard_mask, bool)
        if self.hard_mask.shape != (dim,):
            raise ValueError(f'hard_mask must have {dim} entries, got {self.hard_mask.shape}')
        self.interpolation = interpolation
        self.max_future_ns = max_future_ns
        self._source = None      # what is commanded now: chunk, blend or held value
        self._pending = []       # accepted chunks that have not started yet, by stamp
        self._last_chunk = None  # newest chunk that has started (for reporting)
        self._last_target = None  # the previous tick's target (the blend's step reference)
        self._superseded = 0     # pending chunks dropped unstarted (see take_superseded)

    @property
    def pending(self):
        """Return the number of accepted chunks waiting for their start time."""
        return len(self._pending)

    def take_superseded(self):
        """Return how many accepted chunks were dropped before they ran since the last call."""
        count, self._superseded = self._superseded, 0
        return count

    def _active_chunk(self):
        return None if self._source is None else self._source.chunk

    def submit(self, chunk, now_ns):
        """
        Accept a chunk or raise ChunkError (stale, future_stamp, out_of_order, shape).

        A chunk waits (pending) until its start time; several may wait, each starting at its
        own time, so a stream of chunks stamped ahead of this clock (clock skew) still runs,
        that much late. At a tick the newest started chunk takes over and any older pending
        one is dropped unstarted (superseded). Only the chunk that has started bounds the
        order: a pending chunk never makes a later chunk ``out_of_order``.
        Returns a pending chunk this one supersedes at once (or None).
        """
        if chunk.positions.shape[1] != self.dim:
            raise ChunkError('shape', f'chunk has {chunk.positions.shape[1]} joints, '
                                      f'expected {self.dim}')
        if chunk.end_ns <= now_ns:
            raise ChunkError('stale', f'chunk {chunk.stamp_ns} ended '
                                      f'{(now_ns - chunk.end_ns) / 1e6:.1f} ms ago (stamp '
                                      f'{(now_ns - chunk.stamp_ns) / 1e6:.1f} ms old, horizon '
                                      f'{(chunk.end_ns - chunk.stamp_ns) / 1e6:.1f} ms)')
        lead = chunk.start_ns - now_ns
        if self.max_future_ns is not None and lead > self.max_future_ns:
            raise ChunkError('future_stamp', f'chunk {chunk.stamp_ns} starts {lead / 1e9:.3f} '
                                             f's in the future (max_future_s '
                                             f'{self.max_future_ns / 1e9:g}): clocks out of '
                                             f'sync?')
        running = self._last_chunk.stamp_ns if self._last_chunk else 0
        if chunk.stamp_ns <= running:
            raise ChunkError('out_of_order', f'chunk {chunk.stamp_ns} is not newer than the '
                                             f'running chunk {running}')
        if any(c.stamp_ns == chunk.stamp_ns for c in self._pending):
            raise ChunkError('out_of_order', f'chunk {chunk.stamp_ns} was already accepted')
        self._pending = sorted([*self._pending, chunk], key=lambda c: c.stamp_ns)
        dropped = self._drop_superseded(now_ns)
        while len(self._pending) > MAX_PENDING:
            dropped.append(self._pending.pop(0))
            self._superseded += 1
        return dropped[0] if dropped else None

    def _drop_superseded(self, now_ns):
        # Pending chunks older than the newest one that has started will never run.
        started = [c.stamp_ns for c in self._pending if c.start_ns <= now_ns]
        if not started:
            return []
        newest = max(started)
        dropped = [c for c in self._pending if c.stamp_ns < newest]
        self._pending = [c for c in self._pending if c.stamp_ns >= newest]
        self._superseded += len(dropped)
        return dropped

    def _blend_into(self, old, chunk, now_ns):
        new = _ChunkSource(chunk, self.interpolation)
        if old is None or not self.rule.blends:
            return new
        # After a hold every joint blends in, hard-switch ones included (no gripper jump).
        from_hold = getattr(old, 'after_hold', False) or getattr(old, 'from_hold', False)
        hard_mask = np.zeros_like(self.hard_mask) if from_hold else self.hard_mask
        if isinstance(old, _BlendSource):
            # Frozen before anything samples it at this tick: sampling an unfrozen blend at a
            # new tick advances its fade, which would move the old side one tick on.
            old.frozen = True
        if old.depth() >= MAX_NESTING:
            old = _HeldSource(old.hold_value(now_ns), _stamp_of(old), after_hold=from_hold,
                              budget_chunk=old.chunk)
        return _BlendSource(old, new, self.rule, hard_mask, now_ns, self._last_target,
                            from_hold)

    def step(self, now_ns):
        """Return the Sample for the tick at ``now_ns`` (advancing any blend by one tick)."""
        self._drop_superseded(now_ns)
        if self._pending and self._pending[0].start_ns <= now_ns:
            chunk = self._pending.pop(0)
            self._source, self._last_chunk = self._blend_into(self._source, chunk, now_ns), chunk
        source, chunk = self._source, self._active_chunk()
        if chunk is None or not chunk.covers(now_ns):
            last = chunk or self._last_chunk
            if last is None:
                return Sample(None, reason='no_chunk')
            return Sample(None, last.stamp_ns, chunk_index=last.index_at(now_ns),
                          reason='chunk_exhausted')
        target = source.sample(now_ns)
        self._last_target = target
        sample = Sample(target, chunk.stamp_ns, chunk_index=chunk.index_at(now_ns))
        if isinstance(source, _BlendSource):
            if source.done():
                self._source = source.new  # weight 0 reached: the blend is over
            else:
                sample.blending = True
                sample.previous_stamp_ns = _stamp_of(source.old)
                sample.blend_weight = source.reported_weight()
        return sample

    def rebase(self, value, now_ns):
        """
        Record that ``value`` (policy space) was commanded instead of the scheduler's target.

        The newest chunk (if it still covers now) then blends in from ``value``.
        """
        chunk = self._active_chunk() or self._last_chunk
        held = _HeldSource(value, chunk.stamp_ns if chunk else _stamp_of(self._source))
        self._last_target = held.value
        if chunk is None or not chunk.covers(now_ns):
            self._source = held
        else:
            self._source = self._blend_into(held, chunk, now_ns)
