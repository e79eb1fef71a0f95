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
The inference worker's rules (nodes/policy/inference_worker.py), deterministically, without DDS.

The worker is under test here; the policy is a scripted stand-in whose inference can be held
open with a gate, so that "instruction changes while an inference runs" happens for certain.
The real model runs through the same worker in the multi-process tests (test_policy_node.py).
"""


from harness import wait_for
import numpy as np
from pi0fast_ros.nodes.policy.inference_worker import DROP_PAUSED, DROP_SUPERSEDED
from pi0fast_ros.nodes.policy.input_slots import Entry, STALE
from policy_node_msgs import image, SEC
from worker_rig import CAM, ScriptedPolicy


def test_one_chunk_per_new_joint_state(rig_factory):
    rig = rig_factory(ScriptedPolicy())
    rig.slots.set_instruction('pick')
    rig.joints(5 * SEC)
    rig.worker.start()
    first = rig.wait('publish', 1)[0]
    assert first.observation.stamp_ns == 5 * SEC
    # No new joint state: no second inference on the same stamp (a chunk's stamp is its id).
    assert not wait_for(lambda: len(rig.policy.calls) > 1, 0.3)
    rig.joints(5 * SEC + 1000, positions=(4, 5, 6))
    second = rig.wait('publish', 2)[1]
    assert second.observation.stamp_ns == 5 * SEC + 1000
    np.testing.assert_array_equal(rig.policy.calls[1][1], [4, 5, 6])


def test_no_inference_without_an_instruction(rig_factory):
    rig = rig_factory(ScriptedPolicy())
    rig.joints(5 * SEC)
    rig.worker.start()
    assert not wait_for(lambda: rig.policy.calls, 0.3)
    rig.slots.set_instruction('pick')
    assert rig.wait('publish', 1)[0].observation.instruction == 'pick'


def test_new_instruction_drops_the_result_in_flight(rig_factory):
    rig = rig_factory(ScriptedPolicy(gated=True))
    rig.slots.set_instruction('pick')
    rig.joints(5 * SEC)
    rig.worker.start()
    rig.wait_calls(1)                 # the inference for 'pick' is running now
    rig.slots.set_instruction('place')
    rig.policy.gate.release()
    reason, obs = rig.wait('dropped', 1)[0]
    assert (reason, obs.instruction) == (DROP_SUPERSEDED, 'pick')
    # The worker goes again at once on the latest inputs, for the new instruction.
    rig.wait_calls(2)
    rig.policy.gate.release()
    published = rig.wait('publish', 1)
    assert [r.observation.instruction for r in published] == ['place']
    assert published[0].observation.stamp_ns == 5 * SEC


def test_pause_drops_the_result_in_flight_and_stops_inference(rig_factory):
    rig = rig_factory(ScriptedPolicy(gated=True))
    rig.slots.set_instruction('pick')
    rig.joints(5 * SEC)
    rig.worker.start()
    rig.wait_calls(1)
    rig.worker.set_paused(True)
    rig.policy.gate.release()
    assert rig.wait('dropped', 1)[0][0] == DROP_PAUSED
    rig.joints(5 * SEC + 1)
    assert not wait_for(lambda: len(rig.policy.calls) > 1, 0.3)
    rig.worker.set_paused(False)
    rig.wait_calls(2)
    rig.policy.gate.release()
    assert rig.wait('publish', 1)[0].observation.stamp_ns == 5 * SEC + 1
    assert not rig.sink.of('failed')


def test_decode_failure_publishes_nothing_and_is_not_retried(rig_factory):
    rig = rig_factory(ScriptedPolicy(ok=False))
    rig.slots.set_instruction('pick')
    rig.joints(5 * SEC)
    rig.worker.start()
    failed = rig.wait('failed', 1)
    assert failed[0].result.status == 'no_end_marker'
    assert not wait_for(lambda: len(rig.policy.calls) > 1, 0.3)
    assert not rig.sink.of('publish')


def test_an_exception_is_reported_and_the_worker_survives(rig_factory):
    rig = rig_factory(ScriptedPolicy(fail_with=RuntimeError('out of memory')))
    rig.slots.set_instruction('pick')
    rig.joints(5 * SEC)
    rig.worker.start()
    assert 'out of memory' in str(rig.wait('error', 1)[0])
    rig.policy.fail_with = None
    rig.joints(5 * SEC + 1)
    assert rig.wait('publish', 1)[0].observation.stamp_ns == 5 * SEC + 1


def test_stale_input_is_rejected_without_inference(rig_factory):
    rig = rig_factory(ScriptedPolicy(), now_ns=7 * SEC)     # camera stamp 5 s, max age 1 s
    rig.slots.set_instruction('pick')
    rig.joints(7 * SEC)
    rig.worker.start()
    error = rig.wait('rejected', 1)[0]
    assert (error.reason, error.input_name) == (STALE, CAM)
    assert not rig.policy.calls
    rig.slots.put(CAM, Entry(image(10), 7 * SEC))            # a fresh frame cures it
    rig.joints(7 * SEC + 1)
    assert rig.wait('publish', 1)[0].observation.stamps_ns[CAM] == 7 * SEC


def test_at_most_one_inference_in_flight(rig_factory):
    rig = rig_factory(ScriptedPolicy())
    rig.slots.set_instruction('pick')
    rig.worker.start()
    for i in range(1, 201):
        rig.joints(5 * SEC + i)
    rig.wait('publish', 1)
    assert rig.policy.max_in_flight == 1


def test_inference_period_limits_the_rate(rig_factory):
    rig = rig_factory(ScriptedPolicy(), period_s=60.0)
    rig.slots.set_instruction('pick')
    rig.joints(5 * SEC)
    rig.worker.start()
    rig.wait('publish', 1)
    for i in range(1, 20):
        rig.joints(5 * SEC + i)
    assert not wait_for(lambda: len(rig.policy.calls) > 1, 0.5)


def test_inputs_arriving_during_inference_are_counted(rig_factory):
    rig = rig_factory(ScriptedPolicy(gated=True))
    rig.slots.set_instruction('pick')
    rig.joints(5 * SEC)
    rig.worker.start()
    rig.wait_calls(1)
    for i in range(1, 8):
        rig.joints(5 * SEC + i)
    rig.policy.gate.release()
    assert rig.wait('publish', 1)[0].inputs_during_inference == 7
