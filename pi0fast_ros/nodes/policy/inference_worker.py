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
The one thread that owns the model: snapshot -> observation -> policy -> sink.

ROS-free. Subscription callbacks only fill InputSlots (a short lock, never held during
inference), so they are never blocked by the model; this thread sleeps on the slots' Condition
until there is work. Rules (DESIGN §4):
- at most one inference in flight (one thread);
- each inference uses a joint state newer than the last one used (a chunk's stamp is its id);
- with a period > 0, inferences start at most once per period; with 0, back to back;
- no inference while paused, without an instruction, or on a missing/invalid/stale input;
- a result computed for a superseded instruction, or finished after a pause, is dropped;
- a decode failure publishes no chunk (the sink reports it).
With a PhasePriority, the node's own work of each chunk (input conversion, the policy's
prepare(), publishing) runs at SCHED_FIFO priority and its run() (the model) at normal
priority.
"""

import dataclasses
import os
import threading
import time

from .input_slots import InputError, JOINT_STATES
from ..realtime import set_fifo_priority, set_normal_priority

DROP_SUPERSEDED = 'superseded'
DROP_PAUSED = 'paused'
RECHECK_S = 0.25   # longest sleep before conditions that depend on time are re-evaluated


class PhasePriority:
    """
    Switch the calling thread between SCHED_FIFO `priority` and normal scheduling.

    priority 0 (or a refused first try: see `error`) makes raise_() and lower() do nothing.
    The policy node gives its worker this for the short per-chunk work around the model, so
    that on a busy machine that work is not preempted by other processes; a model forward of
    seconds at real-time priority would starve them, so it runs at normal priority.
    """

    def __init__(self, priority=0):
        self.priority = priority
        self.error = ''
        if priority > 0:   # try it once here, then restore this thread's scheduling
            policy, param = os.sched_getscheduler(0), os.sched_getparam(0)
            self.error = set_fifo_priority(priority)
            if not self.error:
                os.sched_setscheduler(0, policy, param)

    @property
    def active(self):
        return self.priority > 0 and not self.error

    def raise_(self):
        if self.active:
            set_fifo_priority(self.priority)

    def lower(self):
        if self.active:
            set_normal_priority()


@dataclasses.dataclass(frozen=True)
class InferenceRecord:
    """One finished inference, handed to the sink."""

    observation: object            # Observation
    result: object                 # the policy's PolicyResult
    convert_ms: float
    inputs_during_inference: int   # messages the callbacks stored while the model ran


class InferenceWorker:
    """
    Run the policy on the latest inputs, one inference at a time, in a thread of its own.

    policy: has prepare(images, state, instruction) -> a prepared input and run(prepared) ->
    PolicyResult (Pi0FastPolicy's two phases). slots: InputSlots.
    builder: ObservationBuilder. sink: has publish(InferenceRecord), failed(InferenceRecord),
    rejected(InputError), dropped(reason, Observation), error(Exception). now_ns: callable
    returning ROS time in ns. settings: callable returning (max_input_age_s,
    inference_period_s), read before each inference so they can change at run time.
    priority: a PhasePriority (default: none): raised for conversion, prepare and publishing,
    lowered before run.
    """

    def __init__(self, policy, slots, builder, sink, now_ns, settings, logger=None,
                 priority=None):
        self.priority = priority or PhasePriority(0)
        self.policy = policy
        self.slots = slots
        self.builder = builder
        self.sink = sink
        self.now_ns = now_ns
        self.settings = settings
        self.logger = logger
        self._paused = threading.Event()
        self._stop = threading.Event()
        self._busy = threading.Event()
        self._last_stamp = None
        self._last_start = float('-inf')
        self._thread = threading.Thread(target=self._run, name='policy_worker', daemon=True)

    # -- control (any thread) --------------------------------------------------------------
    def start(self):
        self._thread.start()

    def stop(self, timeout=10.0):
        """Ask the thread to finish (after the inference in flight) and join it."""
        self._stop.set()
        self.slots.notify()
        self._thread.join(timeout)
        return not self._thread.is_alive()

    def set_paused(self, paused):
        (self._paused.set if paused else self._paused.clear)()
        self.slots.notify()

    @property
    def paused(self):
        return self._paused.is_set()

    @property
    def busy(self):
        """Tell whether an inference is running now."""
        return self._busy.is_set()

    # -- the thread ------------------------------------------------------------------------
    def _run(self):
        while not self._stop.is_set():
            snapshot = self._wait_for_turn()
            if snapshot is None:
                continue
            try:
                self._step(snapshot)
            except Exception as exc:  # the thread must survive; the sink reports
                self.priority.lower()
                self.sink.error(exc)
                self._stop.wait(RECHECK_S)

    def _ready(self, snapshot):
        entry = snapshot.entries.get(JOINT_STATES)
        return (not self._paused.is_set() and bool(snapshot.instruction) and entry is not None
                and entry.stamp_ns != self._last_stamp)

    def _wait_for_turn(self):
        # Honour the period first (sleeping on the stop event keeps shutdown prompt).
        period = self.settings()[1]
        delay = self._last_start + period - time.monotonic()
        if period > 0 and delay > 0:
            self._stop.wait(min(delay, RECHECK_S))
            return None
        snapshot = self.slots.wait_for(
            lambda s: self._ready(s) or self._stop.is_set(), RECHECK_S)
        return snapshot if self._ready(snapshot) and not self._stop.is_set() else None

    def _step(self, snapshot):
        max_age_s = self.settings()[0]
        self.priority.raise_()
        try:
            observation = self.builder.build(snapshot, self.now_ns(), int(max_age_s * 1e9))
        except InputError as err:
            self.priority.lower()
            self.sink.rejected(err)
            # Nothing to do until an input, the instruction or the pause state changes.
            self.slots.wait_for(lambda s: s.received != snapshot.received
                                or s.generation != snapshot.generation
                                or self._stop.is_set(), RECHECK_S)
            return
        self._last_start = time.monotonic()
        before = sum(snapshot.received.values())
        self._busy.set()
        try:
            prepared = self.policy.prepare(observation.images, observation.state,
                                           observation.instruction)
            self.priority.lower()
            result = self.policy.run(prepared)
        finally:
            self._busy.clear()
            self.priority.lower()
        during = sum(self.slots.snapshot().received.values()) - before
        record = InferenceRecord(observation, result, observation.convert_ms, during)
        if self._paused.is_set():
            self.sink.dropped(DROP_PAUSED, observation)
            return
        if self.slots.generation != observation.generation:
            self.sink.dropped(DROP_SUPERSEDED, observation)
            return
        self._last_stamp = observation.stamp_ns
        self.priority.raise_()
        try:
            (self.sink.publish if result.ok else self.sink.failed)(record)
        finally:
            self.priority.lower()
