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
The committed demo checkpoint acts: the policy facade's chunks go where each instruction says.

Loads demo/so100_synthetic through the regular Pi0FastPolicy.from_pretrained (no training
here), feeds fake-robot frames of seeded states and checks the DIRECTION of every chunk
against the task, and that it ends with "|". A model that ignored the instruction or the
state, or a broken link anywhere between prompt and actions, fails these.
"""

import pathlib

import numpy as np
from pi0fast_ros.core.policy.facade import Pi0FastPolicy
from pi0fast_ros.testing import synthetic_task as task
from pi0fast_ros.testing.training_data import FrameRenderer
import pytest

DEMO = pathlib.Path(__file__).resolve().parents[2] / 'demo' / 'so100_synthetic'
PAN, WRIST, ROLL = task.SHOULDER_PAN, task.WRIST_FLEX, task.WRIST_ROLL


@pytest.fixture(scope='module')
def policy():
    return Pi0FastPolicy.from_pretrained(DEMO)


@pytest.fixture(scope='module')
def renderer():
    return FrameRenderer((('front', 'side'), ('wrist', 'wrist')), task.SO100_JOINT_NAMES)


def _chunk(policy, renderer, state, instruction):
    state = np.asarray(state, dtype=np.float32)
    result = policy.infer(dict(zip(renderer.slots, renderer.frames(state))), state, instruction)
    assert result.ok, f'{instruction} from {state}: {result.status} {result.error}'
    assert result.tokens[-1] == policy.text_tokenizer.end_marker_id
    assert result.actions.shape == (policy.horizon, 6)
    return result.actions


def _states(seed, n, **fixed):
    states = task.sample_states(np.random.default_rng(seed), n)
    for joint, (lo, hi) in fixed.items():
        index = task.SO100_JOINT_NAMES.index(joint)
        states[:, index] = np.random.default_rng(seed + 1).uniform(lo, hi, n)
    return states


def test_checkpoint_is_the_regular_lerobot_layout(policy):
    names = {p.name for p in DEMO.iterdir()}
    assert {'config.json', 'model.safetensors', 'policy_preprocessor.json',
            'policy_postprocessor.json', 'fast_tokenizer', 'text_tokenizer'} <= names
    assert policy.camera_slots == ['observation.images.front', 'observation.images.wrist']
    assert (policy.state_dim, policy.action_dim, policy.horizon) == (6, 6, 30)


@pytest.mark.parametrize('instruction, sign', [('reach left', 1.0), ('reach right', -1.0)])
def test_reach_moves_shoulder_pan_towards_its_side(policy, renderer, instruction, sign):
    target = task.skill(instruction).target[PAN]
    # start at least 25 units on the wrong side of the target
    lo, hi = (-80.0, target - 25.0) if sign > 0 else (target + 25.0, 80.0)
    for state in _states(10, 6, shoulder_pan=(lo, hi)):
        chunk = _chunk(policy, renderer, state, instruction)
        moved = chunk[-1, PAN] - state[PAN]
        assert sign * moved > 10.0, f'{instruction} from pan {state[PAN]:.1f}: moved {moved:.1f}'


def test_go_home_gets_closer_to_home(policy, renderer):
    home = np.asarray(task.skill('go home').target)
    for state in _states(20, 6):
        chunk = _chunk(policy, renderer, state, 'go home')
        before, after = np.abs(state - home), np.abs(chunk[-1] - home)
        far = before > 20.0                      # joints with somewhere to go
        assert np.all(after[far] < before[far] - 5.0), (state, chunk[-1])


def test_wave_turns_the_hand_around_its_circle(policy, renderer):
    pose = np.asarray(task.skill('wave').target)
    radius = task.WAVE_AMPLITUDE
    for phase in np.linspace(0.0, 2 * np.pi, 6, endpoint=False):
        state = pose.copy()
        state[WRIST], state[ROLL] = radius * np.cos(phase), radius * np.sin(phase)
        chunk = _chunk(policy, renderer, state, 'wave')
        # a third of a second later the hand has moved counter-clockwise in (flex, roll)
        moved = chunk[10, [WRIST, ROLL]] - state[[WRIST, ROLL]]
        tangent = np.array([-np.sin(phase), np.cos(phase)])
        assert moved @ tangent > 10.0, (phase, chunk[:11, [WRIST, ROLL]])


def test_same_state_different_instruction_different_motion(policy, renderer):
    state = np.array([0.0, 0.0, 0.0, 0.0, 0.0, 50.0])
    ends = {i: _chunk(policy, renderer, state, i)[-1] for i in task.INSTRUCTIONS}
    assert ends['reach left'][PAN] > 15.0 and ends['reach right'][PAN] < -15.0
    assert np.abs(ends['go home'] - ends['wave']).max() > 15.0
