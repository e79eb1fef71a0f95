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

"""fake_robot as a process with the real config files, driven over DDS by a probe node."""

import cv2
from diagnostic_msgs.msg import DiagnosticArray
from harness import CONFIG_DIR, wait_for
import numpy as np
import pytest
from sensor_msgs.msg import CompressedImage, Image, JointState
from std_msgs.msg import Float64MultiArray
from trajectory_msgs.msg import JointTrajectory, JointTrajectoryPoint
import yaml

pytestmark = pytest.mark.ros
MODULE = 'pi0fast_ros.nodes.fake_robot'
SO100 = ['shoulder_pan', 'shoulder_lift', 'elbow_flex', 'wrist_flex', 'wrist_roll', 'gripper']


def latest(received):
    return received[-1][1] if received else None


def wait_positions(states, predicate, timeout=20.0):
    """Wait until the newest joint state satisfies predicate(positions by name)."""
    def check():
        msg = latest(states)
        return msg is not None and predicate(dict(zip(msg.name, msg.position)))
    return wait_for(check, timeout)


def start_commanding(probe, msg_type, make_msg, period=0.05):
    pub = probe.publisher(msg_type, 'joint_commands')
    return probe.every(period, lambda: pub.publish(make_msg()))


def test_so100_follows_float64_commands_within_limits(spawn, probe):
    node = spawn(MODULE, params_file=CONFIG_DIR / 'so100.yaml')
    states = probe.collect(JointState, 'joint_states')
    assert wait_for(lambda: len(states) >= 5, 30), node.output()
    assert list(states[-1][1].name) == SO100
    target = [20.0, -30.0, 40.0, 150.0, -10.0, 80.0]    # wrist_flex beyond its 100 limit

    def command():
        return Float64MultiArray(data=target)

    start_commanding(probe, Float64MultiArray, command)
    expected = dict(zip(SO100, target), wrist_flex=100.0)
    assert wait_positions(states, lambda p: all(abs(p[k] - v) < 0.5
                                                for k, v in expected.items())), node.output()
    assert 'listening to joint_commands as std_msgs/msg/Float64MultiArray' in node.output()


def test_cameras_publish_raw_and_jpeg_frames_that_show_the_motion(spawn, probe):
    node = spawn(MODULE, params_file=CONFIG_DIR / 'so100.yaml')
    raw = probe.collect(Image, 'cameras/front/image_raw')
    jpeg = probe.collect(CompressedImage, 'cameras/front/image_raw/compressed')
    wrist = probe.collect(Image, 'cameras/wrist/image_raw')
    assert wait_for(lambda: len(raw) >= 3 and len(jpeg) >= 3 and wrist, 30), node.output()
    frame = latest(raw)
    assert (frame.encoding, frame.width, frame.height) == ('rgb8', 320, 240)
    # Both transports carry the same frames (same stamps), the JPEG decodes to the same picture.
    raw_stamps = {(m.header.stamp.sec, m.header.stamp.nanosec) for _, m in raw}
    assert any((m.header.stamp.sec, m.header.stamp.nanosec) in raw_stamps for _, m in jpeg)
    pixels = np.frombuffer(bytes(frame.data), np.uint8).reshape(240, 320, 3)
    before = pixels.copy()
    decoded = cv2.imdecode(np.frombuffer(bytes(latest(jpeg).data), np.uint8), cv2.IMREAD_COLOR)
    assert decoded.shape == (240, 320, 3)
    start_commanding(probe, Float64MultiArray,
                     lambda: Float64MultiArray(data=[0.0, 60.0, -60.0, 30.0, 0.0, 0.0]))
    count = len(raw)

    def changed():
        if len(raw) <= count:
            return False
        now = np.frombuffer(bytes(latest(raw).data), np.uint8).reshape(240, 320, 3)
        return np.abs(now.astype(int) - before).sum() > 1000
    assert wait_for(changed, 20), 'the front camera did not show the arm move'


