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
Warm-up self-check: the production decode path against the eager parity path ('exact').

Every mode but 'exact' runs code that differs from LeRobot's layout: the compacted prefix
('compact', 'static'), the fixed-shape step ('static') and its CUDA graph ('static' on CUDA),
which has never run where it was written. `verify` runs one observation through the engine as
configured and through a fresh 'exact' engine on the same weights (greedy, same stop rule) and
compares:
- the logits each token was chosen from: max |production - exact| at most TOLERANCE[dtype]
  times the largest |exact logit| (the modes differ only in float summation order: measured
  <= 3e-6 relative in fp32, 0.3-1.2 % in bf16 on random and the demo weights on CPU; the
  tolerances are 4-30x that; a hidden state off by 1 % fails in fp32, test_selfcheck.py);
- the tokens: equal up to and including each row's stop token, and the same lengths. A token
  may differ only at a near tie: where exact's own top-2 logits are within the tolerance of
  each other, either pick is right (bf16 sums round differently), so the comparison ends
  there, after at least MIN_STEPS equal tokens (fewer: inconclusive, which fails).
If anything differs, or the production path raises (a failed CUDA graph capture), the engine
falls back to 'exact' for good (`Pi0FastEngine.fall_back`) and the reason is kept in
`engine.path_reason`; `describe(engine)` is the one-line `engine_path` the node reports.
"""

import dataclasses
import logging

import torch

from .engine import Pi0FastEngine

_log = logging.getLogger(__name__)

# Largest |production - exact| logit difference, relative to the largest |exact logit|.
TOLERANCE = {torch.float32: 1e-4, torch.float16: 1e-2, torch.bfloat16: 5e-2}
# A token may differ only where exact's top-2 logits are within the tolerance of each other (a
# near tie either path may break), and only after this many equal tokens.
MIN_STEPS = 8


@dataclasses.dataclass
class CheckResult:
    """Outcome of one production-vs-exact comparison."""

    path: str                     # the production path checked ('compact', 'static+cuda_graph')
    ok: bool
    reason: str                   # what was compared and found, in words
    steps: int = 0                # tokens compared per row
    max_logit_diff: float = float('nan')   # relative to the largest |exact logit|
    tolerance: float = float('nan')


def describe(engine):
    """Return '<path>: <why>' for /diagnostics and chunk_info (key `engine_path`)."""
    return f'{engine.path}: {engine.path_reason}'


def verify(engine, images, img_masks, tokens, masks, max_steps, **generate_kwargs):
    """
    Check the engine's production path against 'exact'; fall back to 'exact' on a mismatch.

    Inputs as Pi0FastEngine.generate (one observation; generate_kwargs: stop_token_id,
    allowed_token_ids, constrain_after; greedy always). Returns the CheckResult; afterwards
    the engine runs either the verified production path or 'exact', and says which and why.
    """
    if engine.mode == 'exact':
        engine.path_reason = 'the parity path itself (nothing to check)'
        return CheckResult(engine.path, True, engine.path_reason)
    result = compare(engine, (images, img_masks, tokens, masks), max_steps, **generate_kwargs)
    if result.ok:
        engine.path_reason = f'verified against exact at warm-up ({result.reason})'
        _log.info('engine path %s %s', engine.path, engine.path_reason)
    else:
        engine.fall_back(f'{result.path} failed the warm-up check against exact: '
                         f'{result.reason}')
    return result


def compare(engine, inputs, max_steps, **generate_kwargs):
    """Run `engine` and a fresh 'exact' engine on the same inputs -> CheckResult (no fallback)."""
    path = engine.path
    kwargs = dict(generate_kwargs, temperature=0.0, return_logits=True)
    try:
        production = engine.generate(*inputs, max_steps, **kwargs)
    except Exception as exc:  # capture or kernel failure: the production path is unusable
        return CheckResult(path, False, f'{path} raised {type(exc).__name__}: {exc}')
    reference = Pi0FastEngine(engine.model, bos_token_id=engine.bos_token_id,
                              max_action_tokens=engine.max_action_tokens, mode='exact',
                              batch_cameras=engine.batch_cameras)
    expected = reference.generate(*inputs, max_steps, **kwargs)
    del reference  # its cache
    tolerance = TOLERANCE.get(engine.model.compute_dtype, TOLERANCE[torch.bfloat16])
    return _judge(path, production, expected, tolerance)


def _judge(path, production, expected, tolerance):
    """Compare two GenerateResults (with logits) -> CheckResult."""
    steps = int(expected.lengths.max())
    n = min(steps, production.tokens.shape[1])
    differs = (production.tokens[:, :n] != expected.tokens[:, :n]).any(dim=0)
    first = int(differs.float().argmax()) if bool(differs.any()) else None
    upto = n if first is None else first + 1   # steps fed the same tokens in both paths
    a, b = production.logits[:, :upto].float(), expected.logits[:, :upto].float()
    finite = torch.isfinite(b)
    if not torch.equal(torch.isfinite(a), finite):
        return CheckResult(path, False, "the production logits are non-finite where exact's "
                           'are finite (or the reverse)', upto, tolerance=tolerance)
    scale = float(b[finite].abs().max()) if bool(finite.any()) else 0.0
    diff = float((a[finite] - b[finite]).abs().max()) if bool(finite.any()) else 0.0
    relative = diff / scale if scale > 0 else diff
    figures = (f'max |logit difference| {diff:.3g} = {relative:.2g} of the largest |logit|, '
               f'tolerance {tolerance:g}')
    if not relative <= tolerance:  # NaN fails too
        where = f'over {upto} steps'
        if first is not None:
            where += f'; {_token_mismatch(production, expected)}'
        return CheckResult(path, False, f'logits out of tolerance: {figures} {where}', upto,
                           relative, tolerance)
    if first is None:
        if n < steps or not torch.equal(production.lengths, expected.lengths):
            return CheckResult(path, False, _token_mismatch(production, expected), n,
                               relative, tolerance)
        return CheckResult(path, True, f'{steps} tokens equal; {figures}', steps, relative,
                           tolerance)
    return _near_tie(path, production, expected, first, tolerance * scale, relative,
                     tolerance, figures)


def _near_tie(path, production, expected, step, band, relative, tolerance, figures):
    """Judge a token that differs at `step`: a pass only where exact's top-2 are within band."""
    rows = (production.tokens[:, step] != expected.tokens[:, step]).nonzero()[:, 0].tolist()
    margins = [_margin(expected, row, step) for row in rows]
    if max(margins) > band:
        return CheckResult(path, False, _token_mismatch(production, expected), step,
                           relative, tolerance)
    tie = (f"then a near tie at step {step} (exact's top-2 logits {max(margins):.3g} apart, "
           f'within the tolerance {band:.3g}) where the paths may pick either token')
    if step < MIN_STEPS:
        return CheckResult(path, False, f'inconclusive: {step} tokens equal, {tie}; fewer than '
                           f'{MIN_STEPS} compared', step, relative, tolerance)
    return CheckResult(path, True, f'{step} tokens equal, {tie}; {figures}', step, relative,
                       tolerance)


def _margin(result, row, step):
    top2 = result.logits[row, step].float().topk(2).values
    return float(top2[0] - top2[1])


def _token_mismatch(production, expected):
    """Describe where the token sequences first differ, with exact's top-2 margin there."""
    n = min(production.tokens.shape[1], expected.tokens.shape[1])
    differs = (production.tokens[:, :n] != expected.tokens[:, :n]).any(dim=0)
    if not bool(differs.any()):
        return (f"lengths differ: {production.lengths.tolist()} tokens vs exact's "
                f'{expected.lengths.tolist()}')
    step = int(differs.float().argmax())
    row = int((production.tokens[:, step] != expected.tokens[:, step]).float().argmax())
    return (f'tokens differ at step {step} (row {row}): {int(production.tokens[row, step])} '
            f"vs exact's {int(expected.tokens[row, step])}; exact's top-2 logit margin there "
            f'{_margin(expected, row, step):.3g}')
