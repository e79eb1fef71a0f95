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

"""make_random_checkpoint writes LeRobot's layout, and the scripted model really decodes."""

import json

import numpy as np
from pi0fast_ros.core.fast.tokenizer import FastActionTokenizer
from pi0fast_ros.core.model.engine import Pi0FastEngine
from pi0fast_ros.core.policy.checkpoint import load_checkpoint
from pi0fast_ros.core.policy.images import prepare_images
from pi0fast_ros.core.policy.text_tokenizer import TextTokenizer
from pi0fast_ros.testing.random_checkpoint import make_random_checkpoint
import pytest
from safetensors.torch import load_file
import torch

LEROBOT_FILES = {'config.json', 'model.safetensors', 'policy_preprocessor.json',
                 'policy_postprocessor.json',
                 'policy_preprocessor_step_2_normalizer_processor.safetensors',
                 'policy_postprocessor_step_0_unnormalizer_processor.safetensors'}


@pytest.fixture(scope='module')
def ckpt(tmp_path_factory):
    return make_random_checkpoint(tmp_path_factory.mktemp('ckpt'), seed=1,
                                  cameras=('top', 'left_wrist', 'right_wrist'), state_dim=14,
                                  action_dim=14, chunk_size=8, empty_cameras=1,
                                  norm_mode='QUANTILES', scripted=True)


def test_directory_has_lerobot_files_and_our_tokenizers(ckpt):
    names = {p.name for p in ckpt.iterdir()}
    assert LEROBOT_FILES <= names
    assert {'fast_tokenizer', 'text_tokenizer', 'scripted_output.json'} <= names
    assert (ckpt / 'fast_tokenizer' / 'processor_config.json').is_file()
    assert (ckpt / 'text_tokenizer' / 'tokenizer.json').is_file()


def test_config_json_is_lerobot_pi0_fast(ckpt):
    config = json.loads((ckpt / 'config.json').read_text())
    assert config['type'] == 'pi0_fast'
    assert list(config['input_features']) == [
        'observation.images.top', 'observation.images.left_wrist',
        'observation.images.right_wrist', 'observation.images.empty_camera_0',
        'observation.state']
    assert config['input_features']['observation.state'] == {'type': 'STATE', 'shape': [14]}
    assert config['output_features'] == {'action': {'type': 'ACTION', 'shape': [14]}}
    assert (config['chunk_size'], config['n_action_steps'], config['empty_cameras']) == (8, 8, 1)
    assert config['normalization_mapping'] == {'VISUAL': 'IDENTITY', 'STATE': 'QUANTILES',
                                               'ACTION': 'QUANTILES'}
    assert config['text_tokenizer_name'] == str(ckpt / 'text_tokenizer')
    assert config['action_tokenizer_name'] == str(ckpt / 'fast_tokenizer')


def test_processor_files_follow_make_pi0_fast_pre_post_processors(ckpt):
    pre = json.loads((ckpt / 'policy_preprocessor.json').read_text())
    post = json.loads((ckpt / 'policy_postprocessor.json').read_text())
    assert pre['name'] == 'policy_preprocessor' and post['name'] == 'policy_postprocessor'
    assert [s['registry_name'] for s in pre['steps']] == [
        'rename_observations_processor', 'to_batch_processor', 'normalizer_processor',
        'pi0_fast_prepare_state_tokenizer_processor_step', 'tokenizer_processor',
        'action_tokenizer_processor', 'device_processor']
    post_names = [s['registry_name'] for s in post['steps']]
    assert post_names == ['unnormalizer_processor', 'device_processor']
    norm = pre['steps'][2]
    assert norm['state_file'] == 'policy_preprocessor_step_2_normalizer_processor.safetensors'
    assert norm['config']['norm_map']['STATE'] == 'QUANTILES' and norm['config']['eps'] == 1e-8
    assert set(norm['config']['features']) == {
        'observation.images.top', 'observation.images.left_wrist',
        'observation.images.right_wrist', 'observation.images.empty_camera_0',
        'observation.state', 'action'}
    assert set(post['steps'][0]['config']['features']) == {'action'}
    assert pre['steps'][4]['config']['max_length'] == 200
    stats = load_file(str(ckpt / norm['state_file']))
    for key in ('observation.state', 'action'):
        for stat in ('mean', 'std', 'min', 'max', 'q01', 'q99', 'q10', 'q90'):
            assert stats[f'{key}.{stat}'].shape == (14,)
            assert stats[f'{key}.{stat}'].dtype == torch.float32
    assert (stats['action.q99'] > stats['action.q01']).all()
    assert stats['observation.images.top.mean'].shape == (3, 1, 1)


