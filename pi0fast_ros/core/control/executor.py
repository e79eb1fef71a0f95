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
The executor's per-tick pipeline, ROS-free (DESIGN §5): schedule + blend -> adapters -> safety.

``ExecutorCore.tick(now_ns)`` returns a ``Tick``: the robot command to send (or None) and its
provenance — which chunk (stamp) it came from, the chunk being blended out and its weight,
whether and why it holds, which joints were clamped. The node publishes exactly that.

Chunks are refused whole (never clamped, never ramped towards) when they leave the envelope
(``envelope_check.py``): the configured joint limits widened by ``envelope_margin`` where both
are set, else the policy's action envelope (``set_envelope``), else, with ``require_envelope``,
every chunk is refused (``no_envelope``).

Hold priority: disabled (nothing is sent) > hold requested > policy silent (watchdog) > no
chunk covers now > non-finite command. Holding re-sends the last command sent, never zeros or
a mean; before the first command there is nothing to hold and nothing is sent (``waiting``).
After any hold the newest chunk blends in again from the held command.
"""

import collections
import dataclasses

import numpy as np

from .adapter_chain import AdapterChain
from .blend_rule import BlendRule
from .blending import ChunkScheduler
from .chunks import ChunkError, make_chunk, NS
from .envelope_check import ChunkEnvelope
from .safety import SafetyFilter, Watchdog


@dataclasses.dataclass(frozen=True)
class ExecutorConfig:
    """Executor settings; the defaults are the executor node's (nodes/executor/params.py)."""

    joint_names: tuple            # policy-space action names (chunk joint_names)
    action_rate_hz: float
    control_rate_hz: float
    blend_steps: int
    blend_schedule: str
    blend_step_budget: float      # > 0: slow blends so steps stay <= this x chunk steps
    blend_max_steps: int          # the longest a budget-slowed blend may last (ticks)
    hard_switch_joints: tuple     # policy-space names that switch at once (grippers)
    interpolation: str
    watchdog_timeout_s: float     # 0 = only hold when no chunk covers now
    lower_limits: tuple           # robot space, command joint order; empty = none
    upper_limits: tuple
    max_velocity: tuple           # robot units / s; step limit = max_velocity / rate
    start_enabled: bool
    envelope_margin: float        # chunks further outside joint_limits are refused
    require_envelope: bool        # refuse chunks for joints with neither limits nor envelope
    max_future_s: float           # refuse chunks that start further ahead than this


@dataclasses.dataclass(frozen=True)
class Tick:
    """One control tick's outcome and provenance (all stamps in integer ns, 0 = none)."""

    stamp_ns: int
    seq: int
    state: str                    # waiting | tracking | blending | holding | disabled
    command: object               # float64 [D] robot-space command to send, or None
    active_stamp_ns: int          # chunk the command came from (held: of the held command)
    previous_stamp_ns: int = 0    # chunk being blended out (blending only)
    blend_weight: float = 0.0     # largest old-side weight of the blended joints, 0..1
    chunk_index: float = float('nan')  # fractional action index in the active chunk
    hold_reason: str = ''
    clamped: tuple = ()           # joints changed by position limits this tick
    step_limited: tuple = ()      # joints changed by the step limit this tick


