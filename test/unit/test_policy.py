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

"""The policy facade end to end on checkpoints written by make_random_checkpoint."""

import json
import shutil

import numpy as np
from pi0fast_ros.core.policy.facade import InvalidObservationError, Pi0FastPolicy
from pi0fast_ros.core.policy.images import to_model_image
from pi0fast_ros.testing.random_checkpoint import make_random_checkpoint
import pytest
from safetensors.torch import load_file
import torch

INSTRUCTION = 'pick up the red cube'


@pytest.fixture(scope='module')
def scripted_dir(tmp_path_factory):
    return make_random_checkpoint(tmp_path_factory.mktemp('scripted'), seed=3, scripted=True)


@pytest.fixture(scope='module')
def policy(scripted_dir):
    return Pi0FastPolicy.from_pretrained(scripted_dir)


@pytest.fixture(scope='module')
def expected(scripted_dir):
    info = json.loads((scripted_dir / 'scripted_output.json').read_text())
    stats = load_file(str(scripted_dir /
                          'policy_postprocessor_step_0_unnormalizer_processor.safetensors'))
    return info, stats['action.mean'].numpy(), stats['action.std'].numpy()


def frames(seed=0):
    rng = np.random.default_rng(seed)
    return {'top': rng.integers(0, 256, (96, 128, 3), dtype=np.uint8),
            'observation.images.wrist': rng.integers(0, 256, (60, 80, 3), dtype=np.uint8)}


def state_at_mean(scripted_dir):
    stats = load_file(str(scripted_dir /
                          'policy_preprocessor_step_2_normalizer_processor.safetensors'))
    return stats['observation.state.mean'].numpy().astype(np.float64)


def test_facade_produces_the_scripted_chunk(policy, scripted_dir, expected):
    info, mean, std = expected
    result = policy.infer(frames(), state_at_mean(scripted_dir), INSTRUCTION)
    assert result.ok and result.status == 'ok' and result.error is None
    assert result.actions.shape == (policy.horizon, policy.action_dim) == (10, 6)
    assert result.actions.dtype == np.float32
    # the generated ids are the scripted ones up to and including "|" (then decoding stopped)
    end = info['tokens'].index(policy.text_tokenizer.end_marker_id)
    assert result.tokens.tolist() == info['tokens'][:end + 1]
    # independent check: the chunk is the target unnormalized with the checkpoint's stats,
    # up to FAST's quantisation (1 / scale of a DCT coefficient)
    target = np.asarray(info['target_normalized'])
    np.testing.assert_allclose(result.actions, target * std + mean, atol=0.1 * std.max())
    assert set(result.timings_ms) >= {'preprocess', 'prefill', 'decode', 'detokenize',
                                      'total'}
    assert all(v >= 0 for v in result.timings_ms.values())
    assert result.decode_steps == end + 1 and 'steps' not in result.timings_ms


def test_prompt_holds_the_binned_state(policy, scripted_dir):
    state = state_at_mean(scripted_dir)  # normalizes to exactly 0 -> bin 128
    prepared = policy.prepare(frames(), state, '  pick_up the\ncube ')
    assert prepared.prompt == 'Task: pick up the cube, State: ' + ' '.join(['128'] * 32) + ';\n'
    ids = policy.text_tokenizer.encode(prepared.prompt)
    assert prepared.tokens.shape == (1, 200) and prepared.tokens.dtype == torch.int64
    assert prepared.tokens[0, :len(ids) + 1].tolist() == [policy.text_tokenizer.bos_id] + ids
    assert prepared.masks[0].sum().item() == len(ids) + 1


