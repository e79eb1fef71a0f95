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
What a dataset export reads: the embodiment (config file) and one bag's timed streams.

The embodiment comes from the same config file the graph ran with: action_joint_names, the
adapter chain (robot <-> policy space), the policy node's camera slots and topics, and
state_joint_names (default: the robot-side order of action_joint_names, as the policy node).

Streams of a bag, each sorted by time and in the policy's space:
- 'observation.state': joint_states (header stamps), reordered to state_joint_names and mapped
  with the adapters' state_to_policy, as the policy node builds its state;
- 'action': the executor's joint_commands (robot space, the executor's joint order) mapped back
  with robot_to_action; or, for demonstrations, a JointState topic (the leader arm) by name,
  mapped the same way. A headerless command (Float64MultiArray) is timed by its reception;
- 'observation.images.<slot>': the camera topic the policy node reads for that slot, or its
  `/compressed` twin (what the recorder keeps by default), timed by header stamp.
"""

import dataclasses

import numpy as np
from rosbags.highlevel import AnyReader

from .bag_writer import TYPESTORE
from .dataset_frames import sort_stream, Stream
from .rollout import IMAGE_TYPES, stamp_ns
from ..core.control.adapter_chain import build_adapter_chain, load_adapter_spec

IMAGE_PREFIX = 'observation.images.'


class ExportError(ValueError):
    """The input cannot be exported as asked; the message says which bag and why."""


@dataclasses.dataclass
class Embodiment:
    """What the config file says about the robot (see the module docstring)."""

    action_names: tuple       # policy order
    robot_names: tuple        # executor command order (robot side)
    state_names: tuple        # joint_states names forming the state (robot side)
    chain: object             # AdapterChain
    cameras: dict             # feature key -> camera topic (relative)
    adapter_spec: dict = dataclasses.field(default_factory=dict)

    def meaning(self):
        """Return what decides the numbers of state and action: names and the adapter spec."""
        return (self.action_names, self.robot_names, self.state_names, self.adapter_spec)


def _section(doc, node):
    for key in (f'/**/{node}', node, f'/{node}'):
        if isinstance(doc.get(key), dict):
            return doc[key].get('ros__parameters') or {}
    return {}


def read_embodiment(config_file):
    """Read an Embodiment from a ROS 2 parameters file (config/<robot>.yaml)."""
    import yaml
    with open(config_file, encoding='utf-8') as f:
        doc = yaml.safe_load(f) or {}
    shared = (doc.get('/**') or {}).get('ros__parameters') or {}
    policy = _section(doc, 'policy_node')
    names = tuple(policy.get('action_joint_names') or shared.get('action_joint_names') or ())
    if not names:
        raise ExportError(f'{config_file}: no action_joint_names')
    spec = load_adapter_spec(config_file, 'policy_node')
    chain = build_adapter_chain(spec, names)
    robot = tuple(chain.robot_names(names))
    slots = list(policy.get('camera_slots') or [])
    topics = list(policy.get('camera_topics') or [])
    if len(slots) != len(topics):
        raise ExportError(f'{config_file}: camera_slots and camera_topics differ in length')
    cameras = {(s if s.startswith(IMAGE_PREFIX) else IMAGE_PREFIX + s): t.strip('/')
               for s, t in zip(slots, topics)}
    state = tuple(policy.get('state_joint_names') or robot)
    return Embodiment(names, robot, state, chain, cameras, spec)


def check_recorded_config(rollout, emb, bag):
    """Refuse a bag recorded with a config whose joints or adapters differ from emb's."""
    import tempfile

    import yaml
    text = str(rollout.metadata.get('pi0fast.config') or '')
    if not text.strip():
        return
    with tempfile.NamedTemporaryFile('w', suffix='.yaml') as f:
        f.write(text)
        f.flush()
        try:
            recorded = read_embodiment(f.name)
        except (ValueError, KeyError, TypeError, AttributeError, yaml.YAMLError):
            return      # not a config this exporter reads; nothing to compare against
    if recorded.meaning() != emb.meaning():
        raise ExportError(
            f'{bag}: recorded with a config whose joints or adapters differ from --config '
            f'(recorded: {recorded.action_names}, adapters {recorded.adapter_spec}; given: '
            f'{emb.action_names}, adapters {emb.adapter_spec}); the actions would change '
            'meaning: pass the config the bag was recorded with')


def _by_name(names, wanted, what, bag, topic):
    missing = [n for n in wanted if n not in names]
    if missing:
        raise ExportError(f'{bag}: {topic} has no joints {missing} for the {what} '
                          f'(it names {list(names)})')
    return [list(names).index(n) for n in wanted]


def _find_topic(topics, relative, bag, what):
    """Return the recorded topic named /relative in the shallowest namespace, or None."""
    hits = [t for t in topics if t.strip('/') == relative or t.endswith('/' + relative)]
    depth = min((t.count('/') for t in hits), default=0)
    hits = [t for t in hits if t.count('/') == depth]     # /ns/x before /ns/leader/x
    if len(hits) > 1:
        raise ExportError(f'{bag}: {what}: several topics match {relative!r}: {hits}')
    return hits[0] if hits else None


def _joint_rows(reader, topic, bag):
    """(stamps [N], names, positions [N, D]) of a JointState topic, in bag order."""
    conns = [c for c in reader.connections if c.topic == topic]
    stamps, names, rows = [], None, []
    for conn, _, raw in reader.messages(connections=conns):
        msg = reader.deserialize(raw, conn.msgtype)
        if names is None:
            names = tuple(msg.name)
        elif tuple(msg.name) != names:
            raise ExportError(f'{bag}: {topic} changes its joint names mid-bag')
        stamps.append(stamp_ns(msg.header))
        rows.append(np.asarray(msg.position, np.float64))
    return np.array(stamps, np.int64), names or (), np.array(rows)


