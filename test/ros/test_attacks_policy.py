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
Attacks on the policy node's inputs (issues 15.1, 15.4, 15.7, 16.1), against the real process.

Instructions: the last one an operator sent is the one that runs, whatever came before (back to
back, after a flood), with the ros2 CLI's QoS and with the node's own. Bad input: an instruction
too long to run, frames that make every inference fail; each must stop the chunks and turn
/diagnostics to ERROR with the reason. One node process serves the module; each test leaves
the inputs good and an instruction running. Add the next attack here.
"""

import array
import pathlib
import time

from diagnostic_msgs.msg import DiagnosticArray, DiagnosticStatus
from harness import NodeProcess, Probe, wait_for
from pi0fast_ros.recording.bag_writer import TYPESTORE
from policy_node_feeder import CAMERAS, Feeder, GOOD, JOINTS, make_checkpoint, node_params
import pytest
from rclpy.qos import DurabilityPolicy, QoSProfile, ReliabilityPolicy
from rosbags.highlevel import AnyReader
from std_msgs.msg import String
from trajectory_msgs.msg import JointTrajectory
import yaml

pytestmark = pytest.mark.ros
TIMEOUT = 90.0
CLI_QOS = QoSProfile(depth=1, reliability=ReliabilityPolicy.RELIABLE,   # ros2 topic pub
                     durability=DurabilityPolicy.VOLATILE)
LATCHED_QOS = QoSProfile(depth=1, reliability=ReliabilityPolicy.RELIABLE,
                         durability=DurabilityPolicy.TRANSIENT_LOCAL)
TALL_THIN = 'tall_thin'         # the raw camera sends a 1 x 5000 frame (no valid resize)
CORRUPT_JPEG = 'corrupt_jpeg'   # the compressed camera sends bytes that are not a JPEG
AHEAD = 'ahead'                 # joint states stamped 0.3 s ahead (the robot's clock is ahead)
AHEAD_NS = 300_000_000
SKILLS = ['reach left', 'reach right', 'wave', 'go home']


class AttackFeeder(Feeder):
    """The tests' robot stand-in, with frames made bad in the ways of the attacks."""

    def _camera_msg(self, compressed, payload, size, stamp, bad):
        msg = super()._camera_msg(compressed, payload, size, stamp, bad)
        if self.mode == TALL_THIN and not compressed:
            msg.height, msg.width, msg.step = 1, 5000, 15000
            msg.data = array.array('B', bytes(15000))
        if self.mode == CORRUPT_JPEG and compressed:
            msg.data = array.array('B', b'\xff\xd8\xff\xe0' + bytes(range(256)) * 4)
        return msg

    def _joint_msg(self, mode, stamp):
        msg = super()._joint_msg(mode, stamp)
        if mode == AHEAD:
            sec, nanosec = divmod(stamp.sec * 10**9 + stamp.nanosec + AHEAD_NS, 10**9)
            msg.header.stamp.sec, msg.header.stamp.nanosec = sec, nanosec
        return msg