def test_repeatable_and_stop_at_end_marker_is_exact(policy, scripted_dir):
    obs = (frames(1), state_at_mean(scripted_dir) + 0.3, INSTRUCTION)
    a, b = policy.infer(*obs), policy.infer(*obs)
    assert np.array_equal(a.tokens, b.tokens) and np.array_equal(a.actions, b.actions)
    full = Pi0FastPolicy.from_pretrained(scripted_dir, stop_at_end_marker=False,
                                         max_decoding_steps=24)
    c = full.infer(*obs)
    assert c.decode_steps == 24 and len(c.tokens) == 24
    assert c.tokens[:len(a.tokens)].tolist() == a.tokens.tolist()
    assert np.array_equal(c.actions, a.actions)


def test_missing_camera_shifts_order_and_is_masked(policy, scripted_dir):
    obs = frames(2)
    prepared = policy.prepare({'top': None, 'wrist': obs['observation.images.wrist']},
                              state_at_mean(scripted_dir), INSTRUCTION)
    assert [m.item() for m in prepared.img_masks] == [True, False]
    assert torch.equal(prepared.images[0], to_model_image(obs['observation.images.wrist']))
    assert (prepared.images[1] == -1).all()
    result = policy.infer({'wrist': obs['observation.images.wrist']},
                          state_at_mean(scripted_dir), INSTRUCTION)
    assert result.ok


def test_lerobot_detokenization_constrained_and_bf16(scripted_dir, expected):
    info, mean, std = expected
    state = state_at_mean(scripted_dir)
    ref = Pi0FastPolicy.from_pretrained(scripted_dir).infer(frames(), state, INSTRUCTION)
    lerobot = Pi0FastPolicy.from_pretrained(scripted_dir, detokenize='lerobot')
    out = lerobot.infer(frames(), state, INSTRUCTION)
    assert out.ok and np.array_equal(out.actions, ref.actions)
    constrained = Pi0FastPolicy.from_pretrained(scripted_dir, constrained=True)
    out = constrained.infer(frames(), state, INSTRUCTION)
    assert out.ok and out.tokens.tolist() == ref.tokens.tolist()
    bf16 = Pi0FastPolicy.from_pretrained(scripted_dir, dtype='bfloat16')
    assert bf16.dtype == torch.bfloat16
    out = bf16.infer(frames(), state, INSTRUCTION)
    assert out.ok and out.tokens.tolist() == ref.tokens.tolist()


def test_short_horizon_keeps_leading_rows(tmp_path):
    path = make_random_checkpoint(tmp_path, seed=4, chunk_size=12, n_action_steps=5,
                                  action_dim=3, state_dim=4, cameras=('front',), scripted=True)
    policy = Pi0FastPolicy.from_pretrained(path)
    assert (policy.horizon, policy.chunk_size, policy.camera_slots) == \
        (5, 12, ['observation.images.front'])
    info = json.loads((path / 'scripted_output.json').read_text())
    result = policy.infer({'front': frames()['top']}, np.zeros(4), INSTRUCTION)
    assert result.ok and result.actions.shape == (5, 3)
    np.testing.assert_allclose(result.actions, np.asarray(info['actions']), rtol=1e-6)


def test_random_weights_give_a_failed_result_not_zeros(tmp_path):
    path = make_random_checkpoint(tmp_path, seed=5, cameras=('top',))
    policy = Pi0FastPolicy.from_pretrained(path, max_decoding_steps=12)
    result = policy.infer({'top': frames()['top']}, np.zeros(6), INSTRUCTION)
    assert not result.ok and result.actions is None
    assert result.status in ('bad_prefix', 'no_end_marker', 'not_fast_token')
    assert result.error and len(result.tokens) <= 12


def test_progress_and_warmup(scripted_dir):
    calls = []
    policy = Pi0FastPolicy.from_pretrained(scripted_dir,
                                           progress=lambda f, m: calls.append((f, m)))
    fractions = [f for f, _ in calls]
    assert fractions == sorted(fractions) and fractions[-1] == 1.0
    assert any('weights' in m for _, m in calls)
    assert policy.warmup(iterations=1).ok