def _check_finite(values, topic, bag):
    bad = ~np.all(np.isfinite(values), axis=1)
    if bad.any():
        raise ExportError(f'{bag}: {topic} message {int(np.argmax(bad))} (of {int(bad.sum())}) '
                          f'holds non-finite or missing values: {values[np.argmax(bad)].tolist()}')


def _check_inverse(emb, robot, policy, bag):
    back = emb.chain.action_to_robot(policy)
    bad = ~np.all(np.isclose(back, robot, rtol=1e-6, atol=1e-6), axis=1)
    if bad.any():
        raise ExportError(
            f'{bag}: the adapters {emb.chain} do not invert {int(bad.sum())} recorded commands '
            f'(e.g. {robot[np.argmax(bad)].tolist()}); refusing to guess the policy actions')


def _command_stream(rollout, emb, bag):
    cmds = rollout.commands
    topic = next((t for t in rollout.topics if t.endswith('/joint_commands')), 'joint_commands')
    if not len(cmds):
        raise ExportError(f'{bag}: no joint_commands recorded: nothing to take actions from '
                          '(a teleoperated demonstration needs --action-source TOPIC)')
    values = cmds.values
    if cmds.names:
        values = values[:, _by_name(cmds.names, emb.robot_names, 'actions', bag, topic)]
    elif values.shape[1] != len(emb.robot_names):
        raise ExportError(f'{bag}: joint_commands have {values.shape[1]} values, the config '
                          f'has {len(emb.robot_names)} joints')
    headered = bool(np.all(cmds.stamp_ns > 0))
    times = cmds.stamp_ns if headered else cmds.t_ns
    return topic, times, values, 'header' if headered else 'received'


def read_streams(bag, rollout, emb, action_source='commands'):
    """{name: (Stream, order)} of one bag, in the policy's space; see the module docstring."""
    topics = rollout.topics
    source = None if action_source == 'commands' else action_source.strip('/')
    if source is not None:
        source = _find_topic(list(topics), source, bag, 'action source')
        if source is None:
            raise ExportError(f'{bag}: action source {action_source} was not recorded '
                              f'(topics: {sorted(topics)})')
    # the robot's joint_states (never the action source, a leader arm's joint_states)
    js_topic = _find_topic([t for t, ty in topics.items()
                            if ty.endswith('JointState') and t != source],
                           'joint_states', bag, 'joint states')
    if js_topic is None:
        raise ExportError(f'{bag}: no joint_states recorded: there is no state to export')
    with AnyReader([bag], default_typestore=TYPESTORE) as reader:
        js_stamps, js_names, js_rows = _joint_rows(reader, js_topic, bag)
        rows = _joint_rows(reader, source, bag) if source else None
    if not len(js_stamps):
        raise ExportError(f'{bag}: no joint_states recorded: there is no state to export')
    state = js_rows[:, _by_name(js_names, emb.state_names, 'state', bag, js_topic)]
    _check_finite(state, js_topic, bag)
    streams = {'observation.state': Stream(js_topic, js_stamps,
                                           emb.chain.state_to_policy(state))}
    if action_source == 'commands':
        topic, times, robot, clock = _command_stream(rollout, emb, bag)
    else:
        topic, (times, names, values) = source, rows
        if not len(times):
            raise ExportError(f'{bag}: action source {topic} has no messages')
        robot, clock = values[:, _by_name(names, emb.robot_names, 'actions', bag, topic)], \
            'header'
    _check_finite(robot, topic, bag)
    policy = emb.chain.robot_to_action(robot)
    _check_inverse(emb, robot, policy, bag)
    streams['action'] = Stream(topic, times, policy, clock)
    for key, relative in emb.cameras.items():
        streams[key] = _camera_stream(rollout, key, relative, bag)
    return {name: sort_stream(s) for name, s in streams.items()}


def _camera_stream(rollout, key, relative, bag):
    images = {t: s for t, s in rollout.images.items() if rollout.topics[t] in IMAGE_TYPES}
    topic = _find_topic(images, relative, bag, key) or \
        _find_topic(images, relative + '/compressed', bag, key)
    if topic is None or not len(images[topic]):
        raise ExportError(f'{bag}: camera {key} ({relative} or {relative}/compressed) has no '
                          f'frames in this bag (image topics: {sorted(images)})')
    return Stream(topic, images[topic].stamp_ns)


def task_timeline(rollout, bag, fallback=''):
    """
    Return (times_ns, task ids, texts): the instruction in force from each time on.

    The rollout's instruction messages (reception time) in order; before the first one, the
    bag's metadata instruction, else fallback (--task); one task for a bag without messages.
    """
    start = str(rollout.metadata.get('pi0fast.instruction') or '').strip() or fallback
    changes = [(int(t), text.strip()) for t, text in rollout.instructions if text.strip()]
    if not changes:
        return [np.iinfo(np.int64).min], [0], [task_of(rollout, bag, fallback)]
    if start:
        changes.insert(0, (int(np.iinfo(np.int64).min), start))
    texts = list(dict.fromkeys(text for _, text in changes))
    return [t for t, _ in changes], [texts.index(text) for _, text in changes], texts


def task_of(rollout, bag, fallback=''):
    """Return the episode's task: the instruction (metadata, else the last message)."""
    text = str(rollout.metadata.get('pi0fast.instruction') or '').strip()
    if not text and rollout.instructions:
        text = rollout.instructions[-1][1].strip()
    text = text or fallback
    if not text:
        raise ExportError(f'{bag}: no instruction recorded; pass --task to name the task')
    return text
