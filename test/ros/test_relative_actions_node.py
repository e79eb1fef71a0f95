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
A LeRobot 0.6 relative-actions checkpoint through the nodes: the arm gets absolute targets.

fake_robot + executor_node + policy_node (config/so100.yaml) as separate processes over DDS, on
a tiny scripted checkpoint whose model always predicts the same relative chunk D (LeRobot 0.6
layout: relative_actions_processor, absolute_actions_processor, untied head, gripper
excluded). Every published chunk must be D + the joint state of its stamp on the five arm
joints and D itself on the gripper; the executor's commands must follow those absolute chunks,
so the arm moves by D from wherever it is instead of jumping to the deltas.
"""

import json

from graph_checks import graph_test_config, GraphChecks
from harness import CONFIG_DIR, wait_for
import numpy as np
from pi0fast_ros.testing.random_checkpoint import make_random_checkpoint
import pytest
import yaml

pytestmark = pytest.mark.ros
SO100 = CONFIG_DIR / 'so100.yaml'
WALL_TIMEOUT = 240.0
START = [40.0, -35.0, 30.0, -25.0, 20.0, 50.0]


def _relative_checkpoint(out_dir, config):
    doc = yaml.safe_load(config.read_text())
    names = doc['/**']['ros__parameters']['action_joint_names']
    slots = doc['/**/policy_node']['ros__parameters']['camera_slots']
    dim = len(names)
    # Deltas of a few units; the state statistics span the arm's range.
    stats = {'action': {'mean': np.zeros(dim), 'std': np.full(dim, 4.0)},
             'observation.state': {'mean': np.zeros(dim), 'std': np.full(dim, 30.0)}}
    path = make_random_checkpoint(
        out_dir, seed=0, cameras=tuple(slots), state_dim=dim, action_dim=dim,
        chunk_size=round(doc['/**']['ros__parameters']['action_rate_hz']), scripted=True,
        stats=stats, lerobot_version='0.6', relative_actions=True,
        action_names=[f'{n}.pos' for n in names])
    deltas = np.asarray(json.loads((path / 'scripted_output.json').read_text())['actions'])
    return path, names, deltas


def test_relative_chunks_are_published_absolute_and_drive_the_arm(spawn, probe, tmp_path):
    config = graph_test_config(tmp_path, SO100)
    checkpoint, names, deltas = _relative_checkpoint(tmp_path / 'ckpt', config)
    namespace = '/relative_graph'
    checks = GraphChecks(probe, namespace, config)
    common = {'params_file': config, 'namespace': namespace}
    # The arm starts away from zero, so that absolute targets (state + delta) lie far outside
    # the range of the deltas: published deltas, or an envelope made of the delta statistics,
    # would show.
    procs = [spawn('pi0fast_ros.nodes.fake_robot', **common,
                   params={'initial_positions': START}),
             spawn('pi0fast_ros.nodes.executor', **common),
             spawn('pi0fast_ros.nodes.policy', **common,
                   params={'checkpoint_path': str(checkpoint), 'instruction': 'move'})]
    try:
        checks.comes_up(WALL_TIMEOUT)
    except AssertionError as exc:
        raise AssertionError(f'{exc}\n' + '\n'.join(p.output()[-3000:] for p in procs))
    log = procs[2].output()
    assert 'LeRobot 0.5+ semantics' in log and 'relative actions: state added to' in log, log

    def matched():
        states = {(m.header.stamp.sec, m.header.stamp.nanosec): m
                  for _, m in list(checks.joint_states)}
        return [(c, states[(c.header.stamp.sec, c.header.stamp.nanosec)])
                for _, c in list(checks.chunks)
                if (c.header.stamp.sec, c.header.stamp.nanosec) in states]
    assert wait_for(lambda: len(matched()) >= 3, WALL_TIMEOUT, interval=0.2), \
        f'{len(matched())} chunks whose joint state the probe saw'
    gripper = names.index('gripper')
    seen_states = []
    for chunk, state_msg in matched():
        named = dict(zip(state_msg.name, state_msg.position))
        state = np.array([named[n] for n in names], dtype=np.float32)
        expected = deltas.astype(np.float32)
        expected[:, :gripper] += state[:gripper]
        expected[:, gripper + 1:] += state[gripper + 1:]
        got = np.array([p.positions for p in chunk.points])
        np.testing.assert_allclose(got, expected, atol=1e-4, rtol=0)
        seen_states.append(state)
    checks.commands_follow_the_chunks()
    # The action envelope is absolute too (delta envelope + state envelope on the relative
    # joints): no absolute chunk was refused against the envelope of the deltas.
    statuses = [{kv.key: kv.value for kv in m.status[0].values}.get('status')
                for _, m in list(checks.chunk_info) if m.status]
    assert statuses and 'out_of_envelope' not in statuses, statuses
    # The arm is moved by the deltas from where it stood: its arm joints changed between the
    # first and the last matched chunk (a model publishing raw deltas would hold it near D).
    first = seen_states[0]
    assert wait_for(lambda: np.abs(_latest(checks, names) - first)[:gripper].max() > 1.0,
                    WALL_TIMEOUT, interval=0.2), 'the arm did not move'


def _latest(checks, names):
    _, msg = checks.joint_states[-1]
    named = dict(zip(msg.name, msg.position))
    return np.array([named[n] for n in names])
