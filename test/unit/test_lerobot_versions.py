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
Checkpoints in the layouts of LeRobot 0.4.4, 0.5.0, 0.5.1 and 0.6, through the policy facade.

The expected prompts, image borders and absolute actions are computed here from the
checkpoint's own files (statistics, scripted_output.json) with LeRobot's formulas written out
(docs: lerobot-versions.md), not by the code under test.
"""

import json
import types

import numpy as np
from pi0fast_ros.core.model.paligemma import PaliGemma
from pi0fast_ros.core.policy.checkpoint import load_checkpoint
from pi0fast_ros.core.policy.facade import Pi0FastPolicy
from pi0fast_ros.testing.random_checkpoint import make_random_checkpoint
from safetensors.torch import load_file
import torch

INSTRUCTION = 'stack the cups'
NAMES = ['shoulder_pan.pos', 'shoulder_lift.pos', 'elbow_flex.pos', 'wrist_flex.pos',
         'wrist_roll.pos', 'Gripper.pos']


def _frames():
    rng = np.random.default_rng(0)
    return {'top': rng.integers(0, 256, (96, 128, 3), dtype=np.uint8),
            'wrist': rng.integers(0, 256, (60, 80, 3), dtype=np.uint8)}


def _state_stats(path):
    files = sorted(path.glob('policy_preprocessor_step_*_normalizer_processor.safetensors'))
    assert len(files) == 1, files
    stats = load_file(str(files[0]))
    return stats['observation.state.mean'].numpy(), stats['observation.state.std'].numpy()


def _expected_bins(path, state):
    mean, std = _state_stats(path)
    normalized = (state.astype(np.float32) - mean) / (std + np.float32(1e-8))
    return np.digitize(normalized, np.linspace(-1, 1, 257)[:-1]) - 1


def _scripted(path):
    return json.loads((path / 'scripted_output.json').read_text())


STATE = np.array([0.5, -1.25, 2.0, 0.75, -0.5, 0.25], dtype=np.float32)


def test_0_4_4_auto_pads_the_state_and_the_image_with_minus_3(tmp_path):
    path = make_random_checkpoint(tmp_path, seed=3, scripted=True)
    policy = Pi0FastPolicy.from_pretrained(path)
    assert policy.semantics.version == '0.4' and policy.relative is None
    assert 'nothing in the files proves' in policy.semantics.reason
    prepared = policy.prepare(_frames(), STATE, INSTRUCTION)
    bins = list(_expected_bins(path, STATE)) + [128] * 26
    assert prepared.prompt == f'Task: {INSTRUCTION}, State: {" ".join(map(str, bins))};\n'
    assert prepared.images[0][0, :, 0, 0].tolist() == [-3.0] * 3  # 96x128 -> padded rows
    result = policy.infer(_frames(), STATE, INSTRUCTION)
    assert result.ok
    np.testing.assert_allclose(result.actions, _scripted(path)['actions'], rtol=1e-6)


def test_0_5_0_needs_the_explicit_choice(tmp_path, caplog):
    path = make_random_checkpoint(tmp_path, seed=3, scripted=True, lerobot_version='0.5.0')
    caplog.set_level('INFO')
    assert Pi0FastPolicy.from_pretrained(path).semantics.version == '0.4'
    assert 'a LeRobot 0.5.0 checkpoint looks the same' in caplog.text
    policy = Pi0FastPolicy.from_pretrained(path, lerobot_version='0.5')
    assert policy.semantics.version == '0.5'
    assert 'lerobot_version 0.5 was asked for' in policy.semantics.describe()
    prepared = policy.prepare(_frames(), STATE, INSTRUCTION)
    bins = ' '.join(map(str, _expected_bins(path, STATE)))  # only the 6 real dims
    assert prepared.prompt == f'Task: {INSTRUCTION}, State: {bins};\n'
    top = prepared.images[0][0]
    assert top[:, 0, 0].tolist() == [-1.0] * 3 and top[:, -1, -1].tolist() == [-1.0] * 3
    inside = prepared.images[0][0, :, 112, 112]
    old = Pi0FastPolicy.from_pretrained(path).prepare(_frames(), STATE, INSTRUCTION)
    assert torch.equal(inside, old.images[0][0, :, 112, 112])  # interior pixels unchanged
    result = policy.infer(_frames(), STATE, INSTRUCTION)
    assert result.ok
    np.testing.assert_allclose(result.actions, _scripted(path)['actions'], rtol=1e-6)


def _absolute(path, state, names, exclude=('gripper',)):
    """Apply LeRobot's AbsoluteActionsProcessorStep, written out: state added on relative dims."""
    actions = np.asarray(_scripted(path)['actions'], dtype=np.float32)
    for i, name in enumerate(names or [None] * actions.shape[1]):
        if name is None or not any(e.lower() in name.lower() for e in exclude):
            actions[:, i] += state[i]
    return actions


def test_0_5_1_relative_actions_are_made_absolute(tmp_path):
    path = make_random_checkpoint(tmp_path, seed=3, scripted=True, lerobot_version='0.5.1',
                                  relative_actions=True, action_names=NAMES)
    pre = json.loads((path / 'policy_preprocessor.json').read_text())
    steps = [s['registry_name'] for s in pre['steps']]
    assert steps[2:4] == ['delta_actions_processor', 'normalizer_processor']
    policy = Pi0FastPolicy.from_pretrained(path)
    assert policy.semantics.version == '0.5' and 'delta_actions_processor' in \
        policy.semantics.reason
    assert policy.relative.mask == (True,) * 5 + (False,)   # 'gripper' matches 'Gripper.pos'
    result = policy.infer(_frames(), STATE, INSTRUCTION)
    assert result.ok
    expected = _absolute(path, STATE, NAMES)
    np.testing.assert_array_equal(result.actions, expected)
    assert not np.allclose(result.actions[:, 0], _scripted(path)['actions'][0][0])


