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
Action chunks indexed by time (DESIGN §3).

A chunk is ``H`` policy-space actions; action ``i`` is due at ``stamp + times[i]`` (the
JointTrajectory's ``time_from_start``, normally ``i / action_rate_hz``) and, like a training
sample, stays valid for one action period, so the chunk covers ``[stamp + times[0],
stamp + times[-1] + period)``. Sampling at any time inside that window interpolates between
neighbouring actions; the part of a late chunk that lies in the past is simply never sampled,
which makes delay compensation exact (the delay is measured, not estimated).
"""

import dataclasses

import numpy as np

NS = 1_000_000_000
INTERPOLATIONS = ('linear', 'hold')


class ChunkError(ValueError):
    """A chunk is unusable; ``reason`` is a short key for counters, the message says why."""

    def __init__(self, reason, message):
        super().__init__(message)
        self.reason = reason


@dataclasses.dataclass(frozen=True, eq=False)
class Chunk:
    """A validated chunk: ``positions`` float64 [H, D], ``times_s`` float64 [H] increasing."""

    stamp_ns: int
    times_s: np.ndarray
    positions: np.ndarray
    period_s: float

    @property
    def horizon(self):
        return self.positions.shape[0]

    @property
    def start_ns(self):
        return self.stamp_ns + int(round(self.times_s[0] * NS))

    @property
    def end_ns(self):
        """First time the chunk no longer covers: the last action's period has ended."""
        return self.stamp_ns + int(round((self.times_s[-1] + self.period_s) * NS))

    def covers(self, t_ns):
        return self.start_ns <= t_ns < self.end_ns

    def index_at(self, t_ns):
        """Fractional action index at time t: ``(t - stamp) / period`` (for provenance)."""
        return (t_ns - self.stamp_ns) / NS / self.period_s

    def sample(self, t_ns, interpolation='linear'):
        """
        Return the action [D] at time ``t_ns``, clamped to the first / last action outside.

        ``linear`` interpolates between neighbouring actions (the control rate may differ
        from the action rate); ``hold`` keeps action i for its whole period (zero-order hold,
        the training-data semantics).
        """
        t = (t_ns - self.stamp_ns) / NS
        times = self.times_s
        if t <= times[0]:
            return self.positions[0].copy()
        if t >= times[-1]:
            return self.positions[-1].copy()
        k = int(np.searchsorted(times, t, side='right')) - 1  # times[k] <= t < times[k+1]
        if interpolation == 'hold':
            return self.positions[k].copy()
        frac = (t - times[k]) / (times[k + 1] - times[k])
        return (1.0 - frac) * self.positions[k] + frac * self.positions[k + 1]

    def sample_many(self, t_ns, interpolation='linear'):
        """Vectorized ``sample`` at times ``t_ns`` [N] (int ns): returns [N, D]."""
        t = (np.asarray(t_ns, dtype=np.int64) - self.stamp_ns) / NS
        times = self.times_s
        t = np.clip(t, times[0], times[-1])
        k = np.clip(np.searchsorted(times, t, side='right') - 1, 0, len(times) - 1)
        if interpolation == 'hold' or len(times) == 1:
            return self.positions[k].copy()
        k = np.minimum(k, len(times) - 2)
        frac = ((t - times[k]) / (times[k + 1] - times[k]))[:, None]
        return (1.0 - frac) * self.positions[k] + frac * self.positions[k + 1]


def uniform_chunk(stamp_ns, positions, action_rate_hz):
    """Build a chunk whose action i is at ``i / action_rate_hz`` (DESIGN §3), validated."""
    positions = np.asarray(positions, dtype=np.float64)
    times = np.arange(positions.shape[0], dtype=np.float64) / action_rate_hz
    return make_chunk(stamp_ns, None, times, positions, None, action_rate_hz)


def _reorder(joint_names, expected_names):
    # Map columns by name (DESIGN §2: never by position); None means "already in order".
    if expected_names is None or joint_names is None or list(joint_names) == list(
            expected_names):
        return None
    names = list(joint_names)
    if sorted(names) != sorted(expected_names) or len(set(names)) != len(names):
        missing = sorted(set(expected_names) - set(names))
        extra = sorted(set(names) - set(expected_names))
        raise ChunkError('joint_names', f'chunk joint_names do not match the action joint '
                                        f'names: missing {missing}, unexpected {extra}')
    return [names.index(n) for n in expected_names]


def make_chunk(stamp_ns, joint_names, times_s, positions, expected_names, action_rate_hz):
    """
    Validate raw chunk data and return a Chunk with columns in ``expected_names`` order.

    ``positions`` is [H, D] (a ragged list of rows is rejected), ``times_s`` [H] the
    time_from_start of each point. Raises ChunkError with reason ``empty``, ``joint_names``,
    ``shape``, ``non_finite`` or ``bad_timing``. Never repairs data.
    """
    if positions is None or len(positions) == 0:
        raise ChunkError('empty', 'chunk has no points')
    dim = len(expected_names) if expected_names is not None else None
    try:
        positions = np.array(positions, dtype=np.float64)
    except ValueError as exc:
        raise ChunkError('shape', f'chunk points have different lengths ({exc})') from exc
    if positions.ndim != 2 or (dim is not None and positions.shape[1] != dim):
        raise ChunkError('shape', f'chunk positions have shape {positions.shape}, expected '
                                  f'[H, {dim if dim is not None else "D"}]')
    order = _reorder(joint_names, expected_names)
    if order is not None:
        positions = positions[:, order]
    if not np.all(np.isfinite(positions)):
        rows = sorted(set(np.nonzero(~np.isfinite(positions))[0].tolist()))
        raise ChunkError('non_finite', f'chunk has NaN/inf positions in points {rows[:10]}')
    times = np.array(times_s, dtype=np.float64)  # a copy: flags are set read-only below
    if times.shape != (positions.shape[0],) or not np.all(np.isfinite(times)) or \
            times[0] < 0.0 or np.any(np.diff(times) <= 0.0):
        raise ChunkError('bad_timing', 'chunk time_from_start must be finite, >= 0 and strictly '
                                       f'increasing, got {times[:6].tolist()}...')
    if not action_rate_hz > 0.0:
        raise ChunkError('bad_timing', f'action rate must be > 0, got {action_rate_hz}')
    positions.setflags(write=False)
    times.setflags(write=False)
    return Chunk(int(stamp_ns), times, positions, 1.0 / float(action_rate_hz))
