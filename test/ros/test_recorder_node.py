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

"""rollout_recorder as a process: services, instruction rollover, what lands in the bags."""

import hashlib
import json
import time

from diagnostic_msgs.msg import DiagnosticArray
from harness import CONFIG_DIR, wait_for
import numpy as np
import pytest
from recorder_rig import (custom_data, LATCHED, MODULE, prepare_clients, publish_until, read_bag,
                          trigger)
from safetensors.numpy import save_file
from sensor_msgs.msg import JointState
from std_msgs.msg import String
from std_srvs.srv import Trigger
from trajectory_msgs.msg import JointTrajectory, JointTrajectoryPoint

pytestmark = pytest.mark.ros


def recording(node, publisher):
    """
    Tell whether the recorder subscribed to publisher's topic and DDS matched the two.

    The 'recording <topic>' line alone is not enough: a documented topic is subscribed at
    start-up, before discovery has matched it with a publisher.
    """
    return f'recording {publisher.topic_name}' in node.output() and \
        publisher.get_subscription_count() > 0


def start_recorder(spawn, tmp_path, **params):
    params = {'output_dir': str(tmp_path / 'rollouts'), 'checkpoint': str(tmp_path),
              'config_file': str(CONFIG_DIR / 'so100.yaml'),
              'topics': ['joint_states', 'action_chunk', 'policy_node/active_instruction'],
              **params}
    return spawn(MODULE, params=params)


def test_services_record_joint_states_and_chunks_byte_exact(spawn, probe, tmp_path):
    prepare_clients(probe)
    save_file({'w': np.arange(1000, dtype=np.float32)}, str(tmp_path / 'model.safetensors'))
    node = start_recorder(spawn, tmp_path)
    js_pub = probe.publisher(JointState, 'joint_states')
    chunk_pub = probe.publisher(JointTrajectory, 'action_chunk')
    sent = []

    def joint_state():
        msg = JointState(name=['a', 'b'], position=[len(sent) * 0.5, -1.0])
        msg.header.stamp.sec = len(sent)
        sent.append(msg)
        return msg

    # Wait until the recorder has subscribed, then record a rollout by service.
    assert publish_until(probe, js_pub, joint_state,
                         lambda: recording(node, js_pub)), node.output()
    chunk = JointTrajectory(joint_names=['a', 'b'])
    chunk.points = [JointTrajectoryPoint(positions=[1.0, 2.0]),
                    JointTrajectoryPoint(positions=[3.0, 4.0])]
    chunk.points[1].time_from_start.nanosec = 33_333_333
    chunk_pub.publish(chunk)
    assert wait_for(lambda: recording(node, chunk_pub), 20), node.output()
    start = trigger(probe, 'rollout_recorder/start', 'already recording to ')
    assert start.success, start.message
    first_recorded = len(sent)
    publish_until(probe, js_pub, joint_state, lambda: len(sent) >= first_recorded + 40)
    chunk_pub.publish(chunk)
    publish_until(probe, js_pub, joint_state, lambda: len(sent) >= first_recorded + 60)
    again = probe.call(Trigger, 'rollout_recorder/start', Trigger.Request(), timeout=8.0,
                       retries=3)      # idempotent while recording
    assert not again.success and 'already recording' in again.message
    stop = trigger(probe, 'rollout_recorder/stop', 'not recording')
    assert stop.success, stop.message
    bag = start.message
    messages = read_bag(bag)
    states = [m for topic, _, m in messages if topic == '/joint_states']
    assert len(states) >= 30
    # Every recorded JointState deserializes exactly (no trailing garbage) and in order.
    secs = [m.header.stamp.sec for m in states]
    assert secs == sorted(secs) and secs[0] >= first_recorded - 1
    assert all(list(m.position) == [m.header.stamp.sec * 0.5, -1.0] for m in states)
    chunks = [m for topic, _, m in messages if topic == '/action_chunk']
    assert chunks and [list(p.positions) for p in chunks[0].points] == [[1.0, 2.0], [3.0, 4.0]]
    assert chunks[0].points[1].time_from_start.nanosec == 33_333_333
    meta = custom_data(bag)
    assert meta['pi0fast.checkpoint'] == str(tmp_path)
    assert 'action_joint_names' in meta['pi0fast.config']
    weights = hashlib.sha256((tmp_path / 'model.safetensors').read_bytes()).hexdigest()
    assert meta['pi0fast.checkpoint_weights_sha256'] == weights
    assert 'weights sha256 ' + weights in node.output()     # logged once, with its time
    assert not probe.call(Trigger, 'rollout_recorder/stop', Trigger.Request(), timeout=8.0,
                          retries=3).success


