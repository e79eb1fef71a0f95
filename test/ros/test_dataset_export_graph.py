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
Record -> export on the real fake-hardware graph: a demonstration and a policy rollout.

`pi0fast-bringup --teleop-topic leader/joint_states --fake-hardware --record DIR` starts the
fake robot playing a scripted leader arm and the recorder (no policy, no executor), as separate
processes over DDS. The bag is exported with the leader as the action source and the dataset is
read back with pyarrow and PyAV; every frame is checked against the bag's own messages, read
here with rosbags and OpenCV. The full graph's rollout is exported with the executor's commands.
"""

import json
import os

import av
from bringup_rig import Bringup
import cv2
from graph_checks import graph_test_config, make_test_checkpoint
from harness import CONFIG_DIR, wait_for
import numpy as np
from pi0fast_ros.recording.bag_writer import TYPESTORE
from pi0fast_ros.recording.rollout import stamp_ns
from pi0fast_ros.tools import export_dataset
import pyarrow.parquet as pq
import pytest
from rosbags.highlevel import AnyReader

pytestmark = [pytest.mark.ros, pytest.mark.slow]
FPS = 30


def read_bag(bag):
    """{topic: [(stamp_ns, message)]} of the bag, straight from rosbags."""
    out = {}
    with AnyReader([bag], default_typestore=TYPESTORE) as reader:
        for conn, _, raw in reader.messages():
            msg = reader.deserialize(raw, conn.msgtype)
            if hasattr(msg, 'header'):
                out.setdefault(conn.topic, []).append((stamp_ns(msg.header), msg))
    return out


def latest(messages, t_ns):
    """Return the last message stamped at or before t_ns."""
    before = [m for m in messages if m[0] <= t_ns]
    return max(before, key=lambda m: m[0])[1]


def test_teleoperated_demonstration_records_and_exports(tmp_path):
    config = graph_test_config(tmp_path, CONFIG_DIR / 'so100.yaml')
    ns = f'/teleop_{os.getpid()}'
    bringup = Bringup(['--config', config, '--fake-hardware', '--record', tmp_path / 'demos',
                       '--teleop-topic', 'leader/joint_states', '--namespace', ns,
                       '--duration', 10], tmp_path / 'bringup.log')
    try:
        assert wait_for(lambda: bringup.proc.poll() is not None, 120), bringup.output()
    finally:
        code = bringup.stop()
    out = bringup.output()
    assert code == 0, out[-3000:]
    # no policy, no executor: the person (here the scripted leader) drives the arm
    assert "exit codes: {'rollout_recorder': 0, 'fake_robot': 0}" in out, out[-3000:]
    (bag,) = [p for p in (tmp_path / 'demos').iterdir() if p.is_dir()]
    ds = tmp_path / 'dataset'
    assert export_dataset.main([str(bag), '--out', str(ds), '--config', str(config),
                                '--action-source', 'leader/joint_states',
                                '--task', 'wave the arm', '--max-age', '0.5']) == 0

    msgs = read_bag(bag)
    leader, joints = msgs[f'{ns}/leader/joint_states'], msgs[f'{ns}/joint_states']
    front = msgs[f'{ns}/cameras/front/image_raw/compressed']
    names = list(leader[0][1].name)
    data = pq.read_table(ds / 'data/chunk-000/file-000.parquet')
    prov = pq.read_table(ds / 'pi0fast/provenance/episode-000000.parquet').to_pydict()
    times = np.array(prov['frame_time_ns'])
    # frames every 1/30 s on the joint-state clock, from the first joint state on
    steps = (times - joints[0][0]) / (1e9 / FPS)
    np.testing.assert_allclose(steps, np.round(steps), atol=1e-3)
    assert data.num_rows == len(times) > 5 * FPS
    action = np.stack(data['action'].to_numpy(zero_copy_only=False))
    state = np.stack(data['observation.state'].to_numpy(zero_copy_only=False))
    with av.open(str(ds / 'videos/observation.images.front/chunk-000/file-000.mp4')) as c:
        video = [f.to_ndarray(format='rgb24') for f in c.decode(video=0)]
    assert len(video) == data.num_rows
    # so100 adapters are the identity: actions are the leader's positions, state the arm's
    for row in range(0, data.num_rows, 7):
        t = int(times[row])
        np.testing.assert_allclose(action[row], latest(leader, t).position, rtol=1e-6)
        js = latest(joints, t)
        np.testing.assert_allclose(state[row], [js.position[list(js.name).index(n)]
                                                for n in names], rtol=1e-6)
        jpeg = latest(front, t).data
        bgr = cv2.imdecode(np.frombuffer(bytes(jpeg), np.uint8), cv2.IMREAD_COLOR)
        error = np.abs(video[row].astype(int) - cv2.cvtColor(bgr, cv2.COLOR_BGR2RGB))
        assert error.mean() < 8.0, (row, error.mean())
    # the arm follows the leader: the recorded state moves as the actions do
    assert np.all(np.ptp(action, axis=0) > 1.0) and np.all(np.ptp(state, axis=0) > 1.0)
    (report,) = json.loads((ds / 'pi0fast/export_report.json').read_text())
    bag_report = report['bags'][0]
    assert bag_report['kept_frames'] + sum(bag_report['dropped'].values()) == \
        bag_report['grid_frames']
    assert bag_report['tasks'] == ['wave the arm']


def test_policy_rollout_exports_with_the_executor_commands(probe, tmp_path):
    # the whole graph (fake robot, recorder, executor, policy with a tiny scripted checkpoint)
    from rclpy.qos import QoSProfile, ReliabilityPolicy
    from std_msgs.msg import Float64MultiArray
    config = graph_test_config(tmp_path, CONFIG_DIR / 'so100.yaml')
    checkpoint = make_test_checkpoint(tmp_path / 'checkpoint', config)
    ns = f'/rollout_{os.getpid()}'
    bringup = Bringup(['--config', config, '--fake-hardware', '--checkpoint', checkpoint,
                       '--instruction', 'pick up the cube', '--record', tmp_path / 'rollouts',
                       '--namespace', ns], tmp_path / 'bringup.log')
    seen = probe.collect(Float64MultiArray, f'{ns}/joint_commands',
                         QoSProfile(depth=10, reliability=ReliabilityPolicy.BEST_EFFORT))
    try:
        # five seconds of commands once the policy runs (loading it may take a while here)
        assert wait_for(lambda: len(seen) >= 5 * FPS, 150), bringup.output()[-3000:]
    finally:
        bringup.stop()
    (bag,) = [p for p in (tmp_path / 'rollouts').iterdir() if p.is_dir()]
    ds = tmp_path / 'dataset'
    assert export_dataset.main([str(bag), '--out', str(ds), '--config', str(config),
                                '--max-age', '0.5']) == 0, bringup.output()[-3000:]
    # the executor's Float64MultiArray commands carry no header: each frame's action is the
    # last command received at or before the frame (so100's adapters are the identity)
    with AnyReader([bag], default_typestore=TYPESTORE) as reader:
        conns = [c for c in reader.connections if c.topic == f'{ns}/joint_commands']
        commands = [(t, np.array(reader.deserialize(raw, c.msgtype).data))
                    for c, t, raw in reader.messages(connections=conns)]
    episodes = pq.read_table(ds / 'meta/episodes/chunk-000/file-000.parquet').to_pylist()
    info = json.loads((ds / 'meta/info.json').read_text())
    assert info['total_frames'] == sum(e['length'] for e in episodes) >= FPS
    for e in episodes:
        index = e['episode_index']
        data = pq.read_table(ds / f'data/chunk-000/file-{index:03d}.parquet')
        prov = pq.read_table(ds / f'pi0fast/provenance/episode-{index:06d}.parquet')
        action = np.stack(data['action'].to_numpy(zero_copy_only=False))
        for row, t in enumerate(prov['frame_time_ns'].to_pylist()):
            np.testing.assert_allclose(action[row], latest(commands, t), rtol=1e-6)
        assert e['tasks'] == ['pick up the cube']
