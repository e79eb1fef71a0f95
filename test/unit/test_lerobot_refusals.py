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
LeRobot 0.5/0.6 files that would change what the actions mean are refused, never guessed.

Also: LeRobot's relative-action mask, the 0.6.1 stop convention of the token API, and the
64-byte alignment of the output table in exact mode.
"""

import json
import struct

from pi0fast_ros.core.policy.checkpoint import ALIGNMENT, CheckpointError, load_checkpoint
from pi0fast_ros.core.policy.facade import Pi0FastPolicy
from pi0fast_ros.core.policy.relative_actions import lerobot_mask
from pi0fast_ros.testing.random_checkpoint import make_random_checkpoint
import pytest
from safetensors import safe_open
from safetensors.torch import load_file, save_file
import torch

NAMES = ['a.pos', 'b.pos', 'c.pos', 'd.pos', 'e.pos', 'gripper.pos']


@pytest.fixture(scope='module')
def relative_dir(tmp_path_factory):
    return make_random_checkpoint(tmp_path_factory.mktemp('rel'), seed=1, lerobot_version='0.6',
                                  relative_actions=True, action_names=NAMES)


@pytest.fixture
def copy(relative_dir, tmp_path):
    """Copy the relative 0.6 checkpoint, to edit it."""
    import shutil
    return shutil.copytree(relative_dir, tmp_path / 'ckpt')


def _edit_json(path, name, change):
    file = path / name
    doc = json.loads(file.read_text())
    change(doc)
    file.write_text(json.dumps(doc))


def _step(doc, registry_name):
    return next(s for s in doc['steps'] if s['registry_name'] == registry_name)


def test_lerobot_mask():
    assert lerobot_mask(['gripper'], None, 3) == (True, True, True)
    assert lerobot_mask([], ['x', 'gripper'], 2) == (True, True)
    assert lerobot_mask(['GRIP', ''], ['left_Gripper', 'elbow'], 4) == (False, True, True, True)
    assert lerobot_mask(['elbow', 'wrist'], ['elbow_flex', 'wrist', 'pan'], 3) == \
        (False, False, True)


def test_asking_for_0_4_on_newer_files_is_refused(relative_dir):
    with pytest.raises(CheckpointError, match=r'lerobot_version 0.4 was asked for.*'
                       r'pretrained_revision.*relative_actions_processor'):
        load_checkpoint(relative_dir, lerobot_version='0.4')
    with pytest.raises(CheckpointError, match="lerobot_version 'v1' is not one of"):
        load_checkpoint(relative_dir, lerobot_version='v1')


@pytest.mark.parametrize('file,step', [
    ('policy_preprocessor.json', 'image_crop_resize_processor'),
    ('policy_postprocessor.json', 'map_delta_action_to_robot_action')])
def test_unknown_processor_steps_are_refused(copy, file, step):
    _edit_json(copy, file, lambda d: d['steps'].insert(1, {'registry_name': step,
                                                           'config': {}}))
    with pytest.raises(CheckpointError, match=f"processor steps \\['{step}'\\] are not "
                       'implemented here'):
        load_checkpoint(copy)


def test_relative_and_absolute_steps_out_of_order_are_refused(copy):
    def swap(doc):
        doc['steps'][2], doc['steps'][3] = doc['steps'][3], doc['steps'][2]
    _edit_json(copy, 'policy_preprocessor.json', swap)
    with pytest.raises(CheckpointError, match='normalizer_processor comes before '
                       'relative_actions_processor'):
        load_checkpoint(copy)
    swap(doc := json.loads((copy / 'policy_preprocessor.json').read_text()))
    (copy / 'policy_preprocessor.json').write_text(json.dumps(doc))
    _edit_json(copy, 'policy_postprocessor.json', lambda d: d['steps'].insert(
        0, d['steps'].pop(1)))
    with pytest.raises(CheckpointError, match='absolute_actions_processor comes before '
                       'unnormalizer_processor'):
        load_checkpoint(copy)


def test_unknown_config_fields_meaning_refused_harmless_noted(copy, caplog):
    _edit_json(copy, 'config.json', lambda d: d.update(wandb_notes='run 7'))
    caplog.set_level('INFO')
    load_checkpoint(copy)
    assert "ignored (they concern neither the actions nor the state): ['wandb_notes']" in \
        caplog.text
    _edit_json(copy, 'config.json', lambda d: d.update(action_space='delta_ee'))
    with pytest.raises(CheckpointError, match=r"fields \['action_space'\] are unknown"):
        load_checkpoint(copy)


def test_unknown_variant_is_refused(copy):
    _edit_json(copy, 'config.json', lambda d: d.update(paligemma_variant='gemma_7b'))
    with pytest.raises(CheckpointError, match="paligemma_variant 'gemma_7b' is not one of"):
        load_checkpoint(copy)


@pytest.mark.parametrize('file,change,message', [
    ('config.json', lambda d: d.update(use_relative_actions=False),
     'config.json use_relative_actions False, preprocessor step enabled True'),
    ('policy_preprocessor.json',
     lambda d: _step(d, 'relative_actions_processor')['config'].update(enabled=False),
     'preprocessor step enabled False'),
    ('policy_postprocessor.json', lambda d: d['steps'].pop(1),
     'absolute_actions_processor absent'),
    ('policy_postprocessor.json',
     lambda d: _step(d, 'absolute_actions_processor')['config'].update(enabled=False),
     'present but disabled'),
    ('config.json', lambda d: d.update(relative_exclude_joints=[]),
     r'relative_exclude_joints \[\] differs'),
    ('config.json', lambda d: d.update(action_feature_names=NAMES[::-1]),
     'action_feature_names .* differs'),
    ('policy_preprocessor.json',
     lambda d: _step(d, 'relative_actions_processor')['config'].update(action_names=None),
     'saved none'),
    ('policy_preprocessor.json',
     lambda d: _step(d, 'relative_actions_processor')['config'].update(exclude_joints='grip'),
     'exclude_joints must be a list of strings'),
    ('config.json', lambda d: d.update(use_relative_actions='yes'),
     'use_relative_actions must be true/false'),
])
def test_contradictory_relative_settings_are_refused(copy, file, change, message):
    _edit_json(copy, file, change)
    with pytest.raises(CheckpointError, match=message):
        load_checkpoint(copy)


def test_relative_config_without_the_step_is_refused(tmp_path):
    path = make_random_checkpoint(tmp_path, seed=1)  # 0.4.4 files: no relative step
    _edit_json(path, 'config.json', lambda d: d.update(use_relative_actions=True))
    with pytest.raises(CheckpointError, match='has no relative actions step'):
        load_checkpoint(path)


def test_relative_state_shorter_than_actions_is_refused(tmp_path):
    path = make_random_checkpoint(tmp_path, seed=1, lerobot_version='0.6', state_dim=4,
                                  relative_actions=True)
    with pytest.raises(CheckpointError, match=r'state\[:6\].*only 4 dims'):
        load_checkpoint(path)
    with pytest.raises(ValueError, match='relative actions need lerobot_version 0.5.1'):
        make_random_checkpoint(tmp_path / 'x', relative_actions=True)


def test_token_api_0_6_1_stop_convention(tmp_path):
    path = make_random_checkpoint(tmp_path, seed=3, scripted=True, lerobot_version='0.6')
    policy = Pi0FastPolicy.from_pretrained(path, engine_mode='exact')
    prepared = policy.prepare({'top': torch.zeros(224, 224, 3, dtype=torch.uint8)},
                              torch.zeros(6), 'go')
    args = (prepared.images, prepared.img_masks, prepared.tokens, prepared.masks, 64)
    bar = policy.text_tokenizer.end_marker_id
    full = policy.engine.sample_actions_fast_kv_cache(*args)
    cut = policy.engine.sample_actions_fast_kv_cache(*args, end_marker_id=bar)
    assert full.shape == cut.shape == (1, 64)
    end = full[0].tolist().index(bar) + 1
    assert cut[0, :end].tolist() == full[0, :end].tolist()
    assert cut[0, end:].tolist() == [0] * (64 - end)
    assert full[0, end:].tolist() != [0] * (64 - end)   # 0.4.4 keeps decoding after "|"


def _lm_head_offset(file):
    raw = file.read_bytes()
    (n,) = struct.unpack('<Q', raw[:8])
    header = json.loads(raw[8:8 + n])
    return 8 + n + header['model.paligemma_with_expert.paligemma.lm_head.weight'][
        'data_offsets'][0]


def test_output_table_is_64_byte_aligned_after_loading(tmp_path):
    path = make_random_checkpoint(tmp_path, seed=1)
    file = path / 'model.safetensors'
    with safe_open(str(file), 'pt') as f:
        metadata = f.metadata()
    tensors = load_file(str(file))
    pad = 0
    while _lm_head_offset(file) % ALIGNMENT == 0:  # make sure the file misaligns the table
        pad += 1
        save_file(tensors, str(file), metadata={**metadata, 'pad': 'x' * pad})
    assert _lm_head_offset(file) % ALIGNMENT != 0
    model = load_checkpoint(path).model
    assert model.output_table.data_ptr() % ALIGNMENT == 0
    assert torch.equal(model.output_table,
                       tensors['model.paligemma_with_expert.paligemma.lm_head.weight'])
