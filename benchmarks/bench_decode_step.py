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
Where a CPU decode step's time goes, on PaliGemma's full 257,152-token vocabulary.

bench_engine.py's CPU model (width 512, 6 layers) with --vocab tokens (default 257152): decode
ms/token of LeRobot's growing-cache loop and of the engine ('exact', 'compact', and 'compact'
with logits over 2,048 allowed ids, the policy's `constrained` option), then the parts of one
'compact' step: the decoder layers, the LM head over the full vocabulary and over 2,048 rows,
the argmax, and the per-token stop check (a stop id never emitted vs none: one host sync per
step). Every figure is the MINIMUM over --repeats interleaved runs: on a shared machine the
minimum is the uncontended time (these steps are memory-bound and deterministic), a median
mixes in other processes. Short: ~1-3 minutes on 2 shared cores.

    python benchmarks/bench_decode_step.py [--vocab 257152] [--tokens 16] [--repeats 5]
"""

import argparse
import dataclasses
import os
import time

from bench_engine import CPU_ARCH, engine_run, growing_run, inputs
from pi0fast_ros.core.model import Pi0FastEngine
from pi0fast_ros.core.model.decode import step_exact
from pi0fast_ros.core.model.perf import weight_stream_bound
from pi0fast_ros.core.policy.checkpoint import build_model, init_random_weights
import torch


def minimum(repeats, **runs):
    """Run every fn once per round, interleaved -> {name: min of its results}."""
    best = {name: float('inf') for name in runs}
    for _ in range(repeats):
        for name, fn in runs.items():
            best[name] = min(best[name], fn())
    return best


def timed_ms(fn, inner=5):
    """Mean ms of `inner` back-to-back calls of fn (one sample)."""
    t0 = time.perf_counter()
    for _ in range(inner):
        fn()
    return (time.perf_counter() - t0) * 1e3 / inner


def main():
    parser = argparse.ArgumentParser(description=__doc__.split('\n\n')[0])
    parser.add_argument('--vocab', type=int, default=257152)
    parser.add_argument('--tokens', type=int, default=16)
    parser.add_argument('--repeats', type=int, default=5)
    parser.add_argument('--threads', type=int, default=1)
    opts = parser.parse_args()
    torch.set_num_threads(opts.threads)
    arch = dataclasses.replace(CPU_ARCH, vocab_size=opts.vocab)
    model = build_model(init_random_weights(arch, seed=0), arch)
    args, steps = inputs(arch, 1, 'cpu', prompt=20), opts.tokens
    with torch.inference_mode():
        report(model, args, steps, opts)


def report(model, args, steps, opts):
    """Measure and print everything (see the module docstring)."""
    arch = model.arch
    exact, compact = Pi0FastEngine(model, mode='exact'), Pi0FastEngine(model, mode='compact')
    first = compact.generate(*args, steps)
    exact.generate(*args, 2)
    never = max(set(range(arch.vocab_size)) - set(first.tokens[0].tolist()))
    allowed = list(range(arch.vocab_size - 2048, arch.vocab_size))
    per_token = minimum(
        opts.repeats,
        grow=lambda: growing_run(model, args, steps)['per_token'],
        exact=lambda: engine_run(exact, args, steps)['per_token'],
        compact=lambda: engine_run(compact, args, steps)['per_token'],
        stop_check=lambda: engine_run(compact, args, steps, stop_token_id=never)['per_token'],
        constrained=lambda: engine_run(compact, args, steps, allowed_token_ids=allowed,
                                       constrain_after=0)['per_token'])
    # The parts of one 'compact' step, on the state the last full run left (step 2 of it).
    state, token = compact._state, first.tokens[:, :1]
    hidden = step_exact(model, state, token, 1)
    table = model.output_table
    rows = table[-2048:].contiguous()
    logits = model.lm_head(hidden)[:, -1]
    parts = minimum(
        opts.repeats,
        layers=lambda: timed_ms(lambda: step_exact(model, state, token, 1)),
        head=lambda: timed_ms(lambda: model.lm_head(hidden)),
        head_2048=lambda: timed_ms(lambda: torch.nn.functional.linear(hidden, rows)),
        argmax=lambda: timed_ms(lambda: torch.argmax(logits, dim=-1, keepdim=True)),
        sync=lambda: timed_ms(lambda: bool((logits[:, :1] == never).all()), inner=200))
    head_mb = table.numel() * table.element_size() / 1e6
    megabytes, bound = weight_stream_bound(model, 'cpu')
    print(f'CPU, fp32, {torch.get_num_threads()} thread(s), load {os.getloadavg()[0]:.1f}; '
          f'vocabulary {arch.vocab_size}: {model.num_parameters() / 1e6:.0f} M params, a '
          f'decode step reads {megabytes:.0f} MB ({head_mb:.0f} MB of it the LM head); one '
          f'streaming read of that takes {bound:.1f} ms here. Minimum of {opts.repeats} runs '
          f'of {steps} tokens.')
    base = per_token['grow']
    for name, label in (('grow', 'growing-cache loop (LeRobot)'), ('exact', "engine 'exact'"),
                        ('compact', "engine 'compact'"),
                        ('constrained', "'compact', logits over 2048 ids")):
        print(f'  {label:<34} decode {per_token[name]:8.2f} ms/token  '
              f'{per_token[name] / base:5.2f}x growing  {per_token[name] / bound:5.2f}x bound')
    step = parts['layers'] + parts['head'] + parts['argmax']
    print(f"  parts of a 'compact' step: decoder layers {parts['layers']:.2f} ms, LM head "
          f"{parts['head']:.2f} ms ({parts['head'] / step:.0%} of the step), argmax "
          f"{parts['argmax']:.2f} ms; LM head over 2048 rows {parts['head_2048']:.3f} ms")
    stop_us = 1e3 * (per_token['stop_check'] - per_token['compact'])
    print(f'  stop check: {stop_us:+.0f} us/token in a decode (a never-emitted stop id vs '
          f"none); the host sync itself {parts['sync'] * 1e3:.1f} us")


if __name__ == '__main__':
    main()
