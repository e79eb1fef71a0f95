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
The policy node as a process over DDS, with a tiny checkpoint, fed by the test's probe.

The checkpoint is written by make_random_checkpoint(scripted=True): random weights rewired so
that greedy decoding emits one known valid chunk for any input, so the chunk content can be
checked exactly. One node process serves the tests of this module in order (start-up costs
seconds); each test leaves the inputs good again for the next one.
"""

import hashlib
import json

from diagnostic_msgs.msg import DiagnosticArray
from harness import NodeProcess, Probe, wait_for
import numpy as np
import policy_node_feeder as feeder_mod
from policy_node_feeder import CAMERAS, Feeder, FIRST_INSTRUCTION, HORIZON, JOINTS
from policy_node_feeder import make_checkpoint, node_params, RATE_HZ
import pytest
from rclpy.qos import DurabilityPolicy, QoSProfile, ReliabilityPolicy
from std_msgs.msg import String
from std_srvs.srv import SetBool
from trajectory_msgs.msg import JointTrajectory

pytestmark = pytest.mark.ros

TIMEOUT = 90.0
INSTRUCTION_QOS = QoSProfile(depth=1, reliability=ReliabilityPolicy.RELIABLE,
                             durability=DurabilityPolicy.TRANSIENT_LOCAL)
CLI_QOS = QoSProfile(depth=1, reliability=ReliabilityPolicy.RELIABLE,   # ros2 topic pub's
                     durability=DurabilityPolicy.VOLATILE)


@pytest.fixture(scope='module')
def checkpoint(tmp_path_factory):
    return make_checkpoint(tmp_path_factory.mktemp('ckpt'))


class Rig:
    """The node process, the probe, the feeder and everything the node publishes."""

    def __init__(self, node, probe):
        self.node, self.probe = node, probe
        self.chunks = probe.collect(JointTrajectory, 'action_chunk')
        self.infos = probe.collect(DiagnosticArray, 'policy_node/chunk_info')
        self.diags = probe.collect(DiagnosticArray, '/diagnostics')
        self.feeder = Feeder(probe, CAMERAS, JOINTS)

    def chunk_stamps(self):
        return [_ns(m.header.stamp) for _, m in list(self.chunks)]

    def wait_chunk_after(self, stamp_ns, timeout=TIMEOUT):
        """Wait for a chunk computed from a joint state newer than stamp_ns."""
        ok = wait_for(lambda: any(s > stamp_ns for s in self.chunk_stamps()), timeout)
        assert ok, 'no chunk arrived; node log:\n' + self.node.output()[-4000:]

    def infos_by_stamp(self):
        return {_ns(m.header.stamp): _values(m.status[0]) for _, m in list(self.infos)}

    def node_status(self):
        """Return the latest /diagnostics status of policy_node as (message, values)."""
        for _, msg in reversed(list(self.diags)):
            for status in msg.status:
                if status.name.endswith('policy_node'):
                    return status.message, _values(status)
        return None, {}

    def wait_status(self, predicate, timeout=TIMEOUT):
        def check():
            message, values = self.node_status()
            return message is not None and predicate(message, values)
        assert wait_for(check, timeout), f'diagnostics never matched; last: {self.node_status()}'


def _ns(stamp):
    return stamp.sec * 10**9 + stamp.nanosec


def _values(status):
    return {kv.key: kv.value for kv in status.values}


@pytest.fixture(scope='module')
def rig(checkpoint, tmp_path_factory):
    node = NodeProcess('pi0fast_ros.nodes.policy', log_dir=tmp_path_factory.mktemp('log'),
                       params=node_params(checkpoint))
    probe = Probe()
    try:
        assert node.wait_for_output('ready', TIMEOUT), node.output()
        yield Rig(node, probe)
    finally:
        probe.close()
        node.stop()


def test_chunks_have_the_stamp_names_shape_and_timing_of_the_contract(rig, checkpoint):
    rig.wait_chunk_after(0)
    assert wait_for(lambda: len(rig.chunks) >= 3, TIMEOUT)
    sent = set(rig.feeder.stamps())
    scripted = np.asarray(json.loads(
        (checkpoint / 'scripted_output.json').read_text())['actions'])
    for _, chunk in list(rig.chunks)[:3]:
        assert _ns(chunk.header.stamp) in sent          # the stamp of a joint state we sent
        assert list(chunk.joint_names) == JOINTS
        assert len(chunk.points) == HORIZON
        for i, point in enumerate(chunk.points):
            assert _ns(point.time_from_start) == round(i * 1e9 / RATE_HZ)
        positions = np.array([p.positions for p in chunk.points])
        np.testing.assert_allclose(positions, scripted, rtol=1e-5, atol=1e-5)


def test_chunk_info_names_every_input_used(rig, checkpoint):
    rig.wait_chunk_after(0)
    stamp = rig.chunk_stamps()[0]
    assert wait_for(lambda: stamp in rig.infos_by_stamp(), TIMEOUT)
    info = rig.infos_by_stamp()[stamp]
    assert info['status'] == 'ok' and info['instruction'] == FIRST_INSTRUCTION
    assert int(info['stamp_ns.joint_states']) == stamp
    for slot, (topic, _) in zip(('front', 'wrist'), CAMERAS):
        assert int(info[f'stamp_ns.observation.images.{slot}']) in rig.feeder.frame_stamps(topic)
    assert info['masked.observation.images.side'] == 'true'
    assert int(info['tokens']) > 0 and int(info['horizon']) == HORIZON
    assert int(info['decode_steps']) == int(info['tokens'])   # stopped at '|'
    assert float(info['overhead_ms']) >= 0.0
    # the weights that computed the chunk, hashed here independently (hashlib, whole file)
    weights = b''.join(p.read_bytes() for p in sorted(checkpoint.glob('*.safetensors')))
    assert info['weights_sha256'] == hashlib.sha256(weights).hexdigest()
    assert info['engine_path'].startswith('compact: verified against exact at warm-up (')


def test_diagnostics_report_rates_latencies_ages_and_the_model(rig):
    rig.wait_chunk_after(0)
    rig.wait_status(lambda message, values: message == 'running'
                    and float(values['chunks_per_s']) > 0)
    _, values = rig.node_status()
    assert (values['device'], values['dtype']) == ('cpu', 'torch.float32')
    assert values['engine_mode'] == 'compact'        # engine_mode auto on CPU
    # The warm-up self-check ran: the path, and the comparison with exact that cleared it.
    assert values['engine_path'].startswith('compact: verified against exact at warm-up (')
    assert 'tokens equal; max |logit difference|' in values['engine_path']
    assert 'engine_path compact: verified' in rig.node.output()
    assert (values['horizon'], values['action_dim']) == (str(HORIZON), '6')
    assert values['masked_slots'] == 'observation.images.side'
    assert int(values['chunks_published']) > 0
    for key in ('latency_p50_ms', 'latency_p95_ms', 'inference_p50_ms', 'overhead_p95_ms'):
        assert float(values[key]) > 0.0, key
    for name in ('joint_states', 'observation.images.front', 'observation.images.wrist'):
        assert 0.0 <= float(values[f'age_s.{name}']) < 3.0
        assert int(values[f'received.{name}']) > 0


@pytest.mark.parametrize('qos, text', [(CLI_QOS, 'place it in the bowl'),
                                       (INSTRUCTION_QOS, 'put it back')])
def test_instruction_by_topic(rig, qos, text):
    # CLI_QOS is what `ros2 topic pub --once` (the README's command) publishes with.
    pub = rig.probe.publisher(String, 'policy_node/instruction', qos)
    rig.probe.publish_matched(pub, String(data=text))
    assert wait_for(lambda: any(i['instruction'] == text
                                for i in rig.infos_by_stamp().values()), TIMEOUT)
    assert rig.probe.get_parameters('policy_node', ['instruction']) == [text]
    rig.probe.node.destroy_publisher(pub)


def test_instruction_by_parameter_and_the_topic_shows_it(rig):
    result = rig.probe.set_parameters('policy_node', {'instruction': 'stack the blocks'})[0]
    assert result.successful, result.reason
    assert wait_for(lambda: any(i['instruction'] == 'stack the blocks'
                                for i in rig.infos_by_stamp().values()), TIMEOUT)
    # A late subscriber sees the active instruction (latched on ~/active_instruction).
    late = rig.probe.collect(String, 'policy_node/active_instruction', INSTRUCTION_QOS)
    assert wait_for(lambda: late, TIMEOUT)
    assert late[-1][1].data == 'stack the blocks'
    refused = rig.probe.set_parameters('policy_node', {'instruction': ''})[0]
    assert not refused.successful and 'non-empty' in refused.reason
    assert rig.probe.get_parameters('policy_node', ['instruction']) == ['stack the blocks']


def test_after_an_instruction_change_no_chunk_uses_the_old_one(rig):
    result = rig.probe.set_parameters('policy_node', {'instruction': 'open the drawer'})[0]
    assert result.successful
    # The node applied the change before answering: any joint state stamped after the answer
    # was snapshotted under the new instruction.
    changed_at = rig.probe.now().nanoseconds
    rig.wait_chunk_after(changed_at)
    assert wait_for(lambda: len([s for s in rig.infos_by_stamp() if s > changed_at]) >= 3,
                    TIMEOUT)
    later = [i['instruction'] for s, i in rig.infos_by_stamp().items() if s > changed_at]
    assert later and all(text == 'open the drawer' for text in later)


def test_pause_stops_chunks_and_resume_restarts_them(rig):
    rig.wait_chunk_after(0)
    response = rig.probe.call(SetBool, 'policy_node/pause', SetBool.Request(data=True))
    assert response.success
    paused_at = rig.probe.now().nanoseconds
    rig.wait_status(lambda message, _: message == 'paused')
    assert not wait_for(lambda: any(s > paused_at for s in rig.chunk_stamps()), 2.0)
    rig.probe.call(SetBool, 'policy_node/pause', SetBool.Request(data=False))
    rig.wait_chunk_after(paused_at)


def test_callbacks_keep_being_served_while_the_model_runs(rig):
    # Frames at a rate unrelated to the feeder's arrive at every phase of an inference:
    # ~70 per second of inference time (2 cameras at 35 Hz). A node whose callbacks waited
    # on the model would store none of them while it runs.
    extra = rig.feeder.extra_frames(35.0)
    before = len(rig.infos)

    def new_infos():
        return [_values(m.status[0]) for _, m in list(rig.infos)[before:]]

    try:
        # At least 2 s of inference time, whatever the speed of the machine.
        assert wait_for(lambda: sum(float(i['inference_ms']) for i in new_infos()) >= 2000,
                        TIMEOUT)
    finally:
        extra.set()
    infos = new_infos()
    during = sum(int(i['inputs_during_inference']) for i in infos)
    busy_ms = sum(float(i['inference_ms']) for i in infos)
    # Messages the callbacks stored while an inference was running (measured in the node).
    print(f'{during} input messages stored during {busy_ms:.0f} ms of inference over '
          f'{len(infos)} chunks')
    # Not only now and then: at least a tenth of the extra frames that fell into inferences.
    assert during >= 0.1 * 70 * busy_ms / 1000
    # Most of what is sent reaches the node (best effort, queue of one): callbacks keep up.
    _, values = rig.node_status()
    received = sum(int(v) for k, v in values.items() if k.startswith('received.'))
    assert received >= 0.3 * rig.feeder.sent


@pytest.mark.parametrize('mode,reason,text,bad_input', [
    (feeder_mod.STALE_CAMERA, 'stale', 'stale', 'front'),
    (feeder_mod.MISSING_JOINT, 'missing_joint', "missing joints ['gripper']", 'joints'),
    (feeder_mod.NAN_JOINT, 'non_finite', "non-finite positions for ['shoulder_lift']",
     'joints'),
    (feeder_mod.BAD_ENCODING, 'bad_image', "unsupported encoding '16UC1'", 'front'),
    (feeder_mod.HUGE_STATE, 'state_out_of_envelope', 'joint state outside the envelope',
     'joints'),
])
def test_bad_input_is_reported_and_gets_no_chunk(rig, mode, reason, text, bad_input):
    rig.wait_chunk_after(0)
    rig.feeder.set_mode(mode)
    rig.wait_status(lambda message, values: text in message
                    and int(values.get(f'rejected.{reason}', 0)) > 0)
    # The node holds a bad latest input now: nothing newer may become a chunk.
    confirmed_at = rig.probe.now().nanoseconds
    count = len(rig.diags)
    assert wait_for(lambda: len(rig.diags) >= count + 5, TIMEOUT)
    assert text in rig.node_status()[0]
    assert not [s for s in rig.chunk_stamps() if s > confirmed_at]
    # And no chunk ever used a bad input. (Around the switch a chunk may pair the last good
    # frame with a new joint state: topics are not ordered with respect to each other.)
    if bad_input == 'joints':
        bad = set(rig.feeder.stamps(mode))
        assert bad and not bad & set(rig.chunk_stamps())
    else:
        bad = set(rig.feeder.frame_stamps(CAMERAS[0][0], mode))
        used = {int(i['stamp_ns.observation.images.front'])
                for i in rig.infos_by_stamp().values()}
        assert bad and not bad & used
    rig.feeder.set_mode(feeder_mod.GOOD)
    rig.wait_chunk_after(max(rig.feeder.stamps(mode)))
    assert 'no inference: ' in rig.node.output()