def test_instruction_changes_split_rollouts(spawn, probe, tmp_path):
    prepare_clients(probe)
    node = start_recorder(spawn, tmp_path, autostart=True)
    instr = probe.publisher(String, 'policy_node/active_instruction', LATCHED)
    js_pub = probe.publisher(JointState, 'joint_states')
    count = {'n': 0}

    def joint_state():
        count['n'] += 1
        return JointState(name=['a'], position=[float(count['n'])])

    assert wait_for(lambda: 'rollout 1 recording' in node.output(), 30), node.output()
    instr.publish(String(data='pick up the cube'))
    # The first instruction belongs to the rollout started without one: no new bag.
    assert wait_for(lambda: "instruction 'pick up the cube'" in node.output(), 20)
    publish_until(probe, js_pub, joint_state, lambda: count['n'] >= 30)
    instr.publish(String(data='put it in the box'))
    assert wait_for(lambda: 'rollout 2 recording' in node.output(), 20), node.output()
    publish_until(probe, js_pub, joint_state, lambda: count['n'] >= 60)
    assert trigger(probe, 'rollout_recorder/stop', 'not recording').success
    bags = sorted(p for p in (tmp_path / 'rollouts').iterdir() if p.is_dir())
    assert len(bags) == 2, bags
    first, second = (custom_data(b) for b in bags)
    assert first['pi0fast.instruction'] == 'pick up the cube'
    assert second['pi0fast.instruction'] == 'put it in the box'
    assert (first['pi0fast.rollout_index'], second['pi0fast.rollout_index']) == ('1', '2')
    messages = read_bag(bags[1])
    # The new rollout begins with its instruction, so a bag alone says what it was for.
    instructions = [m.data for topic, _, m in messages
                    if topic == '/policy_node/active_instruction']
    assert instructions and instructions[0] == 'put it in the box'
    meta = [json.loads(m.data) for topic, _, m in messages
            if topic == '/rollout_recorder/metadata']
    assert meta[-1]['instruction'] == 'put it in the box'
    assert any(topic == '/joint_states' for topic, _, _ in messages)


def test_sigint_closes_the_open_bag(spawn, probe, tmp_path):
    node = start_recorder(spawn, tmp_path, autostart=True)
    js_pub = probe.publisher(JointState, 'joint_states')
    assert publish_until(probe, js_pub, lambda: JointState(name=['a'], position=[1.0]),
                         lambda: recording(node, js_pub)), node.output()
    publish_until(probe, js_pub, lambda: JointState(name=['a'], position=[1.0]),
                  lambda: False, timeout=1.0)
    assert node.stop() == 0, node.output()
    (bag,) = (tmp_path / 'rollouts').iterdir()
    messages = read_bag(bag)
    assert any(topic == '/joint_states' for topic, _, _ in messages), node.output()
    assert 'rollout closed at shutdown' in node.output()


def test_a_killed_recorder_loses_at_most_its_last_flush_and_the_next_start_recovers_the_bag(
        spawn, probe, tmp_path):
    node = start_recorder(spawn, tmp_path, autostart=True, flush_period_s=0.2)
    js_pub = probe.publisher(JointState, 'joint_states')
    sent = []

    def joint_state():
        msg = JointState(name=['a'], position=[float(len(sent))])
        msg.header.stamp.sec = len(sent)
        sent.append(msg)
        return msg
    assert publish_until(probe, js_pub, joint_state,
                         lambda: recording(node, js_pub)), node.output()
    publish_until(probe, js_pub, joint_state, lambda: False, timeout=1.5)
    node.proc.kill()                       # SIGKILL: no shutdown path runs
    node.proc.wait()
    (bag,) = (tmp_path / 'rollouts').iterdir()
    assert not (bag / 'metadata.yaml').exists()

    again = start_recorder(spawn, tmp_path)
    assert again.wait_for_output('recovered unfinished bag', 30.0), again.output()
    messages = read_bag(bag)
    stamps = [m.header.stamp.sec for topic, _, m in messages if topic == '/joint_states']
    # Published every 20 ms for 1.5 s after the subscription, flushed every 0.2 s: most of them
    # are on disk, in the order sent (DDS may lose a few on the way in, never reorder them).
    assert len(stamps) >= 20 and stamps == sorted(stamps), stamps
    data = custom_data(bag)
    assert data['pi0fast.checkpoint'] == str(tmp_path)
    assert 'complete chunks' in data['pi0fast.recovery']
    assert (bag / f'{bag.name}.mcap.unfinished').is_file()
    assert again.stop() == 0, again.output()


