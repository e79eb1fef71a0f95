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

"""The policy node's inference worker with a scripted policy, for tests of its threads."""

import threading
import types

from harness import wait_for
import numpy as np
from pi0fast_ros.nodes.image_conversion import ImageConverter
from pi0fast_ros.nodes.policy.inference_worker import InferenceWorker
from pi0fast_ros.nodes.policy.input_slots import Entry, InputSlots, JOINT_STATES, JointStateMapper
from pi0fast_ros.nodes.policy.observation import ObservationBuilder
from policy_node_msgs import image, joint_state, NAMES, SEC
import pytest


CAM = 'observation.images.front'


TIMEOUT = 30.0


class ScriptedPolicy:
    """
    Records its calls; `gate` (when set up) holds each inference open until released.

    Pi0FastPolicy's two phases: prepare() only hands the observation on; run() is the inference.
    """

    def __init__(self, ok=True, gated=False, fail_with=None):
        self.ok, self.fail_with = ok, fail_with
        self.gate = threading.Semaphore(0) if gated else None
        self.calls = []
        self.in_flight = 0
        self.max_in_flight = 0
        self._lock = threading.Lock()

    def prepare(self, images, state, instruction):
        return types.SimpleNamespace(images=images, state=state, instruction=instruction)

    def run(self, prepared):
        instruction, state, images = prepared.instruction, prepared.state, prepared.images
        with self._lock:
            self.calls.append((instruction, state.copy(), images[CAM].shape))
            self.in_flight += 1
            self.max_in_flight = max(self.max_in_flight, self.in_flight)
        try:
            if self.gate is not None:
                assert self.gate.acquire(timeout=TIMEOUT)
            if self.fail_with:
                raise self.fail_with
            return types.SimpleNamespace(
                ok=self.ok, actions=np.zeros((4, 3), np.float32) if self.ok else None,
                tokens=[1, 2, 3], status='ok' if self.ok else 'no_end_marker',
                error='' if self.ok else 'no "|" in 3 tokens', timings_ms={'total': 1.0})
        finally:
            with self._lock:
                self.in_flight -= 1


class Sink:
    """Collects what the worker hands out, as (kind, payload) events."""

    def __init__(self):
        self.events = []
        self._lock = threading.Lock()

    def _add(self, kind, payload):
        with self._lock:
            self.events.append((kind, payload))

    def publish(self, record):
        self._add('publish', record)

    def failed(self, record):
        self._add('failed', record)

    def rejected(self, error):
        self._add('rejected', error)

    def dropped(self, reason, observation):
        self._add('dropped', (reason, observation))

    def error(self, exc):
        self._add('error', exc)

    def of(self, kind):
        with self._lock:
            return [p for k, p in self.events if k == kind]


class Rig:
    """Slots + real ObservationBuilder + worker around a ScriptedPolicy."""

    def __init__(self, policy, period_s=0.0, now_ns=5 * SEC, priority=None):
        self.policy, self.sink = policy, Sink()
        self.slots = InputSlots([JOINT_STATES, CAM])
        builder = ObservationBuilder({CAM: CAM}, [], JointStateMapper(NAMES), None,
                                     ImageConverter('rosbags-image'))
        self.now_ns = now_ns
        self.worker = InferenceWorker(policy, self.slots, builder, self.sink,
                                      lambda: self.now_ns, lambda: (1.0, period_s),
                                      priority=priority)
        self.slots.put(CAM, Entry(image(10), 5 * SEC))

    def joints(self, stamp_ns, positions=(1, 2, 3)):
        self.slots.put(JOINT_STATES, Entry(joint_state(NAMES, positions, stamp_ns), stamp_ns))

    def wait(self, kind, count):
        assert wait_for(lambda: len(self.sink.of(kind)) >= count, TIMEOUT), self.sink.events
        return self.sink.of(kind)

    def wait_calls(self, count):
        assert wait_for(lambda: len(self.policy.calls) >= count, TIMEOUT)


@pytest.fixture
def rig_factory():
    rigs = []

    def make(policy, **kwargs):
        rig = Rig(policy, **kwargs)
        rigs.append(rig)
        return rig

    yield make
    for rig in rigs:
        if rig.policy.gate is not None:
            for _ in range(10):
                rig.policy.gate.release()
        assert rig.worker.stop(timeout=TIMEOUT)
