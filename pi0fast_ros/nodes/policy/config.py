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
The policy node's parameters: one table (TABLE), validated once into a frozen config.

The node declares TABLE (description, range, read-only where a change would need a restart) and
passes the values to `validate(values)`, which returns a PolicyNodeConfig or raises
StartupError naming the parameter and what is wrong with it. max_input_age_s and
inference_period_s can change at run time: the node reads them live, the config has neither.

The camera mapping is three parallel lists, because ROS parameter files have no maps and
checkpoint camera keys contain dots:

    camera_slots:      [front, wrist]                      # checkpoint image keys
    camera_topics:     [cameras/front/image_raw, cameras/wrist/image_raw/compressed]
    camera_transports: [raw, compressed]                   # or [] to infer from the topic

A slot name may omit LeRobot's `observation.images.` prefix.
"""

import dataclasses
import os

from ..params import check_values, Param, SHARED, StartupError, table
from ...core.control.envelope import SOURCES
from ...core.model.engine import MODE_CHOICES as ENGINE_MODES  # resolved by resolve_mode

IMAGE_PREFIX = 'observation.images.'
TRANSPORTS = ('raw', 'compressed')
DTYPES = ('auto', 'float32', 'bfloat16')
LEROBOT_VERSIONS = ('auto', '0.4', '0.5')
IMAGE_BACKENDS = ('auto', 'cv_bridge', 'rosbags-image')
LIVE = ('max_input_age_s', 'inference_period_s')


@dataclasses.dataclass(frozen=True)
class CameraInput:
    """One camera topic feeding one checkpoint image slot."""

    slot: str             # as configured; resolve_slots() maps it to the checkpoint key
    topic: str
    compressed: bool


@dataclasses.dataclass(frozen=True)
class PolicyNodeConfig:
    """Validated policy_node parameters (see read_config for their meaning)."""

    checkpoint_path: str
    fast_tokenizer_path: str
    text_tokenizer_path: str
    device: str
    dtype: str
    engine_mode: str
    lerobot_version: str
    allow_download: bool
    cameras: tuple
    state_joint_names: tuple
    ignore_extra_joints: bool
    action_joint_names: tuple
    action_rate_hz: float
    max_decoding_steps: int
    stop_at_end_marker: bool
    warmup: bool
    instruction: str
    max_instruction_chars: int
    image_backend: str
    diagnostics_period_s: float
    torch_threads: int
    realtime_priority: int
    envelope_margin: float
    envelope_stats: str


def parse_cameras(slots, topics, transports):
    """Build CameraInputs from the three parallel lists; raise StartupError when they clash."""
    slots, topics, transports = list(slots or []), list(topics or []), list(transports or [])
    if len(topics) != len(slots):
        raise StartupError(f'camera_topics has {len(topics)} entries but camera_slots has '
                           f'{len(slots)}: give one topic per slot ("" masks a slot)')
    if transports and len(transports) != len(slots):
        raise StartupError(f'camera_transports has {len(transports)} entries but camera_slots '
                           f'has {len(slots)}: give one per slot, or none to infer from topics')
    if len(set(slots)) != len(slots):
        raise StartupError(f'camera_slots has duplicates: {slots}')
    cameras = []
    for i, (slot, topic) in enumerate(zip(slots, topics)):
        transport = transports[i] if transports else (
            'compressed' if topic.rstrip('/').endswith('/compressed') else 'raw')
        if transport not in TRANSPORTS:
            raise StartupError(f'camera_transports[{i}] is {transport!r}; use one of '
                               f'{list(TRANSPORTS)}')
        if not slot:
            raise StartupError(f'camera_slots[{i}] is empty')
        cameras.append(CameraInput(slot, topic, transport == 'compressed'))
    return tuple(cameras)


def resolve_slots(cameras, checkpoint_slots):
    """
    Match configured cameras to the checkpoint's image slots.

    Returns (inputs, masked): inputs maps checkpoint slot -> CameraInput for every slot with a
    topic; masked lists the checkpoint slots with no topic (the policy masks them as LeRobot
    does). Raises StartupError for a configured slot the checkpoint does not have, a slot
    configured twice, or no camera at all.
    """
    known = list(checkpoint_slots)
    inputs = {}
    for cam in cameras:
        key = cam.slot if cam.slot in known else IMAGE_PREFIX + cam.slot
        if key not in known:
            raise StartupError(f'camera slot {cam.slot!r} is not in the checkpoint; its image '
                               f'slots are {known}')
        if key in inputs or any(c.slot == key for c in inputs.values()):
            raise StartupError(f'checkpoint slot {key!r} is configured twice in camera_slots')
        if cam.topic:
            inputs[key] = cam
    masked = [k for k in known if k not in inputs]
    if not inputs:
        raise StartupError(f'no camera topic configured: set camera_slots/camera_topics for at '
                           f'least one of the checkpoint slots {known}')
    return inputs, masked


def check_device(device):
    """Raise StartupError unless torch can run on `device` here."""
    import torch
    try:
        dev = torch.device(device)
    except RuntimeError as exc:
        raise StartupError(f'device {device!r} is not a torch device: {exc}') from None
    if dev.type == 'cuda':
        if not torch.cuda.is_available():
            raise StartupError(f'device {device!r}: CUDA is not available on this machine')
        if dev.index is not None and dev.index >= torch.cuda.device_count():
            raise StartupError(f'device {device!r}: only {torch.cuda.device_count()} CUDA '
                               f'device(s) here')
    elif dev.type == 'mps':
        if not torch.backends.mps.is_available():
            raise StartupError(f'device {device!r}: MPS is not available on this machine')
    elif dev.type != 'cpu':
        raise StartupError(f'device {device!r}: use cpu, cuda, cuda:N or mps')


def _check_dir(name, path, required):
    if not path:
        if required:
            raise StartupError(
                f'{name} is required (a LeRobot pi0_fast checkpoint directory): pass '
                f'checkpoint:=DIR to ros2 launch (--checkpoint DIR to pi0fast-bringup), or set '
                f'{name} in the policy_node section of the config file')
        return ''
    path = os.path.expanduser(path)
    if not os.path.isdir(path):
        raise StartupError(f'{name} {path!r} is not a directory')
    return path


def _strings(value):
    return tuple(value or ())


TABLE = table(
    Param('checkpoint_path', 'str', '', 'LeRobot pi0_fast checkpoint directory (config.json, '
          'model.safetensors, pre/postprocessor files).'),
    Param('fast_tokenizer_path', 'str', '', 'FAST action tokenizer directory; "" = the policy '
          'default (<checkpoint>/fast_tokenizer, then the hub id in config.json).'),
    Param('text_tokenizer_path', 'str', '', 'PaliGemma tokenizer directory; "" = the policy '
          'default (<checkpoint>/text_tokenizer, then the hub cache).'),
    Param('device', 'str', 'cpu', 'torch device: cpu, cuda, cuda:N or mps.'),
    Param('dtype', 'str', 'auto', 'Model dtype: auto (as the checkpoint config), float32 or '
          'bfloat16.'),
    Param('engine_mode', 'str', 'auto', 'Decoding engine: auto (compact on CPU, static + CUDA '
          'graph on CUDA), exact (LeRobot 0.4.4 bit for bit), compact or static.'),
    Param('lerobot_version', 'str', 'auto', 'LeRobot semantics of the checkpoint: auto (from '
          'what the files prove; logged with the reason), 0.4 (0.4.x) or 0.5 (0.5.0 .. 0.6.x; '
          "needed for 0.5.0 checkpoints, whose files look like 0.4.4's)."),
    Param('allow_download', 'bool', False, 'Download a tokenizer that config.json names by hub '
          'id when it is neither in the checkpoint nor in the HF cache (false: never reach the '
          'network).'),
    Param('camera_slots', 'str_list', (), 'Checkpoint image slots fed by a topic, e.g. [front, '
          'wrist] (prefix observation.images. optional).'),
    Param('camera_topics', 'str_list', (), 'One topic per camera_slots entry; "" masks that '
          'slot.'),
    Param('camera_transports', 'str_list', (), 'raw (sensor_msgs/Image) or compressed '
          '(CompressedImage) per slot; [] = compressed iff the topic ends in /compressed.'),
    Param('state_joint_names', 'str_list', (), 'joint_states names forming the robot state, in '
          'order; [] = action_joint_names (in the robot-side order of the adapters).'),
    Param('ignore_extra_joints', 'bool', False, 'Accept joint_states that also carry joints '
          'not in state_joint_names (by default they are rejected).'),
    SHARED['action_joint_names'],
    SHARED['action_rate_hz'],
    # Not read-only: the worker reads the live values before each inference (node._settings).
    Param('max_input_age_s', 'float', 0.5, 'Inputs whose header stamp is older than this (ROS '
          'time) are stale: no inference runs on them.', (0.001, 60.0), read_only=False),
    Param('inference_period_s', 'float', 0.0, 'Start an inference every this many seconds; '
          '0 = back to back (each on a newer joint state).', (0.0, 60.0), read_only=False),
    Param('max_decoding_steps', 'int', 0, 'Token budget per chunk; 0 = max_decoding_steps of '
          'the checkpoint config.', (0, 4096)),
    Param('stop_at_end_marker', 'bool', True, 'Stop decoding at "|" (false: always decode '
          'max_decoding_steps tokens, as LeRobot 0.4.4 does).'),
    Param('warmup', 'bool', True, 'Run warm-up inferences before going ready.'),
    Param('instruction', 'str', '', 'Task instruction (also settable on ~/instruction). Empty '
          'at start-up = wait for one; setting it empty is refused.', read_only=False),
    Param('max_instruction_chars', 'int', 1000, 'Refuse a longer instruction before it is '
          'tokenized (the tokenizer_max_length of the checkpoint still bounds the prompt).',
          (1, 1_000_000)),
    Param('image_backend', 'str', 'auto', 'Image conversion: auto (cv_bridge if installed, '
          'else rosbags-image), cv_bridge or rosbags-image.'),
    Param('torch_threads', 'int', 0, 'torch intra-op CPU threads; 0 = torch default (all '
          'cores). 1 is much faster on a small machine shared with other busy processes.',
          (0, 1024)),
    SHARED['realtime_priority'].describe(
        'SCHED_FIFO priority (1-99) of the worker thread while it converts inputs, '
        'preprocesses and publishes, and of the camera conversion threads; the model forward '
        'always runs at normal priority. 0: normal scheduling. Needs CAP_SYS_NICE or an rtprio '
        'limit (warns and runs without).'),
    SHARED['diagnostics_period_s'],
    SHARED['envelope_margin'].describe('Fraction of the data range (checkpoint stats) added on '
                                       'each side of the state and action envelopes.'),
    Param('envelope_stats', 'str', 'auto', 'Statistics bounding the envelopes: auto (min/max, '
          'else q01/q99), minmax, quantiles, or none (no envelope).'),
)


def validate(values):
    """
    Check the policy node's parameter values; return a PolicyNodeConfig or raise StartupError.

    values: {name: value} for TABLE's names (missing ones take the table's default). Checks the
    directories exist and torch can use the device, as the node needs both.
    """
    v = check_values(TABLE, values)
    v['checkpoint_path'] = _check_dir('checkpoint_path', v['checkpoint_path'], True)
    for key in ('fast_tokenizer_path', 'text_tokenizer_path'):
        v[key] = _check_dir(key, v[key], False)
    check_device(v['device'])
    for key, choices in (('dtype', DTYPES), ('engine_mode', ENGINE_MODES),
                         ('lerobot_version', LEROBOT_VERSIONS), ('envelope_stats', SOURCES)):
        if v[key] not in choices:
            raise StartupError(f'{key} {v[key]!r}: use one of {list(choices)}')
    if v['image_backend'] not in IMAGE_BACKENDS:
        raise StartupError(f'image_backend {v["image_backend"]!r}: use auto, cv_bridge or '
                           f'rosbags-image')
    if not v['action_joint_names']:
        raise StartupError('action_joint_names is empty: set it in the /** section of the '
                           'config file (the names of the action vector of the policy)')
    for key in ('state_joint_names', 'action_joint_names'):
        names = v[key]
        if len(set(names)) != len(names) or not all(names):  # [] is allowed for state
            raise StartupError(f'{key} must be unique, non-empty names: {list(names)}')
    cameras = parse_cameras(v.pop('camera_slots'), v.pop('camera_topics'),
                            v.pop('camera_transports'))
    for key in LIVE:     # read live by the node, never from the frozen config
        del v[key]
    return PolicyNodeConfig(cameras=cameras, **v)