def test_joint_trajectory_commands_by_name_with_the_type_forced(spawn, probe):
    node = spawn(MODULE, params_file=CONFIG_DIR / 'so100.yaml',
                 params={'command_type': 'joint_trajectory', 'time_constant_s': 0.0,
                         'position_noise_std': 0.0})
    states = probe.collect(JointState, 'joint_states')

    def command():
        msg = JointTrajectory(joint_names=['gripper', 'shoulder_pan'])
        msg.points = [JointTrajectoryPoint(positions=[55.0, -12.5])]
        return msg

    start_commanding(probe, JointTrajectory, command)
    assert wait_positions(states, lambda p: abs(p['gripper'] - 55.0) < 1e-6
                          and abs(p['shoulder_pan'] + 12.5) < 1e-6), node.output()


def test_reported_positions_jitter_but_the_arm_and_cameras_do_not(spawn, probe):
    # so100.yaml sets position_noise_std: readings scatter around the held pose, the rendered
    # arm stays put.
    config = yaml.safe_load((CONFIG_DIR / 'so100.yaml').read_text())
    std = config['/**/fake_robot']['ros__parameters']['position_noise_std']
    assert std > 0
    node = spawn(MODULE, params_file=CONFIG_DIR / 'so100.yaml', params={'time_constant_s': 0.0})
    states = probe.collect(JointState, 'joint_states')
    raw = probe.collect(Image, 'cameras/front/image_raw')
    pose = [10.0, -20.0, 30.0, -40.0, 50.0, 60.0]
    start_commanding(probe, Float64MultiArray, lambda: Float64MultiArray(data=pose))
    assert wait_positions(states, lambda p: all(abs(p[k] - v) < 1.0
                                                for k, v in zip(SO100, pose))), node.output()
    first, first_frame = len(states), len(raw)
    # skip the first readings: the arm may still be on its last step towards the pose
    assert wait_for(lambda: len(states) >= first + 320 and len(raw) >= first_frame + 6, 30)
    readings = np.array([m.position for _, m in list(states)[first + 20:first + 320]])
    error = readings - pose
    # 300 samples: the mean is within 4 standard errors, the std within 30 %
    assert np.all(np.abs(error.mean(axis=0)) < 4 * std / np.sqrt(300)), error.mean(axis=0)
    assert np.all(np.abs(error.std(axis=0) / std - 1.0) < 0.3), error.std(axis=0)
    frames = [bytes(m.data) for _, m in list(raw)[-3:]]
    assert frames[0] == frames[1] == frames[2]


def test_bad_commands_are_rejected_reported_and_the_arm_holds(spawn, probe):
    node = spawn(MODULE, params_file=CONFIG_DIR / 'so100.yaml',
                 params={'time_constant_s': 0.0, 'position_noise_std': 0.0})
    states = probe.collect(JointState, 'joint_states')
    diagnostics = probe.collect(DiagnosticArray, '/diagnostics')
    good = [5.0, 6.0, 7.0, 8.0, 9.0, 10.0]
    phase = {'bad': False}

    def command():
        # Good commands until the arm has reached them, then only NaN ones.
        return Float64MultiArray(data=[float('nan')] * 6 if phase['bad'] else good)

    start_commanding(probe, Float64MultiArray, command)
    assert wait_positions(states, lambda p: abs(p['wrist_roll'] - 9.0) < 1e-9), node.output()
    phase['bad'] = True

    def rejected():
        for _, msg in diagnostics:
            for status in msg.status:
                values = {kv.key: kv.value for kv in status.values}
                if status.hardware_id == 'fake_robot' and int(values.get('rejected', 0)) >= 5:
                    return values
        return None
    values = wait_for(rejected, 20)
    assert values and 'non-finite' in values['last_error'], node.output()
    assert dict(zip(latest(states).name, latest(states).position)) == dict(zip(SO100, good))


def test_aloha_config_renders_four_cameras_of_two_arms(spawn, probe):
    config = yaml.safe_load((CONFIG_DIR / 'aloha.yaml').read_text())
    cameras = config['/**/fake_robot']['ros__parameters']['cameras']
    node = spawn(MODULE, params_file=CONFIG_DIR / 'aloha.yaml')
    frames = {c: probe.collect(CompressedImage, f'cameras/{c}/image_raw/compressed')
              for c in cameras}
    states = probe.collect(JointState, 'joint_states')
    assert wait_for(lambda: all(frames.values()) and states, 30), node.output()
    assert len(latest(states).name) == 14