def test_relative_without_names_makes_every_dim_relative_as_lerobot(tmp_path):
    path = make_random_checkpoint(tmp_path, seed=3, scripted=True, lerobot_version='0.6',
                                  relative_actions=True)
    policy = Pi0FastPolicy.from_pretrained(path)
    assert policy.relative.mask == (True,) * 6
    assert 'every dim is relative' in policy.relative.describe()
    result = policy.infer(_frames(), STATE, INSTRUCTION)
    np.testing.assert_array_equal(result.actions, _absolute(path, STATE, None))


def test_0_6_untied_head_gives_the_logits(tmp_path):
    path = make_random_checkpoint(tmp_path, seed=3, scripted=True, lerobot_version='0.6')
    weights = load_file(str(path / 'model.safetensors'))
    head = weights['model.paligemma_with_expert.paligemma.lm_head.weight']
    table = weights['model.paligemma_with_expert.paligemma.model.language_model.'
                    'embed_tokens.weight']
    assert not torch.equal(head, table)
    policy = Pi0FastPolicy.from_pretrained(path)
    assert policy.semantics.version == '0.5' and 'pretrained_revision' in policy.semantics.reason
    assert policy.engine.model.untied_head
    result = policy.infer(_frames(), STATE, INSTRUCTION)
    info = _scripted(path)
    end = info['tokens'].index(policy.text_tokenizer.end_marker_id)
    assert result.ok and result.tokens.tolist() == info['tokens'][:end + 1]
    # control: the same model with the table as its head (the 0.4.4 tie) does not emit it
    policy.engine.model.head = None
    tied = policy.infer(_frames(), STATE, INSTRUCTION)
    assert tied.tokens.tolist() != result.tokens.tolist()


def test_bf16_rules_per_version(tmp_path):
    new = load_checkpoint(make_random_checkpoint(tmp_path / 'new', lerobot_version='0.6'),
                          dtype='bfloat16').model
    old = load_checkpoint(make_random_checkpoint(tmp_path / 'old'), dtype='bfloat16').model
    q = 'encoder.layers.0.self_attn.q_proj.weight'
    assert new.vision.get_parameter(q).dtype == torch.float32
    assert new.projector.weight.dtype == torch.float32
    assert new.vision.post_layernorm.weight.dtype == torch.float32
    assert new.gemma.layers[0].self_attn.q_proj.weight.dtype == torch.bfloat16
    assert new.output_table.dtype == torch.bfloat16
    assert old.vision.get_parameter(q).dtype == torch.bfloat16
    assert old.projector.weight.dtype == torch.bfloat16


def test_bf16_embedding_scale_is_rounded_in_0_5():
    gen = torch.Generator().manual_seed(0)
    emb = torch.nn.Embedding(64, 2048).to(torch.bfloat16)
    with torch.no_grad():
        emb.weight.copy_(torch.randn(64, 2048, generator=gen))
    ids = torch.arange(64)[None]
    rows = emb.weight.detach().float()[ids]
    got = {v: PaliGemma.embed_tokens(types.SimpleNamespace(
        gemma=types.SimpleNamespace(embed_tokens=emb), numerics=v), ids) for v in ('0.4', '0.5')}
    assert torch.equal(got['0.5'], (rows * 45.25).to(torch.bfloat16))
    assert torch.equal(got['0.4'], (rows * torch.tensor(2048 ** 0.5)).to(torch.bfloat16))
    differ = (got['0.5'] != got['0.4']).float().mean().item()
    assert 0.005 < differ < 0.1  # the fact sheet measured ~2.5 % of values one bf16 step apart


def test_action_envelope_of_a_relative_checkpoint_is_absolute(tmp_path):
    from pi0fast_ros.core.control.envelope import checkpoint_envelopes
    path = make_random_checkpoint(tmp_path, seed=3, lerobot_version='0.6',
                                  relative_actions=True, action_names=NAMES)
    policy = Pi0FastPolicy.from_pretrained(path)
    _, action, _ = checkpoint_envelopes(path, NAMES, NAMES, margin=0.2, which='auto',
                                        relative=policy.relative)
    pre = load_file(str(next(path.glob('policy_preprocessor_step_3_*.safetensors'))))
    post = load_file(str(path / 'policy_postprocessor_step_0_unnormalizer_processor.safetensors'))

    def widened(stats, key):
        lo, hi = stats[f'{key}.min'].double().numpy(), stats[f'{key}.max'].double().numpy()
        return lo - 0.2 * (hi - lo), hi + 0.2 * (hi - lo)
    (a_lo, a_hi), (s_lo, s_hi) = widened(post, 'action'), widened(pre, 'observation.state')
    relative = np.array([True] * 5 + [False])  # 'Gripper.pos' is excluded
    np.testing.assert_allclose(action.lower, a_lo + np.where(relative, s_lo, 0.0), rtol=1e-6)
    np.testing.assert_allclose(action.upper, a_hi + np.where(relative, s_hi, 0.0), rtol=1e-6)