def test_a_publisher_that_appears_later_is_recorded_from_its_first_message(
        spawn, probe, tmp_path):
    # Before: a topic was subscribed only at the discovery tick after its publisher appeared,
    # so the policy's first chunk_info (published at once) was missing from every demo bag.
    node = start_recorder(spawn, tmp_path, autostart=True, discovery_period_s=5.0,
                          topics=['policy_node/chunk_info'])
    assert node.wait_for_output('recording /policy_node/chunk_info', 30), node.output()
    assert wait_for(lambda: probe.node.get_subscriptions_info_by_topic(
        '/policy_node/chunk_info'), 20)
    pub = probe.publisher(DiagnosticArray, 'policy_node/chunk_info')
    first = DiagnosticArray()
    first.header.stamp.sec = 42
    time.sleep(0.3)            # as the policy node: publisher first, first message soon after
    pub.publish(first)
    time.sleep(1.0)            # the message reaches the bag's queue (stop closes after it)
    assert trigger(probe, 'rollout_recorder/stop', 'not recording').success
    (bag,) = (tmp_path / 'rollouts').iterdir()
    stamps = [m.header.stamp.sec for topic, _, m in read_bag(bag)
              if topic == '/policy_node/chunk_info']
    assert stamps == [42], stamps


def test_a_reliable_publisher_is_recorded_reliably_each_message_once(spawn, probe, tmp_path):
    # /action_chunk is subscribed at start-up, before its publisher exists: best effort, which
    # matches any publisher. Before: it stayed best effort, so over a lossy link the recorder
    # lost chunks the executor's reliable subscription got (two-host test, 1 % loss). Now a
    # reliable subscription takes over once the publisher shows it is reliable; across the
    # handover (messages flowing all along) each message is in the bag exactly once.
    from rclpy.qos import ReliabilityPolicy
    node = start_recorder(spawn, tmp_path, autostart=True, discovery_period_s=0.5,
                          topics=['action_chunk'])
    assert node.wait_for_output('recording /action_chunk', 30), node.output()
    pub = probe.publisher(JointTrajectory, 'action_chunk', 100)
    sent = []

    def publish():
        msg = JointTrajectory()
        msg.header.stamp.sec = len(sent) + 1
        pub.publish(msg)
        sent.append(msg.header.stamp.sec)
    stop = probe.every(0.01, publish)
    try:
        assert node.wait_for_output('recording /action_chunk reliably', 30), node.output()
        # the provisional best-effort subscription is dropped: one reliable one is left
        assert wait_for(lambda: [i.qos_profile.reliability for i in
                                 probe.node.get_subscriptions_info_by_topic('/action_chunk')]
                        == [ReliabilityPolicy.RELIABLE], 20)
        time.sleep(1.0)
    finally:
        stop()
    time.sleep(1.0)            # the last messages reach the bag's queue
    assert trigger(probe, 'rollout_recorder/stop', 'not recording').success
    (bag,) = (tmp_path / 'rollouts').iterdir()
    stamps = [m.header.stamp.sec for topic, _, m in read_bag(bag) if topic == '/action_chunk']
    # from the first recorded on (the first ones may go before discovery matched), all, once
    assert len(stamps) > 100 and stamps[-1] == sent[-1], (len(stamps), stamps[-5:], sent[-1])
    assert sorted(stamps) == list(range(stamps[0], sent[-1] + 1)), \
        sorted(set(range(stamps[0], sent[-1] + 1)) ^ set(stamps))[:20]


def test_a_publisher_gone_at_once_leaves_the_recorder_one_subscription(spawn, probe, tmp_path):
    # `ros2 topic pub --once -w 2 /policy_node/instruction ...` counts subscriptions: the
    # recorder must be one of them, also after a publisher that came and went at once started
    # its handover from best effort to reliable.
    from rclpy.qos import ReliabilityPolicy
    node = start_recorder(spawn, tmp_path, autostart=True, discovery_period_s=0.5,
                          topics=['policy_node/instruction'])
    assert node.wait_for_output('recording /policy_node/instruction', 30), node.output()

    def recorder_subscriptions():
        return [i.qos_profile.reliability for i in
                probe.node.get_subscriptions_info_by_topic('/policy_node/instruction')
                if i.node_name == 'rollout_recorder']
    assert wait_for(lambda: len(recorder_subscriptions()) == 1, 20)
    pub = probe.publisher(String, 'policy_node/instruction')
    assert wait_for(lambda: pub.get_subscription_count() > 0, 20)
    pub.publish(String(data='reach left'))
    assert node.wait_for_output('recording /policy_node/instruction reliably', 30), node.output()
    probe.node.destroy_publisher(pub)
    assert wait_for(lambda: recorder_subscriptions() == [ReliabilityPolicy.RELIABLE], 20), \
        recorder_subscriptions()
    time.sleep(1.0)            # a moment more: still one
    assert recorder_subscriptions() == [ReliabilityPolicy.RELIABLE]
    assert trigger(probe, 'rollout_recorder/stop', 'not recording').success
    (bag,) = (tmp_path / 'rollouts').iterdir()
    texts = [m.data for topic, _, m in read_bag(bag) if topic == '/policy_node/instruction']
    assert texts == ['reach left'], texts