class ExecutorCore:
    """Chunks in, one safe command per tick out; see the module docstring."""

    def __init__(self, config, adapters=None, command_names=None):
        self.config = config
        self.adapters = adapters or AdapterChain()
        names = list(config.joint_names)
        self.adapters.check_dim(len(names))
        self.command_names = list(command_names or self.adapters.robot_names(names))
        if len(self.command_names) != len(names):
            raise ValueError(f'{len(self.command_names)} command joint names for '
                             f'{len(names)} action joints')
        unknown = sorted(set(config.hard_switch_joints) - set(names))
        if unknown:
            raise ValueError(f'hard_switch_joints {unknown} are not action joint names')
        # the slowest fade still ends within blend_max_steps ticks (blend_rule.py's floor)
        min_progress = min(1.0, (config.blend_steps + 1) / max(1, config.blend_max_steps))
        rule = BlendRule(config.blend_schedule, config.blend_steps, config.blend_step_budget,
                         min_progress, int(round(NS / config.control_rate_hz)),
                         config.interpolation)
        self.scheduler = ChunkScheduler(len(names), rule, hard_mask=[
            n in config.hard_switch_joints for n in names],
            max_future_ns=int(round(config.max_future_s * NS)))
        step = [v / config.control_rate_hz for v in config.max_velocity]
        self.safety = SafetyFilter(self.command_names, config.lower_limits,
                                   config.upper_limits, step)
        self.watchdog = Watchdog(config.watchdog_timeout_s)
        self.envelope = ChunkEnvelope(names, self.command_names, self.adapters.robot_names(names),
                                      config.lower_limits, config.upper_limits,
                                      config.envelope_margin, config.require_envelope)
        self.enabled = bool(config.start_enabled)
        self.hold_requested = False
        self.last_command = None     # robot space, last command sent
        self.last_stamp_ns = 0       # chunk the last command came from
        self.measured = None         # latest measured robot joint state (command order)
        self._hold_reason = ''
        self._rebase_next = True     # rebase the scheduler on the next tick (see tick)
        self._seq = 0
        self.last_rejection = None   # the ChunkError of the last refused chunk
        self.refused_since_accept = 0  # chunks refused since the last accepted one
        self.lead_ns = 0             # how far ahead of now the last accepted chunk was stamped
        self.counts = {'rejected': collections.Counter(), 'holds': collections.Counter(),
                       'clamped': collections.Counter(), 'step_limited': collections.Counter(),
                       'accepted': 0, 'ticks': 0, 'commands': 0, 'held_ticks': 0}

    @property
    def last_hold_reason(self):
        """Why the last tick held ('' if it sent a fresh command)."""
        return self._hold_reason

    # ---- inputs ----
    def submit(self, stamp_ns, joint_names, times_s, positions, now_ns):
        """Validate and queue a chunk; return None, or the ChunkError it was rejected for."""
        try:
            chunk = make_chunk(stamp_ns, joint_names, times_s, positions,
                               self.config.joint_names, self.config.action_rate_hz)
            self.envelope.check(chunk.positions, self.adapters.action_to_robot(chunk.positions))
            self.scheduler.submit(chunk, now_ns)
        except ChunkError as exc:
            self.counts['rejected'][exc.reason] += 1
            self.last_rejection, self.refused_since_accept = exc, self.refused_since_accept + 1
            return exc
        self._count_superseded()
        self.refused_since_accept, self.lead_ns = 0, chunk.stamp_ns - now_ns
        self.counts['accepted'] += 1
        self.watchdog.feed(now_ns)
        return None

    def _count_superseded(self):
        dropped = self.scheduler.take_superseded()
        if dropped:
            self.counts['rejected']['superseded'] += dropped

    def set_envelope(self, envelope):
        """Use the policy's action Envelope (policy space) for joints without limits."""
        self.envelope.set_policy_envelope(envelope)

    def observe_robot(self, position):
        """Latest measured joint state [D] in command order (robot units), or None."""
        self.measured = None if position is None else np.array(position, dtype=np.float64)

    def set_enabled(self, enabled):
        if enabled and not self.enabled and self.measured is not None:
            # The robot may have moved while disabled: continue from where it is.
            self.last_command = self._hold_command_for(self.measured)
            self.last_stamp_ns = 0
        self.enabled = bool(enabled)
        self._rebase_next = True

    def set_hold(self, hold):
        self.hold_requested = bool(hold)

    def _hold_command_for(self, measured):
        # The command that keeps the robot where it is: its state in policy space, mapped
        # back through the action side (the two sides differ, e.g. ALOHA grippers).
        return self.adapters.action_to_robot(self.adapters.state_to_policy(measured))

    def _base(self):
        # What the robot is commanded to now: the last command, else its measured pose.
        if self.last_command is not None:
            return self.last_command
        return None if self.measured is None else self._hold_command_for(self.measured)

    # ---- the tick ----
    def tick(self, now_ns):
        """Run one control tick at ROS time ``now_ns``; return its Tick."""
        self._seq += 1
        self.counts['ticks'] += 1
        base = self._base()
        if self._rebase_next and base is not None:
            # After a hold, a disable or before the first command: whatever chunk runs next
            # blends in from what the robot is holding instead of jumping.
            self.scheduler.rebase(self.adapters.robot_to_action(base), now_ns)
            self._rebase_next = self.last_command is None
        sample = self.scheduler.step(now_ns)
        self._count_superseded()
        if not self.enabled:
            self._hold_reason, self._rebase_next = 'disabled', True
            return Tick(now_ns, self._seq, 'disabled', None, sample.active_stamp_ns,
                        hold_reason='disabled')
        reason = ('hold_requested' if self.hold_requested else
                  'policy_silent' if self.watchdog.expired(now_ns) else sample.reason)
        result = None
        if not reason:
            result = self.safety.check(self.adapters.action_to_robot(sample.target), base)
            reason = result.reason
        if reason:
            return self._hold(now_ns, reason)
        self._hold_reason, self._rebase_next = '', False
        self.last_command, self.last_stamp_ns = result.command, sample.active_stamp_ns
        self.counts['commands'] += 1
        self.counts['clamped'].update(result.clamped)
        self.counts['step_limited'].update(result.step_limited)
        state = 'blending' if sample.blending else 'tracking'
        return Tick(now_ns, self._seq, state, result.command.copy(), sample.active_stamp_ns,
                    sample.previous_stamp_ns, sample.blend_weight, sample.chunk_index,
                    clamped=result.clamped, step_limited=result.step_limited)

    def _hold(self, now_ns, reason):
        if reason != self._hold_reason:
            self.counts['holds'][reason] += 1  # hold events, by reason
        self._hold_reason, self._rebase_next = reason, True
        self.counts['held_ticks'] += 1
        if self.last_command is None:
            return Tick(now_ns, self._seq, 'waiting', None, 0, hold_reason=reason)
        self.counts['commands'] += 1
        return Tick(now_ns, self._seq, 'holding', self.last_command.copy(), self.last_stamp_ns,
                    hold_reason=reason)
