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
The fake_robot node's parameters: one table (TABLE), validated into a frozen config.

Cameras are parallel lists (ROS parameter files have no lists of maps):

    cameras:      [front, wrist]      # topics <camera_topic_prefix>/<name>/image_raw[/compressed]
    camera_views: [side, wrist]       # side | front | top | wrist (see sim/arm_render.py)
    camera_arms:  []                  # per camera, the arm prefix it shows ('' = all); [] = all
"""

import dataclasses
import math

from ..params import check_values, Param, SHARED, StartupError, table
from ...sim.arm_render import ArmLayout, VIEWS
from ...sim.fake_arm import ArmLimits

COMMAND_TYPES = {
    'float64_multi_array': 'std_msgs/msg/Float64MultiArray',
    'joint_state': 'sensor_msgs/msg/JointState',
    'joint_trajectory': 'trajectory_msgs/msg/JointTrajectory',
}
ANGLE_UNITS = {'degrees': math.pi / 180.0, 'radians': 1.0}


@dataclasses.dataclass(frozen=True)
class Camera:
    """One rendered camera: its name (topic), view and the arm it shows (None = all)."""

    name: str
    view: str
    arm: object


@dataclasses.dataclass(frozen=True)
class FakeRobotConfig:
    """Validated fake_robot parameters (see TABLE for their meaning)."""

    joint_names: tuple
    limits: ArmLimits
    initial_positions: tuple
    time_constant_s: float
    joint_state_rate_hz: float
    position_noise_std: float
    noise_seed: int
    camera_rate_hz: float
    cameras: tuple
    camera_topic_prefix: str
    image_size: tuple
    jpeg_quality: int
    command_type: str          # 'auto' or a ROS type name
    layout: ArmLayout
    leader_topic: str          # '' = no scripted teleoperation leader


_S, _D = 'str_list', 'float_list'
# Every one is read-only (a restart applies it).
TABLE = table(
    Param('joint_names', _S, (), 'Joints of the fake arm, in the order of a Float64MultiArray '
          'command; [] = action_joint_names.'),
    SHARED['action_joint_names'].describe('Names of the action vector (shared /** key); the '
                                          'default joint_names.'),
    Param('position_min', _D, (), 'Lower position limit per joint (joint units); [] = '
          'unlimited.'),
    Param('position_max', _D, (), 'Upper position limit per joint; [] = unlimited.'),
    Param('max_velocity', _D, (), 'Speed limit per joint (units/s); [] = unlimited.'),
    Param('initial_positions', _D, (), 'Start pose; [] = the middle of each joint range.'),
    Param('time_constant_s', 'float', 0.08, 'First-order lag of the servos towards the '
          'commanded position (s).', (0.0, 10.0)),
    Param('command_type', 'str', 'auto', 'joint_commands type: auto (whatever the executor '
          'publishes), float64_multi_array, joint_state or joint_trajectory.'),
    Param('joint_state_rate_hz', 'float', 100.0, 'joint_states publish rate.', (1.0, 1000.0)),
    Param('position_noise_std', 'float', 0.0, 'Standard deviation of the Gaussian noise on the '
          'reported positions (joint units), like encoder jitter; the arm and the cameras are '
          'not affected. 0 = exact readings.', (0.0, 100.0)),
    Param('noise_seed', 'int', 0, 'Seed of that noise (runs are repeatable).', (0, 2**31 - 1)),
    Param('camera_rate_hz', 'float', 30.0, 'Camera frame rate.', (0.1, 120.0)),
    Param('cameras', _S, (), 'Camera names; each publishes <prefix>/<name>/image_raw (Image) '
          'and .../compressed (JPEG).'),
    Param('camera_views', _S, (), f'View per camera: {list(VIEWS)}.'),
    Param('camera_arms', _S, (), 'Arm prefix shown per camera ("" = all arms); [] = all arms '
          'everywhere.'),
    Param('camera_topic_prefix', 'str', 'cameras', 'Namespace of the camera topics '
          '(relative).'),
    Param('image_width', 'int', 320, 'Frame width (px).', (32, 4096)),
    Param('image_height', 'int', 240, 'Frame height (px).', (32, 4096)),
    Param('jpeg_quality', 'int', 80, 'JPEG quality of the compressed topics.', (1, 100)),
    Param('leader_topic', 'str', '', 'Play a scripted teleoperation leader arm: publish its '
          'JointState on this topic and follow it, ignoring joint_commands ("" = off; e.g. '
          'leader/joint_states).'),
    Param('render.arm_prefixes', _S, (), 'Joint-name prefix of each drawn arm, e.g. [left_, '
          'right_]; [] = one arm, no prefix.'),
    Param('render.yaw_joint', 'str', ArmLayout.yaw_joint, 'Base yaw joint (suffix after the arm '
          'prefix).'),
    Param('render.pitch_joints', _S, (), 'Shoulder, elbow, wrist pitch joints; [] = SO-100 '
          'names.'),
    Param('render.roll_joint', 'str', ArmLayout.roll_joint, 'Wrist roll joint ("" = none).'),
    Param('render.gripper_joint', 'str', ArmLayout.gripper_joint, 'Gripper joint ("" = '
          'none).'),
    Param('render.angle_unit', 'str', 'degrees', 'Unit of the arm joints: degrees or radians.'),
    Param('render.gripper_range', _D, (), '[closed, open] gripper values; [] = [0.0, 100.0].'),
)


def _layout(values):
    if values['angle_unit'] not in ANGLE_UNITS:
        raise StartupError(f'render.angle_unit {values["angle_unit"]!r}: use degrees or radians')
    pitch = tuple(values['pitch_joints'] or ArmLayout().pitch_joints)
    grip = tuple(values['gripper_range'] or ArmLayout().gripper_range)
    if len(pitch) > 3 or len(grip) != 2:
        raise StartupError('render.pitch_joints takes at most 3 names and render.gripper_range '
                           'exactly 2 values')
    return ArmLayout(tuple(values['arm_prefixes'] or ('',)), values['yaw_joint'], pitch,
                     values['roll_joint'], values['gripper_joint'],
                     ANGLE_UNITS[values['angle_unit']], grip)


def _cameras(values, layout):
    names = list(values['cameras'] or [])
    views, arms = list(values['camera_views'] or []), list(values['camera_arms'] or [])
    if len(views) != len(names) or (arms and len(arms) != len(names)):
        raise StartupError(f'cameras has {len(names)} entries: give as many camera_views '
                           f'({len(views)} given) and camera_arms ({len(arms)} given, or none)')
    cameras = []
    for i, (name, view) in enumerate(zip(names, views)):
        arm = arms[i] if arms and arms[i] else None
        if not name or view not in VIEWS:
            raise StartupError(f'camera {i}: name {name!r} view {view!r}; views are {VIEWS}')
        if arm is not None and arm not in layout.arm_prefixes:
            raise StartupError(f'camera_arms[{i}] {arm!r} is not in render.arm_prefixes '
                               f'{list(layout.arm_prefixes)}')
        cameras.append(Camera(name, view, arm))
    if len({c.name for c in cameras}) != len(cameras):
        raise StartupError(f'camera names must be unique: {names}')
    return tuple(cameras)


def validate(values):
    """
    Check the fake_robot's parameter values; return a FakeRobotConfig or raise StartupError.

    values: {name: value} for TABLE's names (missing ones take the table's default).
    """
    v = {name.replace('render.', ''): value
         for name, value in check_values(TABLE, values).items()}
    names = tuple(v['joint_names'] or v['action_joint_names'] or ())
    if not names:
        raise StartupError('joint_names and action_joint_names are both empty: set '
                           'action_joint_names in the /** section of the config file')
    if v['command_type'] != 'auto' and v['command_type'] not in COMMAND_TYPES:
        raise StartupError(f'command_type {v["command_type"]!r}: use auto or one of '
                           f'{list(COMMAND_TYPES)}')
    try:
        limits = ArmLimits.build(len(names), v['position_min'] or (), v['position_max'] or (),
                                 v['max_velocity'] or ())
    except ValueError as exc:
        raise StartupError(f'fake_robot limits: {exc}') from None
    layout = _layout(v)
    return FakeRobotConfig(
        joint_names=names, limits=limits, initial_positions=tuple(v['initial_positions'] or ()),
        time_constant_s=v['time_constant_s'], joint_state_rate_hz=v['joint_state_rate_hz'],
        position_noise_std=v['position_noise_std'], noise_seed=v['noise_seed'],
        camera_rate_hz=v['camera_rate_hz'], cameras=_cameras(v, layout),
        camera_topic_prefix=v['camera_topic_prefix'],
        image_size=(v['image_width'], v['image_height']), jpeg_quality=v['jpeg_quality'],
        command_type=COMMAND_TYPES.get(v['command_type'], 'auto'), layout=layout,
        leader_topic=v['leader_topic'].strip())