@pytest.mark.parametrize('change,match', [
    ({'state': np.array([0, 0, np.nan, 0, 0, 0])}, r'non-finite values at indices \[2\]'),
    ({'state': np.array([0, np.inf, 0, 0, 0, -np.inf])}, r'non-finite .* \[1, 5\]'),
    ({'state': np.zeros(5)}, r'shape \(6,\)'),
    ({'state': np.zeros((1, 6))}, r'shape \(6,\)'),
    ({'state': np.array(['a'] * 6)}, 'real number vector'),
    ({'instruction': ''}, 'instruction is empty'),
    ({'instruction': ' \n '}, 'instruction is empty'),
    ({'instruction': None}, 'instruction must be a string'),
    ({'instruction': 'pick ' * 300}, 'instruction too long'),
    ({'images': {'top': np.zeros((10, 10, 3), np.float32)}}, 'dtype uint8'),
    ({'images': {'top': np.zeros((10, 10, 4), np.uint8)}}, 'HxWx3'),
    ({'images': {'top': np.zeros((10, 10), np.uint8)}}, 'HxWx3'),
    ({'images': {'side': np.zeros((10, 10, 3), np.uint8)}}, "unknown camera slot 'side'"),
    ({'images': {'top': None, 'wrist': None}}, 'no camera image'),
    ({'images': {}}, 'no camera image'),
    ({'images': [np.zeros((10, 10, 3), np.uint8)]}, 'must be a dict'),
    ({'images': {'top': np.zeros((9, 9, 3), np.uint8),
                 'observation.images.top': np.zeros((9, 9, 3), np.uint8)}}, 'given twice'),
])
def test_invalid_observations_are_refused(policy, change, match):
    obs = {'images': frames(), 'state': np.zeros(6), 'instruction': INSTRUCTION, **change}
    with pytest.raises(InvalidObservationError, match=match):
        policy.infer(**obs)


def test_loading_refuses_bad_processor_files(scripted_dir, tmp_path):
    from pi0fast_ros.core.policy.normalize import NormalizerError
    from safetensors.torch import save_file
    bad = tmp_path / 'bad'
    shutil.copytree(scripted_dir, bad)
    stats_file = bad / 'policy_postprocessor_step_0_unnormalizer_processor.safetensors'
    stats = load_file(str(stats_file))
    stats['action.mean'] = torch.zeros(4)
    stats['action.std'] = torch.ones(4)
    save_file(stats, str(stats_file))
    with pytest.raises(NormalizerError, match='action stats have length 4, the config says 6'):
        Pi0FastPolicy.from_pretrained(bad)
    (bad / 'policy_postprocessor.json').unlink()
    with pytest.raises(NormalizerError, match='cannot read .*policy_postprocessor.json'):
        Pi0FastPolicy.from_pretrained(bad)


def test_cpu_robot_mode_is_compact_and_gives_exact_modes_tokens(tmp_path):
    # Random fp32 weights (no "|" expected): 256 tokens per observation, compared with the
    # bit-exact LeRobot layout, for 2 cameras, a missing camera and prompts of other lengths.
    path = make_random_checkpoint(tmp_path, seed=6)
    fast = Pi0FastPolicy.from_pretrained(path, max_decoding_steps=256, stop_at_end_marker=False)
    exact = Pi0FastPolicy.from_pretrained(path, max_decoding_steps=256, stop_at_end_marker=False,
                                          engine_mode='exact')
    assert (fast.engine.mode, exact.engine.mode) == ('compact', 'exact')
    obs = frames(7)
    for images, instruction in [(obs, INSTRUCTION), ({'top': obs['top']}, 'stack'),
                                ({'wrist': obs['observation.images.wrist']}, INSTRUCTION * 3)]:
        state = np.linspace(-1.0, 2.0, 6)
        a, b = fast.infer(images, state, instruction), exact.infer(images, state, instruction)
        assert len(a.tokens) == 256 and a.tokens.tolist() == b.tokens.tolist()
        assert len(set(a.tokens.tolist())) > 20
