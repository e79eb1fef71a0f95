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
Attacks with finite garbage on the running nodes (issue 15, item 2), as separate processes.

- a chunk of 1e9 into the executor with config/so100.yaml as shipped (no joint limits): it is
  refused before the policy node published its envelope, and after;
- the ALOHA executor as shipped: a gripper chunk mapped to 3.87 on its 0..1 range is refused;
- a policy whose decoded chunk leaves the checkpoint's action envelope publishes nothing;
- statistics without min/max or q01/q99 stop the policy node (unless envelope_stats: none);
- issue 15 item 9: the so100 gripper (hard switch, no max_velocity) jumped 25 units when a
  chunk came after a hold; it blends in now.
(Joint states x 1000 into the policy node: test_policy_node.py, bad-input cases.)
"""

from diagnostic_msgs.msg import DiagnosticArray
from harness import CONFIG_DIR, trajectory, wait_for
import numpy as np
from policy_node_feeder import CAMERAS, Feeder, JOINTS, node_params
import pytest
from sensor_msgs.msg import JointState
from trajectory_msgs.msg import JointTrajectory
import yaml

pytestmark = pytest.mark.ros
NS = 1_000_000_000
TIMEOUT = 90.0
SO100 = CONFIG_DIR / 'so100.yaml'
ALOHA = CONFIG_DIR / 'aloha.yaml'


def shared(path):
    return yaml.safe_load(path.read_text())['/**']['ros__parameters']


class ExecutorWatch:
    """Collect an executor's status, /diagnostics and its commands as sent."""

    def __init__(self, probe, names, pose):
        self.probe = probe
        self.status = probe.collect(DiagnosticArray, 'executor_node/status')
        self.diags = probe.collect(DiagnosticArray, '/diagnostics')
        joints = probe.publisher(JointState, 'joint_states')
        probe.node.create_timer(0.02, lambda: joints.publish(
            JointState(name=list(names), position=[float(p) for p in pose])))
        self.chunks = probe.publisher(JointTrajectory, 'action_chunk')
        assert wait_for(lambda: self.chunks.get_subscription_count() > 0, 30)

    def counter(self, key):
        for _, msg in reversed(list(self.diags)):
            for status in msg.status:
                if status.name.endswith('executor_node'):
                    values = {kv.key: kv.value for kv in status.values}
                    return int(values.get(key, 0))
        return 0

    def commands(self):
        out = []
        for _, msg in list(self.status):
            values = {kv.key: kv.value for kv in msg.status[0].values}
            if values['command']:
                out.append(np.array([float(v) for v in values['command'].split(',')]))
        return out

    def ticks_pass(self, n):
        count = len(self.status)
        assert wait_for(lambda: len(self.status) >= count + n, 30)


def test_so100_as_shipped_refuses_a_1e9_chunk(spawn, probe, tmp_path):
    from graph_checks import make_test_checkpoint
    names = shared(SO100)['action_joint_names']
    pose = np.array([0.0, 10.0, 20.0, 20.0, 0.0, 50.0])
    executor = spawn('pi0fast_ros.nodes.executor', params_file=SO100)
    assert executor.wait_for_output('executor ready', 60), executor.output()
    watch = ExecutorWatch(probe, names, pose)
    huge = np.full((90, 6), 1e9)
    # 1. no policy node yet: nothing bounds the chunks, so every chunk is refused
    watch.chunks.publish(trajectory(probe.now().nanoseconds, huge, names, 30.0))
    assert wait_for(lambda: watch.counter('rejected.no_envelope') >= 1, TIMEOUT)
    watch.ticks_pass(30)
    assert watch.commands() == []
    # 2. the policy node (so100.yaml as shipped) publishes its checkpoint's action envelope
    checkpoint = make_test_checkpoint(tmp_path / 'ckpt', SO100)
    spawn('pi0fast_ros.nodes.policy', params_file=SO100, params={
        'checkpoint_path': str(checkpoint), 'warmup': False, 'torch_threads': 1})
    assert executor.wait_for_output('action envelope: action min/max', 120), \
        executor.output()
    watch.chunks.publish(trajectory(probe.now().nanoseconds, np.tile(pose, (300, 1)),
                                    names, 30.0))
    assert wait_for(lambda: len(watch.commands()) >= 10, TIMEOUT)
    gripper_only = np.tile(pose, (90, 1))
    gripper_only[:, 5] = 1e9
    for attack in (huge, gripper_only):
        watch.chunks.publish(trajectory(probe.now().nanoseconds, attack, names, 30.0))
    assert wait_for(lambda: watch.counter('rejected.out_of_envelope') >= 2, TIMEOUT)
    watch.ticks_pass(30)
    # never a step towards the refused chunks: every command is the pose, exactly
    sent = np.array(watch.commands())
    assert len(sent) >= 40
    np.testing.assert_allclose(sent, np.tile(pose, (len(sent), 1)), atol=1e-9)
    assert "leaves the policy's envelope" in executor.output()