class Rig:
    """The node process, the probe, the feeder, and what the node publishes."""

    def __init__(self, node, probe):
        self.node, self.probe = node, probe
        self.chunks = probe.collect(JointTrajectory, 'action_chunk')
        self.diags = probe.collect(DiagnosticArray, '/diagnostics')
        self.infos = probe.collect(DiagnosticArray, 'policy_node/chunk_info')
        self.active = probe.collect(String, 'policy_node/active_instruction', LATCHED_QOS)
        self.feeder = AttackFeeder(probe, CAMERAS, JOINTS)
        self.cli = probe.publisher(String, 'policy_node/instruction', CLI_QOS)
        self.latched = probe.publisher(String, 'policy_node/instruction', LATCHED_QOS)

    def send(self, text, pub=None):
        self.probe.publish_matched(pub or self.cli, String(data=text))

    def running(self):
        """Return the instruction the node says it runs now (its latched output)."""
        return self.active[-1][1].data if self.active else None

    def status(self, since=0.0):
        """Return the latest /diagnostics (level, message) of the policy node."""
        for received, msg in reversed(list(self.diags)):
            if received < since:
                break
            for status in msg.status:
                if status.name.endswith('policy_node'):
                    return status.level, status.message
        return None, ''

    def wait_status(self, level, text):
        """Wait for a status published from now on with that level and text."""
        since = time.monotonic()
        ok = wait_for(lambda: self.status(since)[0] == level and text in self.status(since)[1],
                      TIMEOUT)
        assert ok, f'last status {self.status()}; log:\n{self.node.output()[-3000:]}'

    def chunk_stamps(self):
        return [m.header.stamp.sec * 10**9 + m.header.stamp.nanosec for _, m in
                list(self.chunks)]

    def chunk_instructions(self):
        """Return {chunk stamp: instruction} from chunk_info."""
        out = {}
        for _, msg in list(self.infos):
            values = {kv.key: kv.value for kv in msg.status[0].values}
            out[msg.header.stamp.sec * 10**9 + msg.header.stamp.nanosec] = \
                values['instruction']
        return out

    def restore(self, text='go home'):
        """Good inputs, a valid instruction, chunks again."""
        self.feeder.set_mode(GOOD)
        self.send(text)
        since = self.probe.now().nanoseconds
        assert wait_for(lambda: any(s > since for s in self.chunk_stamps()), TIMEOUT), \
            self.node.output()[-3000:]


@pytest.fixture(scope='module')
def rig(tmp_path_factory):
    checkpoint = make_checkpoint(tmp_path_factory.mktemp('ckpt'))
    node = NodeProcess('pi0fast_ros.nodes.policy', log_dir=tmp_path_factory.mktemp('log'),
                       params=node_params(checkpoint))
    probe = Probe()
    try:
        assert node.wait_for_output('ready', TIMEOUT), node.output()
        yield Rig(node, probe)
    finally:
        probe.close()
        node.stop()


@pytest.mark.parametrize('qos', ['cli', 'latched'])
def test_back_to_back_instructions_the_second_always_runs(rig, qos):
    pub = rig.cli if qos == 'cli' else rig.latched
    for trial in range(5):
        rig.send('go home', pub)
        assert wait_for(lambda: rig.running() == 'go home', TIMEOUT), (trial, rig.running())
        rig.send('reach left', pub)
        pub.publish(String(data='reach right'))     # at once, no wait
        assert wait_for(lambda: rig.running() == 'reach right', 20.0), (trial, rig.running())
        assert rig.probe.get_parameters('policy_node', ['instruction']) == ['reach right']
    # what runs is what chunks are computed under: no 'reach left' chunk after 'reach right'
    sent = rig.probe.now().nanoseconds
    assert wait_for(lambda: any(s > sent for s in rig.chunk_instructions()), TIMEOUT)
    later = {s: i for s, i in rig.chunk_instructions().items() if s > sent}
    assert set(later.values()) == {'reach right'}, later


def test_a_flood_then_resent_instructions_are_all_accepted(rig):
    for k in range(300):
        rig.cli.publish(String(data=SKILLS[k % len(SKILLS)]))
    rig.latched.publish(String(data='go home'))
    assert wait_for(lambda: rig.running() == 'go home', TIMEOUT), rig.running()
    dropped = []
    for k in range(12):
        text = SKILLS[k % 3]      # never 'go home', and each differs from the previous one
        rig.send(text, rig.cli if k % 2 else rig.latched)
        if not wait_for(lambda: rig.running() == text, 20.0):
            dropped.append(text)
    assert not dropped, f'{len(dropped)} of 12 re-sent instructions were swallowed: {dropped}'


def test_an_instruction_too_long_is_refused_before_tokenizing_and_stops_the_policy(rig):
    rig.restore()
    rig.send('x' * 1_000_000)
    rig.wait_status(DiagnosticStatus.ERROR, 'instruction refused: instruction of 1000000 '
                    'characters refused: more than max_instruction_chars (1000)')
    assert rig.running() == ''      # what the operator asked for does not run, nor the old one
    refused_at = rig.probe.now().nanoseconds
    assert not wait_for(lambda: any(s > refused_at for s in rig.chunk_stamps()), 2.0)
    assert 'instruction on ~/instruction refused' in rig.node.output()
    # it never reached the tokenizer: the policy refused no observation for it
    assert 'the policy refused the observation' not in rig.node.output()
    rig.restore()
    assert rig.running() == 'go home'


