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
The warm-up self-check (selfcheck.py) on the engine's real classes.

Faults are injected where the CUDA graph step plugs in (`Pi0FastEngine.step_class`, a
StaticStep subclass): the engine, the cache, the check and the reference are the real ones.
"""

import pathlib

from model_helpers import load_tiny, make_inputs, single_torch_thread, SMALL  # noqa: F401
import numpy as np
from pi0fast_ros.core.model import Pi0FastEngine
from pi0fast_ros.core.model import selfcheck
from pi0fast_ros.core.model.decode import StaticStep
from pi0fast_ros.core.policy.facade import Pi0FastPolicy
from pi0fast_ros.testing import synthetic_task as task
from pi0fast_ros.testing.training_data import FrameRenderer
import pytest
import torch

DEMO = pathlib.Path(__file__).resolve().parents[2] / 'demo' / 'so100_synthetic'


class StaleStepBuffer(StaticStep):
    """A classic CUDA-graph bug: the step index buffer is never refreshed before replay."""

    def __call__(self, token, t):
        self.token.copy_(token)
        return self.replay()


class FailedCapture(StaticStep):
    """Capture that raises, as torch.cuda.graph does for an op not allowed while capturing."""

    def __init__(self, model, state):
        raise RuntimeError('operation not permitted when stream is capturing')


class SlightlyOff(StaticStep):
    """Hidden states off by 1 % (a kernel with the wrong rounding/precision)."""

    def replay(self):
        return super().replay() * 1.01


class CountingStep(StaticStep):
    """A correct step that records when it was built (to check when capture happens)."""

    built = []

    def __init__(self, model, state):
        super().__init__(model, state)
        CountingStep.built.append(state.key())


@pytest.fixture(scope='module')
def tiny(tmp_path_factory):
    ckpt, _ = load_tiny(tmp_path_factory.mktemp('ckpt'), seed=31)
    return ckpt.model, make_inputs(SMALL, 1, 2, (30,), seed=31)


def _verify(engine, inputs, steps=24):
    return selfcheck.verify(engine, *inputs, steps)


@pytest.mark.parametrize('mode', ['compact', 'static'])
def test_a_matching_production_path_is_kept(tiny, mode):
    model, inputs = tiny
    engine = Pi0FastEngine(model, mode=mode)
    result = _verify(engine, inputs)
    assert result.ok, result.reason
    assert engine.mode == mode and engine.path == mode
    assert result.steps == 24 and result.max_logit_diff <= selfcheck.TOLERANCE[torch.float32]
    assert selfcheck.describe(engine).startswith(f'{mode}: verified against exact')


@pytest.mark.parametrize('fault,expect', [
    (StaleStepBuffer, 'tokens differ at step'),
    (SlightlyOff, 'logits out of tolerance'),
    (FailedCapture, 'raised RuntimeError: operation not permitted when stream is capturing'),
])
def test_a_broken_production_step_falls_back_to_exact_with_the_reason(tiny, fault, expect):
    model, inputs = tiny
    engine = Pi0FastEngine(model, mode='static')
    engine.step_class = fault
    result = _verify(engine, inputs)
    assert not result.ok and expect in result.reason
    assert engine.mode == 'exact' and not engine.cuda_graph
    described = selfcheck.describe(engine)
    assert described.startswith('exact: fallback: static failed the warm-up check')
    assert expect in described
    # ... and it keeps running, on the parity path: the same tokens as a fresh exact engine.
    after = engine.generate(*inputs, 24)
    want = Pi0FastEngine(model, mode='exact').generate(*inputs, 24)
    assert torch.equal(after.tokens, want.tokens)


def test_the_stale_step_fault_really_changes_tokens(tiny):
    # Guards the test above: the injected fault is a real fault, not a no-op.
    model, inputs = tiny
    engine = Pi0FastEngine(model, mode='static')
    engine.step_class = StaleStepBuffer
    broken = engine.generate(*inputs, 24).tokens
    good = Pi0FastEngine(model, mode='static').generate(*inputs, 24).tokens
    assert not torch.equal(broken, good)


def test_exact_mode_needs_no_check(tiny):
    model, inputs = tiny
    engine = Pi0FastEngine(model, mode='exact')
    result = _verify(engine, inputs)
    assert result.ok and result.steps == 0
    assert selfcheck.describe(engine) == 'exact: the parity path itself (nothing to check)'


def test_the_step_is_built_when_the_state_is_allocated_not_at_the_first_step(tiny):
    model, inputs = tiny
    engine = Pi0FastEngine(model, mode='static')
    engine.step_class = CountingStep
    CountingStep.built.clear()
    out = engine.generate(*inputs, 1)   # prefill only: no decode step runs
    assert out.tokens.shape[1] == 1
    assert CountingStep.built == [engine._state.key()]
    engine.generate(*inputs, 1)         # same configuration: no new capture
    assert len(CountingStep.built) == 1


def test_stop_token_and_lengths_are_compared(tiny):
    model, inputs = tiny
    exact = Pi0FastEngine(model, mode='exact').generate(*inputs, 24)
    stop = int(exact.tokens[0, 5])  # a token the model emits: the check stops there
    engine = Pi0FastEngine(model, mode='compact')
    result = selfcheck.verify(engine, *inputs, 24, stop_token_id=stop)
    first = int((exact.tokens[0] == stop).float().argmax()) + 1
    assert result.ok and result.steps == first


def _demo_observation(seed=3):
    """Return fake-robot frames of a random workspace state, as the demo model was trained on."""
    renderer = FrameRenderer((('front', 'side'), ('wrist', 'wrist')), task.SO100_JOINT_NAMES)
    state = task.sample_states(np.random.default_rng(seed), 1).astype(np.float32)[0]
    return dict(zip(renderer.slots, renderer.frames(state))), state, task.INSTRUCTIONS[0]


def test_the_facade_warm_up_verifies_its_default_path():
    policy = Pi0FastPolicy.from_pretrained(DEMO)    # 'compact' on CPU
    assert policy.engine_path == 'compact: selected; not checked against exact'
    assert policy.warmup(iterations=0) is None
    assert policy.engine.mode == 'compact'
    assert policy.engine_path.startswith('compact: verified against exact at warm-up (')


def test_the_facade_falls_back_and_keeps_acting_like_exact():
    policy = Pi0FastPolicy.from_pretrained(DEMO, engine_mode='static')
    policy.engine.step_class = StaleStepBuffer
    assert policy.warmup(iterations=1) is not None
    assert policy.engine.mode == 'exact'
    assert policy.engine_path.startswith('exact: fallback: static failed the warm-up check '
                                         'against exact: ')
    assert 'tokens differ at step' in policy.engine_path
    exact = Pi0FastPolicy.from_pretrained(DEMO, engine_mode='exact')
    got, want = policy.infer(*_demo_observation()), exact.infer(*_demo_observation())
    assert got.ok and want.ok
    assert np.array_equal(got.tokens, want.tokens) and np.array_equal(got.actions, want.actions)


def _result(logits):
    """Return a GenerateResult whose tokens are the argmax of `logits` [1, n, V] (no stop)."""
    from pi0fast_ros.core.model.engine import GenerateResult
    tokens = logits.argmax(dim=-1)
    return GenerateResult(tokens, torch.tensor([tokens.shape[1]]), False, {}, logits)


def _tie_at(step, gap, n=20, vocab=50, seed=0):
    """Exact logits with its top-2 `gap` apart at `step`; production = the same, top-2 swapped."""
    gen = torch.Generator().manual_seed(seed)
    want = torch.randn(1, n, vocab, generator=gen) * 3
    want[0, :, 7] = 12.0                     # a clear winner everywhere ...
    want[0, step, 9] = 12.0 - gap            # ... but a runner-up `gap` below it at `step`
    got = want.clone()
    got[0, step, 9] = 12.0 + gap / 2         # production's sums put the runner-up ahead
    got[0, step + 1:] = torch.randn(1, n - step - 1, vocab, generator=gen)   # then diverge
    return _result(got), _result(want)


@pytest.mark.parametrize('step,gap,ok,text', [
    (12, 0.05, True, '12 tokens equal, then a near tie at step 12'),
    (12, 2.0, False, "tokens differ at step 12 (row 0): 9 vs exact's 7"),
    (3, 0.05, False, 'inconclusive: 3 tokens equal, then a near tie at step 3'),
])
def test_a_token_may_differ_only_at_a_near_tie_after_enough_steps(step, gap, ok, text):
    # largest |logit| 12 (+ noise): an fp32 band of 1e-4 x ~12; bf16's 5e-2 x ~12 = ~0.6
    got, want = _tie_at(step, gap)
    want.logits, got.logits = want.logits.bfloat16(), got.logits.bfloat16()
    result = selfcheck._judge('static', got, want, selfcheck.TOLERANCE[torch.bfloat16])
    assert result.ok is ok and text in result.reason, result.reason


def test_bf16_compaction_on_the_demo_model_passes_through_its_near_tie():
    # The demo model in bf16 meets a near tie after ~13 tokens of the warm-up observation
    # (compact and exact round differently there): not a fault, so no fallback.
    policy = Pi0FastPolicy.from_pretrained(DEMO, dtype='bfloat16')
    policy.warmup(iterations=0)
    assert policy.engine.mode == 'compact', policy.engine_path