def test_aloha_as_shipped_refuses_a_gripper_chunk_beyond_its_range(spawn, probe):
    names = shared(ALOHA)['action_joint_names']
    pose = np.array([0.0, -0.5, 0.5, 0.0, 0.3, 0.0, 0.5] * 2)  # robot space
    executor = spawn('pi0fast_ros.nodes.executor', params_file=ALOHA)
    assert executor.wait_for_output('executor ready', 60), executor.output()
    watch = ExecutorWatch(probe, names, pose)
    policy = np.zeros((150, 14))  # policy space: the flipped joints are 0 anyway
    policy[:, 6] = policy[:, 13] = 0.5  # from_angular: 0.79 on the robot
    watch.chunks.publish(trajectory(probe.now().nanoseconds, policy, names, 50.0))
    assert wait_for(lambda: len(watch.commands()) >= 20, TIMEOUT)
    attack = policy.copy()
    attack[:, 13] = 7.0  # 3.87 on the robot's 0..1 gripper range
    watch.chunks.publish(trajectory(probe.now().nanoseconds, attack, names, 50.0))
    assert wait_for(lambda: watch.counter('rejected.out_of_envelope') >= 1, TIMEOUT)
    watch.ticks_pass(30)
    grippers = np.array(watch.commands())[:, [6, 13]]
    assert grippers.max() <= 1.0 and 'right_gripper = 3.8673 > 1.2' in executor.output()


def test_policy_publishes_no_chunk_outside_its_action_envelope(spawn, probe, tmp_path):
    from pi0fast_ros.testing.random_checkpoint import make_random_checkpoint
    # the scripted chunk is about +-0.5; the data said +-0.01
    action = {'mean': np.zeros(6), 'std': np.full(6, 0.5), 'min': np.full(6, -0.01),
              'max': np.full(6, 0.01)}
    state = {'mean': np.zeros(6), 'std': np.full(6, 0.5)}
    checkpoint = make_random_checkpoint(
        tmp_path / 'ckpt', seed=3, cameras=('front', 'wrist', 'side'), chunk_size=10,
        scripted=True, stats={'action': action, 'observation.state': state})
    node = spawn('pi0fast_ros.nodes.policy', namespace='/narrow',
                 params=node_params(checkpoint))
    chunks = probe.collect(JointTrajectory, 'narrow/action_chunk')
    infos = probe.collect(DiagnosticArray, 'narrow/policy_node/chunk_info')
    Feeder(probe, CAMERAS, JOINTS, prefix='narrow/')
    assert wait_for(lambda: len(infos) >= 2, TIMEOUT), node.output()
    for _, msg in list(infos):
        values = {kv.key: kv.value for kv in msg.status[0].values}
        assert values['status'] == 'out_of_envelope'
        assert 'chunk outside the action envelope' in values['error']
    assert not chunks


