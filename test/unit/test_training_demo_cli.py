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

"""pi0fast-train-demo end to end on a few steps: a checkpoint the regular loader opens."""

import json

import numpy as np
from pi0fast_ros.core.policy.facade import Pi0FastPolicy
from pi0fast_ros.testing import synthetic_task as task
from pi0fast_ros.tools import train_demo
import pytest
from safetensors.torch import load_file

ARGS = ['--steps', '4', '--samples', '400', '--batch-size', '4', '--log-every', '1']


@pytest.fixture(scope='module')
def trained(tmp_path_factory):
    out = tmp_path_factory.mktemp('demo')
    assert train_demo.main(['--out', str(out), *ARGS]) == 0
    return out


def test_writes_a_complete_lerobot_checkpoint(trained, capsys):
    names = {p.name for p in trained.iterdir()}
    assert {'config.json', 'model.safetensors', 'policy_preprocessor.json',
            'policy_postprocessor.json', 'fast_tokenizer', 'text_tokenizer', 'README.md',
            'training_summary.json'} <= names
    config = json.loads((trained / 'config.json').read_text())
    assert config['type'] == 'pi0_fast'
    assert config['tokenizer_max_length'] == 64
    assert config['normalization_mapping']['STATE'] == 'MIN_MAX'
    assert (config['chunk_size'], config['n_action_steps']) == (30, 30)
    pre = json.loads((trained / 'policy_preprocessor.json').read_text())
    tok_step = [s for s in pre['steps'] if s['registry_name'] == 'tokenizer_processor'][0]
    assert tok_step['config']['max_length'] == 64
    summary = json.loads((trained / 'training_summary.json').read_text())
    assert len(summary['history']) == 4 and summary['recipe']['steps'] == 4
    assert '--steps 4' in (trained / 'README.md').read_text()


def test_the_regular_loader_opens_it_and_runs_it(trained):
    policy = Pi0FastPolicy.from_pretrained(trained)
    assert policy.camera_slots == ['observation.images.front', 'observation.images.wrist']
    black = np.zeros((240, 320, 3), np.uint8)
    frames = {'front': black, 'wrist': black}
    result = policy.infer(frames, np.zeros(6, np.float32), 'reach left')
    # four training steps do not make a policy: any decode status is fine, no exception
    assert len(result.tokens) >= 1 and result.status


def test_same_seed_same_weights_and_refuses_to_overwrite(trained, tmp_path):
    again = tmp_path / 'again'
    assert train_demo.main(['--out', str(again), *ARGS]) == 0
    a = load_file(str(trained / 'model.safetensors'))
    b = load_file(str(again / 'model.safetensors'))
    assert a.keys() == b.keys()
    assert all(bool((a[k] == b[k]).all()) for k in a)
    assert train_demo.main(['--out', str(again), *ARGS]) == 2


def test_prompts_of_every_instruction_fit(trained):
    policy = Pi0FastPolicy.from_pretrained(trained)
    state = np.full(6, 100.0, np.float32)   # three-digit bins everywhere
    for instruction in task.INSTRUCTIONS:
        prepared = policy.prepare({'front': np.zeros((240, 320, 3), np.uint8)}, state,
                                  instruction)
        assert int(prepared.masks.sum()) < 64


def test_a_third_camera_is_a_third_image_feature(tmp_path):
    # --cameras: the slots become the checkpoint's image features, each rendered from its view
    out = tmp_path / 'three'
    cams = 'front:side,wrist:wrist,top:top'
    assert train_demo.main(['--out', str(out), *ARGS, '--cameras', cams]) == 0
    features = json.loads((out / 'config.json').read_text())['input_features']
    assert sorted(k for k in features if 'image' in k) == [
        'observation.images.front', 'observation.images.top', 'observation.images.wrist']
    assert 'top: top' in (out / 'README.md').read_text()
    policy = Pi0FastPolicy.from_pretrained(str(out), device='cpu')
    frame = np.zeros((240, 320, 3), np.uint8)
    state = np.zeros(len(task.SO100_JOINT_NAMES), np.float32)
    result = policy.infer(images={'front': frame, 'wrist': frame, 'top': frame}, state=state,
                          instruction='wave')
    assert result.status and result.timings_ms


@pytest.mark.parametrize('cams, message', [('front:side,wrist', 'SLOT:VIEW'),
                                           ('front:fisheye', 'side, front, top, wrist'),
                                           ('a:top,a:side', 'repeat')])
def test_bad_cameras_are_refused_with_the_reason(tmp_path, capsys, cams, message):
    with pytest.raises(SystemExit):
        train_demo.main(['--out', str(tmp_path / 'x'), *ARGS, '--cameras', cams])
    assert message in capsys.readouterr().err
    assert not (tmp_path / 'x').exists()
