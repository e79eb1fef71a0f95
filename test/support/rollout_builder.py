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

"""Builds rollout bags in memory for the rollout, plot and provenance tests."""

import cv2
import numpy as np
from pi0fast_ros.recording.bag_writer import RolloutBagWriter, TYPESTORE


T = TYPESTORE.types


NS = 1_000_000_000


T0 = 1_700_000_000 * NS


NAMES = ['j0', 'j1']


RATE = 30.0


def header(t_ns):
    return T['std_msgs/msg/Header'](stamp=T['builtin_interfaces/msg/Time'](
        sec=t_ns // NS, nanosec=t_ns % NS), frame_id='')


def status(t_ns, values):
    kvs = [T['diagnostic_msgs/msg/KeyValue'](key=k, value=str(v)) for k, v in values.items()]
    st = T['diagnostic_msgs/msg/DiagnosticStatus'](level=0, name='x', message='',
                                                   hardware_id='x', values=kvs)
    return T['diagnostic_msgs/msg/DiagnosticArray'](header=header(t_ns), status=[st])


def chunk_msg(stamp, positions):
    points = [T['trajectory_msgs/msg/JointTrajectoryPoint'](
        positions=np.asarray(row, np.float64), velocities=np.zeros(0),
        accelerations=np.zeros(0), effort=np.zeros(0),
        time_from_start=T['builtin_interfaces/msg/Duration'](
            sec=0, nanosec=int(round(i * NS / RATE)))) for i, row in enumerate(positions)]
    return T['trajectory_msgs/msg/JointTrajectory'](header=header(stamp), joint_names=NAMES,
                                                    points=points)


class RolloutBuilder:
    """Writes one synthetic rollout: 3 chunks, their chunk_info, ticks, commands, frames."""

    def __init__(self, path, drop=()):
        self.bag = RolloutBagWriter(path, {'pi0fast.instruction': 'wave',
                                           'pi0fast.config': '/**:\n  ros__parameters:\n'
                                           '    adapters: {chain: []}\n'})
        self.drop = set(drop)
        topics = {'/r/joint_states': 'sensor_msgs/msg/JointState',
                  '/r/joint_commands': 'std_msgs/msg/Float64MultiArray',
                  '/r/action_chunk': 'trajectory_msgs/msg/JointTrajectory',
                  '/r/executor_node/status': 'diagnostic_msgs/msg/DiagnosticArray',
                  '/r/policy_node/chunk_info': 'diagnostic_msgs/msg/DiagnosticArray',
                  '/r/cameras/front/image_raw/compressed': 'sensor_msgs/msg/CompressedImage'}
        for topic, msgtype in topics.items():
            self.bag.add_topic(topic, msgtype)

    def write(self, topic, t_ns, msg):
        if topic not in self.drop:
            self.bag.write_message(topic, t_ns, msg)

    def build(self, ticks=60):
        chunk_stamps = [T0 + k * NS // 2 for k in range(3)]       # a chunk every 0.5 s
        frame = cv2.imencode('.jpg', np.zeros((8, 8, 3), np.uint8))[1]
        for stamp in chunk_stamps:
            js = T['sensor_msgs/msg/JointState'](
                header=header(stamp), name=NAMES, position=np.array([0.0, 1.0]),
                velocity=np.zeros(0), effort=np.zeros(0))
            self.write('/r/joint_states', stamp + 1000, js)
            self.write('/r/cameras/front/image_raw/compressed', stamp + 2000,
                       T['sensor_msgs/msg/CompressedImage'](header=header(stamp - 5_000_000),
                                                            format='jpeg', data=frame))
            arrival = stamp + 100_000_000
            self.write('/r/action_chunk', arrival,
                       chunk_msg(stamp, [[i, -i] for i in np.arange(30) / 30]))
            self.write('/r/policy_node/chunk_info', arrival, status(stamp, {
                'status': 'ok', 'stamp_ns.joint_states': stamp, 'inference_ms': 80.0,
                'stamp_ns.observation.images.front': stamp - 5_000_000}))
        for k in range(ticks):
            t = T0 + 150_000_000 + k * NS // 30
            active = max(s for s in chunk_stamps if s + 100_000_000 <= t)
            state = 'holding' if k >= ticks - 5 else 'blending' if k % 15 < 3 else 'tracking'
            command = [0.5, -0.5] if state == 'holding' else [k / 100, -k / 100]
            text = ','.join(repr(float(v)) for v in command)
            self.write('/r/executor_node/status', t + 10_000, status(t, {
                'seq': k + 1, 'state': state, 'active_chunk_stamp_ns': active,
                'previous_chunk_stamp_ns': 0, 'blend_weight': 0.5 if state == 'blending' else 0,
                'hold_reason': 'policy_silent' if state == 'holding' else '',
                'joint_names': ','.join(NAMES), 'command': text}))
            self.write('/r/joint_commands', t + 20_000,
                       T['std_msgs/msg/Float64MultiArray'](
                           layout=T['std_msgs/msg/MultiArrayLayout'](dim=[], data_offset=0),
                           data=np.array(command)))
        self.bag.close()
        return chunk_stamps