def test_stats_without_bounds_stop_the_policy_node_unless_opted_out(spawn, probe, tmp_path):
    from pi0fast_ros.testing.random_checkpoint import make_random_checkpoint, STATS_FILES
    from safetensors.torch import load_file, save_file
    checkpoint = make_random_checkpoint(tmp_path / 'ckpt', seed=3,
                                        cameras=('front', 'wrist', 'side'), scripted=True)
    for name in STATS_FILES.values():  # as a dataset that only stored mean / std
        path = checkpoint / name
        kept = {k: v for k, v in load_file(str(path)).items()
                if k.rpartition('.')[2] not in ('min', 'max', 'q01', 'q99')}
        save_file(kept, str(path))
    proc = spawn('pi0fast_ros.nodes.policy', params=node_params(checkpoint))
    assert proc.proc.wait(timeout=TIMEOUT) == 1, proc.output()
    assert 'observation.state: the checkpoint statistics have no min/max or q01/q99' in \
        proc.output()
    assert 'Set envelope_stats:=none' in proc.output()
    opted_out = spawn('pi0fast_ros.nodes.policy', namespace='/no_envelope',
                      params=node_params(checkpoint, envelope_stats='none'))
    assert opted_out.wait_for_output('ready:', TIMEOUT), opted_out.output()
    assert 'envelope_stats is none' in opted_out.output()


def test_so100_gripper_does_not_jump_after_a_hold(spawn, probe):
    from graph_checks import policy_space_stats
    from pi0fast_ros.core.control.envelope import envelope_from_stats
    from pi0fast_ros.testing.random_checkpoint import stats_from_mean_std
    from rclpy.qos import DurabilityPolicy, QoSProfile, ReliabilityPolicy
    from std_msgs.msg import String
    names = shared(SO100)['action_joint_names']
    stats = policy_space_stats(SO100)['action']
    # as the policy node derives it with so100.yaml's envelope_margin 0.2, envelope_stats auto
    envelope = envelope_from_stats('action', stats_from_mean_std(stats['mean'], stats['std']),
                                   names, 0.2, 'auto')[0]
    latched = QoSProfile(depth=1, reliability=ReliabilityPolicy.RELIABLE,
                         durability=DurabilityPolicy.TRANSIENT_LOCAL)
    probe.publisher(String, 'action_envelope', latched).publish(String(data=envelope.to_json()))
    executor = spawn('pi0fast_ros.nodes.executor', params_file=SO100)
    assert executor.wait_for_output('action envelope: action min/max', 60), executor.output()
    pose = np.array([0.0, 10.0, 20.0, 20.0, 0.0, 20.0])
    watch = ExecutorWatch(probe, names, pose)
    watch.chunks.publish(trajectory(probe.now().nanoseconds, np.tile(pose, (30, 1)), names,
                                    30.0))  # 1 s, then the executor holds

    def states():
        return [{kv.key: kv.value for kv in m.status[0].values} for _, m in list(watch.status)]

    assert wait_for(lambda: any(s['state'] == 'holding' for s in states()), TIMEOUT)
    later = pose.copy()
    later[5] = 45.0  # the gripper 25 units away
    # the policy's replanning: a new chunk every 0.2 s (the blend in may outlast a watchdog)
    stop = probe.every(0.2, lambda: watch.chunks.publish(trajectory(
        probe.now().nanoseconds, np.tile(later, (60, 1)), names, 30.0)))
    assert wait_for(lambda: any(c[5] == 45.0 for c in watch.commands()), TIMEOUT), \
        [(s['seq'], s['state'], s['hold_reason']) for s in states()][-20:]
    stop()
    by_seq = {int(s['seq']): float(s['command'].split(',')[5]) for s in states()
              if s['command']}
    steps = [abs(by_seq[q] - by_seq[q - 1]) for q in by_seq if q - 1 in by_seq]
    assert max(steps) <= 25.0 / 6 + 1e-9  # blend_steps 5: at least six ticks, not one
