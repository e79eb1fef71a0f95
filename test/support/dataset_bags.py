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
Rollout bags written message by message for the dataset export tests, and a matching config.

Joint states at 100 Hz, headerless Float64MultiArray commands at 30 Hz and raw rgb8 frames of
two cameras at 30 Hz, every value a known function of time. Each frame shows its own number as
8 black / white stripes (bits, robust to lossy video) in the camera's colour, so a test can
tell which recorded frame a dataset frame holds.
"""

import numpy as np
from pi0fast_ros.recording.bag_writer import RolloutBagWriter, TYPESTORE

T = TYPESTORE.types
NS = 1_000_000_000
T0 = 1_700_000_000 * NS
JOINTS = ['j0', 'j1', 'j2']
WIDTH, HEIGHT = 96, 64
CAMERA_TINT = {'front': (1.0, 0.3, 0.3), 'wrist': (0.3, 0.3, 1.0)}
CONFIG = """\
/**:
  ros__parameters:
    action_joint_names: [j0, j1, j2]
    adapters:
      chain: [units]
      units: {type: scale_offset, scale: [2.0], offset: [1.0]}
/**/policy_node:
  ros__parameters:
    camera_slots: [front, wrist]
    camera_topics: [cameras/front/image_raw, cameras/wrist/image_raw]
"""


def write_config(path):
    """Write the test config (policy = 2 * robot + 1 on every joint) and return its path."""
    path.write_text(CONFIG)
    return path


def header(t_ns):
    return T['std_msgs/msg/Header'](stamp=T['builtin_interfaces/msg/Time'](
        sec=t_ns // NS, nanosec=t_ns % NS), frame_id='')


def joint_position(t_ns):
    """Robot joint positions at time t (robot units)."""
    s = (t_ns - T0) / NS
    return np.array([np.sin(s), 0.5 * s, -s])


def command_value(k):
    """Return the k-th command (robot units)."""
    return np.array([0.01 * k, -0.02 * k, 0.5])


def frame_image(number, camera):
    """uint8 [H, W, 3]: frame `number` as 8 bit stripes, tinted per camera."""
    bits = [(number >> b) & 1 for b in range(8)]
    stripes = np.repeat(np.array(bits, np.float64) * 200 + 30, WIDTH // 8)
    image = np.tile(stripes[None, :, None], (HEIGHT, 1, 3)) * np.array(CAMERA_TINT[camera])
    return image.astype(np.uint8)


def read_frame_number(rgb):
    """Inverse of frame_image on a (possibly lossy) copy: the stripes' bits."""
    grey = rgb.astype(np.float64).max(axis=2).mean(axis=0)
    stripes = grey.reshape(8, -1).mean(axis=1)
    return int(sum(1 << b for b, v in enumerate(stripes) if v > 100))


def raw_image(rgb, t_ns):
    return T['sensor_msgs/msg/Image'](header=header(t_ns), height=rgb.shape[0],
                                      width=rgb.shape[1], encoding='rgb8', is_bigendian=0,
                                      step=rgb.shape[1] * 3, data=rgb.reshape(-1))


def write_bag(path, seconds=2.0, instruction='pick the cube', cameras=('front', 'wrist'),
              camera_gap=None, joint_states=True, commands=True, leader=False, nan_command=None,
              instructions=(), config_text=None):
    """
    Write a rollout bag; returns {topic: [(t_ns, stamp_ns, value)]} of what it wrote.

    camera_gap: (start_s, stop_s) during which no frame is recorded (a stalled camera).
    leader: also record /leader/joint_states (a teleoperation leader arm), 50 Hz.
    nan_command: index of a command whose values are NaN (a broken executor).
    instructions: [(time_s, text)] published on /policy_node/active_instruction (the instruction
        the policy runs under) during the rollout.
    config_text: the config file text the recorder stores (pi0fast.config), if any.
    """
    meta = {'pi0fast.instruction': instruction}
    if config_text is not None:
        meta['pi0fast.config'] = config_text
    bag = RolloutBagWriter(path, meta)
    written = {}

    def put(topic, msgtype, t_ns, stamp, msg, value):
        if not bag.has_topic(topic):
            bag.add_topic(topic, msgtype)
        bag.write_message(topic, t_ns, msg)
        written.setdefault(topic, []).append((t_ns, stamp, value))

    events = []
    end = T0 + int(seconds * NS)
    if joint_states:
        events += [(t, 'js') for t in range(T0, end, NS // 100)]
    if commands:
        events += [(T0 + k * NS // 30 + 3_000_000, ('cmd', k))
                   for k in range(int(seconds * 30))]
    for k in range(int(seconds * 30)):
        t = T0 + k * NS // 30 + 1_000_000
        if camera_gap and camera_gap[0] <= (t - T0) / NS < camera_gap[1]:
            continue
        events += [(t, ('cam', c, k)) for c in cameras]
    if leader:
        events += [(t, 'leader') for t in range(T0, end, NS // 50)]
    events += [(T0 + int(s * NS), ('text', text)) for s, text in instructions]
    for t, what in sorted(events, key=lambda e: (e[0], str(e[1]))):
        received = t + 500_000
        if what == 'js':
            pos = joint_position(t)
            put('/joint_states', 'sensor_msgs/msg/JointState', received, t,
                T['sensor_msgs/msg/JointState'](header=header(t), name=JOINTS, position=pos,
                                                velocity=np.zeros(0), effort=np.zeros(0)), pos)
        elif what == 'leader':
            pos = joint_position(t) + 0.25
            put('/leader/joint_states', 'sensor_msgs/msg/JointState', received, t,
                T['sensor_msgs/msg/JointState'](header=header(t), name=JOINTS[::-1],
                                                position=np.ascontiguousarray(pos[::-1]),
                                                velocity=np.zeros(0), effort=np.zeros(0)), pos)
        elif what[0] == 'text':
            put('/policy_node/active_instruction', 'std_msgs/msg/String', t, 0,
                T['std_msgs/msg/String'](data=what[1]), what[1])
        elif what[0] == 'cmd':
            value = command_value(what[1]) * (np.nan if what[1] == nan_command else 1.0)
            put('/joint_commands', 'std_msgs/msg/Float64MultiArray', t, 0,
                T['std_msgs/msg/Float64MultiArray'](
                    layout=T['std_msgs/msg/MultiArrayLayout'](dim=[], data_offset=0),
                    data=value), value)
        else:
            _, camera, k = what
            rgb = frame_image(k % 256, camera)
            put(f'/cameras/{camera}/image_raw', 'sensor_msgs/msg/Image', received, t,
                raw_image(rgb, t), k)
    bag.close()
    return written
