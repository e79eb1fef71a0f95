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
Seam metrics on a command sequence: the steps where one chunk takes over from another.

A *seam* is a tick whose active chunk stamp differs from the previous tick's; its *jump* is
the largest per-tick command step (per joint) from the tick before the switch to the end of
the blend window (``window`` ticks after it). The *ratio* compares that jump with the largest
step inside the chunks: either given (``reference_step``, e.g. the chunks sampled at the
control rate) or measured on the same commands, outside every seam window. A ratio <= 1 means
the seams add no discontinuity the chunks themselves do not contain.

Works on recorded data (``series_from_status`` reads the key/values of each
``executor_node/status`` with core/status.py's TickStatus) as well as on ExecutorCore ticks.

The executor's bounds, for tests on recorded runs:

- hard: with ``max_velocity`` set, every step (seams included) is at most
  ``step_limit(max_velocity, control_rate_hz)`` per joint: ``report.max_step <= limit``;
- blending: with ``blend_step_budget`` b > 0, a seam's steps stay within b x the chunks'
  largest step (``report.max_ratio <= b``), except the ticks a joint is forced forward to end
  within ``blend_max_steps`` (benchmarks/seam_eval.py and seam_replay.py measure how often
  that matters).
"""

import dataclasses

import numpy as np

from ..core.status import TickStatus


@dataclasses.dataclass(frozen=True)
class SeamReport:
    """Per-seam jumps and ratios; arrays are per joint."""

    seam_ticks: np.ndarray       # [S] index of the first tick of each new chunk
    seam_jumps: np.ndarray       # [S, D] largest per-tick step in each seam window
    reference_step: np.ndarray   # [D] largest step inside the chunks
    ratios: np.ndarray           # [S] max over joints of jump / reference (joints that move)
    max_step: np.ndarray         # [D] largest per-tick step anywhere (vs. the step limit)

    @property
    def max_ratio(self):
        return float(self.ratios.max()) if self.ratios.size else 0.0


def step_limit(max_velocity, control_rate_hz):
    """Return the executor's hard per-tick bound on any command step: max_velocity / rate."""
    return np.asarray(max_velocity, dtype=np.float64) / float(control_rate_hz)


def series_from_status(status_values):
    """
    Turn per-tick status key/values (dicts, in tick order) into seam_report's inputs.

    Returns ``commands`` [T, D], ``stamps`` [T] (active chunk stamps) and ``blending`` [T]
    (bool) for the ticks that sent a command.
    """
    rows = [r for r in map(TickStatus.decode, status_values) if r.command is not None]
    commands = np.array([r.command for r in rows], dtype=np.float64)
    stamps = np.array([r.active_chunk_stamp_ns for r in rows], dtype=np.int64)
    blending = np.array([r.state == 'blending' for r in rows], dtype=bool)
    return commands.reshape(len(rows), -1), stamps, blending


def _ratios(jumps, reference, eps):
    moving = reference > eps
    if not np.any(moving):
        return np.where(np.any(jumps > eps, axis=1), np.inf, 0.0)
    ratio = jumps[:, moving] / reference[moving]
    # a joint the chunks never move must not jump at a seam either
    still_jumps = np.any(jumps[:, ~moving] > eps, axis=1) if np.any(~moving) else False
    return np.where(still_jumps, np.inf, ratio.max(axis=1))


def seam_report(commands, active_stamps, window, reference_step=None, eps=1e-12,
                tick_times_ns=None, period_ns=None):
    """
    Measure seams in ``commands`` [T, D] given each tick's active chunk stamp [T].

    ``window``: ticks after a switch that still count as its seam (the executor's
    blend_steps). Ticks with stamp 0 (nothing sent) must be removed by the caller.

    With ``tick_times_ns`` [T] (when each tick ran) and the control period ``period_ns``,
    a late tick's step is scaled to one period (divided by its interval / period): the
    executor samples the chunks at the time a tick really runs, so a tick 20 ms late on a
    33 ms period moves 1.6 times as far at the same speed. Early ticks are not scaled up.
    """
    commands = np.asarray(commands, dtype=np.float64)
    stamps = np.asarray(active_stamps)
    if commands.ndim != 2 or stamps.shape != (commands.shape[0],):
        raise ValueError(f'commands [T, D] and stamps [T] expected, got {commands.shape} and '
                         f'{stamps.shape}')
    steps = np.abs(np.diff(commands, axis=0))  # steps[k]: tick k -> k + 1
    if tick_times_ns is not None:
        times = np.asarray(tick_times_ns, dtype=np.float64)
        if times.shape != stamps.shape or not period_ns or period_ns <= 0:
            raise ValueError('tick_times_ns [T] needs the same length as the commands and a '
                             'positive period_ns')
        steps = steps / np.maximum(1.0, np.diff(times) / float(period_ns))[:, None]
    seam_ticks = np.nonzero(stamps[1:] != stamps[:-1])[0] + 1
    in_seam = np.zeros(len(steps), bool)
    jumps = []
    for k in seam_ticks:
        lo, hi = k - 1, min(len(steps), k + int(window))
        in_seam[lo:hi] = True
        jumps.append(steps[lo:hi].max(axis=0))
    dim = commands.shape[1]
    jumps = np.array(jumps).reshape(-1, dim)
    if reference_step is None:
        inside = steps[~in_seam]
        reference_step = inside.max(axis=0) if len(inside) else np.zeros(dim)
    reference_step = np.broadcast_to(np.asarray(reference_step, np.float64), (dim,))
    max_step = steps.max(axis=0) if len(steps) else np.zeros(dim)
    return SeamReport(seam_ticks, jumps, reference_step, _ratios(jumps, reference_step, eps),
                      max_step)
