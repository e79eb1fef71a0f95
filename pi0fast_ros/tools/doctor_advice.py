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
pi0fast-doctor's recommendation: node settings from a measured chunk latency.

The timing model (docs/architecture.md, executor): a chunk computed from the observation at t
holds `horizon` actions at t + i / action_rate_hz, so it covers D = horizon / action_rate_hz
seconds and reaches the executor at t + L (L: chunk latency). Inferences start every
P = max(inference_period_s, L) seconds (one at a time; 0 = back to back), so the next chunk
arrives at t + P + L and the executor blends old -> new over blend_steps control ticks. The
robot always has a chunk to follow when P + L + blend <= D; the old chunk overlaps the new one
by D - P - L seconds, the room a blend has. A chunk with L >= D arrives after its last action.
"""

import dataclasses
import math

PERIOD_STEP_S = 0.05   # recommended periods are rounded to this
HEADROOM = 1.25        # recommended period >= HEADROOM x the p99 chunk latency


@dataclasses.dataclass
class Advice:
    """What the measured latency allows, and settings that fit."""

    chunk_s: float             # D: the time one chunk covers
    latency_s: float           # L: the p99 chunk latency used
    in_time: bool              # L < D: the chunk arrives before its last action
    keeps_up: bool             # a period exists with P + L + blend <= D
    inference_period_s: float  # recommended (None when not in time)
    blend_steps: int           # recommended (<= the overlap in control ticks)
    blend_max_steps: int
    notes: list


def advise(latency_s, horizon, action_rate_hz, control_rate_hz, blend_steps, blend_max_steps,
           inference_period_s, watchdog_timeout_s):
    """Return Advice for a p99 chunk latency (seconds) and the current settings."""
    chunk_s = horizon / action_rate_hz
    notes = []
    if latency_s >= chunk_s:
        notes.append(f'a chunk covers {chunk_s:.3f} s but takes {latency_s:.3f} s (p99) to '
                     'compute: it arrives after its last action and the robot would only '
                     'hold. Use a faster device or dtype, or a checkpoint with a longer '
                     'horizon.')
        return Advice(chunk_s, latency_s, False, False, None, 0, 0, notes)
    tick_s = 1.0 / control_rate_hz
    blend_s = blend_steps * tick_s
    longest = chunk_s - latency_s - blend_s      # the largest period that keeps up
    keeps_up = longest >= latency_s
    if keeps_up:
        period = max(PERIOD_STEP_S, _round_up(HEADROOM * latency_s))
        period = period if period <= longest else max(latency_s, _round_down(longest))
        period = round(period, 3)
        notes.append(f'inference_period_s {period:g}: replan every {period:g} s; any value '
                     f'from {latency_s:.3f} (the latency) to {longest:.3f} s keeps a chunk '
                     f'ahead (the first {latency_s / chunk_s:.0%} of each chunk is in the past '
                     'when it arrives)')
    else:
        period = 0.0
        gap = latency_s * 2 + blend_s - chunk_s
        notes.append(f'even back to back (inference_period_s 0) the next chunk arrives and '
                     f'blends {gap:.3f} s after the current one ends: the executor follows '
                     'the held end of each chunk meanwhile. Shorten the latency or blend.')
    effective = max(period, latency_s)
    overlap_ticks = max(0, int(math.floor((chunk_s - effective - latency_s) / tick_s + 1e-9)))
    new_blend = min(blend_steps, overlap_ticks)
    new_max = min(blend_max_steps, max(new_blend, overlap_ticks))
    if new_blend < blend_steps:
        notes.append(f'blend_steps {new_blend} (was {blend_steps}): the old chunk overlaps the '
                     f'new one by only {overlap_ticks} control ticks')
    if new_max < blend_max_steps:
        notes.append(f'blend_max_steps {new_max} (was {blend_max_steps}): a budget-slowed '
                     'blend longer than the overlap blends against a held value')
    if effective >= watchdog_timeout_s:
        notes.append(f"chunks arrive every {effective:.3f} s, not sooner than the executor's "
                     f'watchdog_timeout_s {watchdog_timeout_s:g}: raise it above the period')
    if inference_period_s and max(inference_period_s, latency_s) > longest:
        notes.append(f'the configured inference_period_s {inference_period_s:g} is too long: '
                     'the current chunk ends before the next one has blended in')
    return Advice(chunk_s, latency_s, True, keeps_up, period, new_blend, new_max, notes)


def _round_up(seconds):
    return math.ceil(seconds / PERIOD_STEP_S - 1e-9) * PERIOD_STEP_S


def _round_down(seconds):
    return math.floor(seconds / PERIOD_STEP_S + 1e-9) * PERIOD_STEP_S