def test_tokenizers_load_and_fit_together(ckpt):
    text = TextTokenizer.from_pretrained(ckpt / 'text_tokenizer')
    fast = FastActionTokenizer.from_pretrained(ckpt / 'fast_tokenizer')
    text.check_fast_vocab(fast.vocab_size)
    assert (fast.time_horizon, fast.action_dim) == (8, 14)
    transformers = pytest.importorskip('transformers')
    hf = transformers.AutoTokenizer.from_pretrained(str(ckpt / 'text_tokenizer'))
    assert hf.vocab_size == text.vocab_size


def test_scripted_model_emits_its_sequence_and_then_keeps_to_the_chain(ckpt):
    # Decode to the maximum with the real engine, no stop: the scripted ids come first.
    info = json.loads((ckpt / 'scripted_output.json').read_text())
    loaded = load_checkpoint(ckpt)
    text = TextTokenizer.from_pretrained(ckpt / 'text_tokenizer')
    rng = np.random.default_rng(0)
    images, masks = prepare_images(
        {k: rng.integers(0, 256, (50, 70, 3), dtype=np.uint8)
         for k in loaded.config.camera_keys[:2]}, loaded.config.camera_keys)
    ids, mask, _ = text.tokenize_prompt('Task: stack the cups, State: 1 2 3;\n')
    engine = Pi0FastEngine(loaded.model, bos_token_id=text.bos_id)
    out = engine.sample_actions_fast_kv_cache(images, masks, torch.from_numpy(ids)[None],
                                              torch.from_numpy(mask)[None],
                                              max_decoding_steps=len(info['tokens']) + 4)
    tokens = out[0].tolist()
    assert tokens[:len(info['tokens'])] == info['tokens']
    assert tokens[:3] == list(text.action_prefix_ids) and info['tokens'][-1] == text.eos_id
    # after EOS the bigram chain steps back to "|" (the previous chain element) and so on
    assert tokens[len(info['tokens'])] == text.end_marker_id


def test_seeded_and_repeatable(tmp_path):
    a = make_random_checkpoint(tmp_path / 'a', seed=7)
    b = make_random_checkpoint(tmp_path / 'b', seed=7)
    c = make_random_checkpoint(tmp_path / 'c', seed=8)
    wa, wb, wc = (load_file(str(p / 'model.safetensors')) for p in (a, b, c))
    assert all(torch.equal(wa[k], wb[k]) for k in wa)
    assert not all(torch.equal(wa[k], wc[k]) for k in wa)
    assert (a / 'fast_tokenizer' / 'tokenizer.json').read_text() == \
        (b / 'fast_tokenizer' / 'tokenizer.json').read_text()


def test_stats_override_and_bad_arch(tmp_path):
    mean = np.linspace(-1, 1, 6)
    path = make_random_checkpoint(tmp_path / 'x', stats={'action': {'mean': mean}})
    stats = load_file(str(path / 'policy_postprocessor_step_0_unnormalizer_processor'
                                 '.safetensors'))
    np.testing.assert_allclose(stats['action.mean'].numpy(), mean, rtol=1e-6)
    with pytest.raises(ValueError, match='arch must be'):
        make_random_checkpoint(tmp_path / 'y', arch='huge')