def test_an_instruction_over_the_token_limit_is_an_error_with_its_reason(rig):
    rig.restore()
    rig.send('pick ' * 190)        # under max_instruction_chars, over tokenizer_max_length
    rig.wait_status(DiagnosticStatus.ERROR, 'instruction too long')
    assert rig.status()[1].startswith('no chunk from the last 10 inference attempts')
    rig.restore()


@pytest.mark.parametrize('mode, reason', [
    (TALL_THIN, 'inference raised'),          # a zero-size resize target inside the model
    (CORRUPT_JPEG, 'bad_image'),              # refused at conversion
])
def test_frames_that_fail_every_inference_are_an_error_with_no_chunk(rig, mode, reason):
    rig.restore()
    rig.feeder.set_mode(mode)
    rig.wait_status(DiagnosticStatus.ERROR, 'no chunk from the last 10 inference attempts')
    assert reason in rig.status()[1], rig.status()
    assert not set(rig.feeder.stamps(mode)) & set(rig.chunk_stamps())   # no motion from it
    rig.restore()
    rig.wait_status(DiagnosticStatus.OK, 'running')


def test_joint_states_stamped_ahead_give_chunks_and_a_clock_skew_warning(rig):
    rig.restore()
    rig.feeder.set_mode(AHEAD)
    rig.wait_status(DiagnosticStatus.WARN, 'clock skew')
    assert 'joint_states stamped 0.' in rig.status()[1]
    since = rig.probe.now().nanoseconds
    # chunks go on, stamped ahead like their joint states (the executor runs them late)
    assert wait_for(lambda: any(s > since + AHEAD_NS // 2 for s in rig.chunk_stamps()), TIMEOUT)
    rig.restore()


def _bag(path):
    """Return (custom metadata, [(topic, String data)]) of a rollout bag."""
    meta = yaml.safe_load((path / 'metadata.yaml').read_text())
    with AnyReader([path], default_typestore=TYPESTORE) as reader:
        texts = [(c.topic, reader.deserialize(raw, c.msgtype).data)
                 for c, _, raw in reader.messages() if c.msgtype == 'std_msgs/msg/String'
                 and c.topic.startswith('/policy_node/')]
    return meta['rosbag2_bagfile_information']['custom_data'], texts


def test_the_recorder_records_the_instruction_that_ran_not_a_refused_one(rig, spawn, tmp_path):
    rig.restore('go home')
    recorder = spawn('pi0fast_ros.nodes.recorder', params={
        'output_dir': str(tmp_path / 'rollouts'), 'autostart': True,
        'recover_unfinished': False,
        'topics': ['policy_node/active_instruction', 'policy_node/instruction']})
    for topic in ('active_instruction', 'instruction'):
        assert recorder.wait_for_output(f'recording /policy_node/{topic} [', TIMEOUT), \
            recorder.output()
    refused = 'y' * 5000
    rig.send(refused)
    assert wait_for(lambda: rig.running() == '', TIMEOUT)
    rig.send('reach left')
    assert wait_for(lambda: rig.running() == 'reach left', TIMEOUT)
    assert wait_for(lambda: "instruction 'reach left'" in recorder.output(), TIMEOUT), \
        recorder.output()
    assert recorder.stop() == 0, recorder.output()
    bags = [_bag(p) for p in sorted(pathlib.Path(tmp_path / 'rollouts').iterdir())
            if (p / 'metadata.yaml').is_file()]
    ran = [meta.get('pi0fast.instruction') for meta, _ in bags]
    assert 'reach left' in ran and refused not in ran, ran
    active = [text for _, texts in bags for topic, text in texts
              if topic.endswith('/active_instruction')]
    assert 'reach left' in active and refused not in active
