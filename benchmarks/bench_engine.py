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
PI0-FAST engine benchmark: engine modes vs LeRobot's growing-cache loop vs full recompute.

One run, the same random weights for every method. Figures are medians over --repeats rounds
(methods interleaved within a round), each shown with its ratio to the baseline measured in the
same run. On a shared machine prefer --threads 1: idle OpenMP workers waiting for CPU time
distort multi-threaded timings far more than single-threaded ones.
  1. CPU-sized model (fp32, or --dtype bfloat16), for 1, 2 and 3 cameras and a realistic
     prompt (--prompt valid tokens of 200): prefill ms, decode ms/token and chunk ms (--steps
     tokens) for the growing-cache loop (LeRobot 0.4.4's strategy on our layers, the
     baseline) and the engine in modes
     'exact' (LeRobot's prefix layout), 'compact' (pad slots dropped) and 'static' (compacted,
     fixed-shape steps); the full-recompute reference over --ref-steps tokens (first camera
     count only: it is quadratic). Target: engine decode ms/token <= 0.8x the growing loop.
     Also the weight-streaming bound: the time one streaming read of the bytes a decode step
     reads takes on the same threads (the hardware limit for a memory-bound step), the
     per-token cost of checking for the stop token (a host sync per step: a stop id that is
     never emitted vs no stop id) and 'compact' with logits over 2,048 allowed ids (the
     policy's `constrained` option). --vocab 257152 gives the model PaliGemma's vocabulary
     (default 16384): the LM head then dominates a CPU decode step.
  2. For each method, chunk latency with the stop at the end marker after ~40 tokens vs
     decoding all --steps tokens. Target: >= 5x faster.
  3. With CUDA: gemma_2b-sized random weights in bf16, 3 cameras: prefill, decode ms/token,
     50-token chunk, peak GPU memory; CUDA-graph engine vs eager static steps vs growing loop.
     Targets (H100): decode <= 1.5 ms/token, 50-token chunk <= 100 ms, memory <= 7.5 GB.

Usage: python benchmarks/bench_engine.py [--steps 256] [--repeats 3] [--threads N]
       [--cameras 1 2 3] [--prompt 50] [--ref-steps 8] [--vocab 16384] [--no-cpu]
"""

import argparse
import dataclasses
import os
import statistics
import time

from pi0fast_ros.core.model import ArchConfig, Pi0FastEngine, VARIANTS
from pi0fast_ros.core.model.perf import weight_stream_bound
from pi0fast_ros.core.policy.checkpoint import build_model, init_random_weights
from pi0fast_ros.testing.growing_cache import generate_growing
from pi0fast_ros.testing.reference_model import reference_generate
import torch

# Proportions of gemma_2b scaled down (the LM head is ~1/5 of the decode weights, head_dim 256,
# one KV head), small enough for a laptop CPU: ~60 M parameters.
CPU_ARCH = ArchConfig(width=512, depth=6, mlp_dim=4096, num_heads=8, num_kv_heads=1,
                      head_dim=256, vocab_size=16384, vision_width=192, vision_depth=4,
                      vision_mlp_dim=768, vision_heads=3)


def inputs(arch, cameras, device, seed=0, prompt=48):
    """LeRobot-convention inputs: N cameras, one row, a prompt of `prompt` tokens of 200."""
    gen = torch.Generator().manual_seed(seed)
    size = arch.image_size
    images = [(torch.rand(1, 3, size, size, generator=gen) * 2 - 1).to(device)
              for _ in range(cameras)]
    img_masks = [torch.ones(1, dtype=torch.bool, device=device) for _ in range(cameras)]
    tokens = torch.zeros(1, 200, dtype=torch.long)
    tokens[0, :prompt] = torch.randint(3, arch.vocab_size, (prompt,), generator=gen)
    tokens[0, 0] = 2
    masks = torch.zeros(1, 200, dtype=torch.bool)
    masks[0, :prompt] = True
    return images, img_masks, tokens.to(device), masks.to(device)


def interleaved(repeats, **runs):
    """
    Run every fn once per round, `repeats` rounds -> {name: {key: median}}.

    Interleaving exposes each method to the same load changes of a shared machine.
    """
    results = {name: [] for name in runs}
    for _ in range(repeats):
        for name, fn in runs.items():
            results[name].append(fn())
    return {name: {k: statistics.median(r[k] for r in rs) for k in rs[0]}
            for name, rs in results.items()}


def engine_run(engine, args, steps, **kwargs):
    result = engine.generate(*args, steps, **kwargs)
    t = result.timings
    return {'prefill': t['prefill_ms'], 'per_token': t['decode_ms_per_token'],
            'chunk': t['total_ms'], 'steps': t['steps']}


def growing_run(model, args, steps):
    timings = {}
    generate_growing(model, *args, steps, timings=timings)
    return {'prefill': timings['prefill_ms'], 'per_token': timings['decode_ms'] / (steps - 1),
            'chunk': timings['prefill_ms'] + timings['decode_ms'], 'steps': steps}


def reference_run(weights, arch, args, steps, dtype):
    """Full recompute: step 0 is the 'prefill', later steps the per-token cost."""
    t0 = time.perf_counter()
    reference_generate(weights, arch, *args, 1, dtype=dtype)
    t1 = time.perf_counter()
    reference_generate(weights, arch, *args, steps, dtype=dtype)
    t2 = time.perf_counter()
    prefill = (t1 - t0) * 1e3
    per_token = ((t2 - t1) * 1e3 - prefill) / (steps - 1)
    return {'prefill': prefill, 'per_token': per_token, 'chunk': (t2 - t1) * 1e3,
            'steps': steps}


def row(name, r, base):
    ratio = r['per_token'] / base['per_token']
    print(f'  {name:<34} prefill {r["prefill"]:9.1f} ms   decode {r["per_token"]:8.2f} ms/token'
          f' ({ratio:5.2f}x growing)   chunk {r["chunk"]:10.1f} ms / {r["steps"]} tokens')


def find_stop(tokens, around=40):
    """Find a token first emitted at a step s >= around-1 (the stand-in for '|') -> (id, s)."""
    seen = set(tokens[:around - 1])
    for step in range(around - 1, len(tokens)):
        if tokens[step] not in seen:
            return tokens[step], step
        seen.add(tokens[step])
    raise RuntimeError('no fresh token after step 40; use another seed')


def bench_cpu(opts):
    arch, steps = dataclasses.replace(CPU_ARCH, vocab_size=opts.vocab), opts.steps
    weights = init_random_weights(arch, seed=0)
    model = build_model(weights, arch, dtype=opts.dtype)
    n_params = model.num_parameters() / 1e6
    print(f'CPU, {opts.dtype}, {torch.get_num_threads()} threads, load {os.getloadavg()[0]:.1f}: '
          f'{n_params:.0f} M params, prompt {opts.prompt} valid tokens of 200, {steps} tokens, '
          f'medians of {opts.repeats} interleaved rounds')
    megabytes, bound = weight_stream_bound(model, 'cpu')
    print(f'weight-streaming bound: a decode step reads {megabytes:.0f} MB of weights; one '
          f'streaming read of that many bytes takes {bound:.1f} ms here '
          f'({megabytes / bound:.1f} GB/s)')
    for cameras in opts.cameras:
        bench_cameras(opts, model, weights, cameras, bound)


def bench_cameras(opts, model, weights, cameras, bound):
    """Every method on one camera count: full chunk and the stop after ~40 tokens."""
    arch, steps = model.arch, opts.steps
    args = inputs(arch, cameras, 'cpu', prompt=opts.prompt)
    engines = {mode: Pi0FastEngine(model, mode=mode) for mode in ('exact', 'compact', 'static')}
    full = {mode: e.generate(*args, steps) for mode, e in engines.items()}  # + warm-up
    same = all(torch.equal(r.tokens, full['exact'].tokens) for r in full.values())
    generate_growing(model, *args, 4)
    # The stand-in for "|" is found in each mode's own tokens: in bf16 the modes' sums differ
    # in rounding, so their token sequences (and the step of a fresh token) may differ.
    stops = {mode: find_stop(r.tokens[0].tolist()) for mode, r in full.items()}
    step = stops['exact'][1]
    runs = {'grow': lambda: growing_run(model, args, steps),
            'grow_stop': lambda: growing_run(model, args, step + 1)}
    for mode, engine in engines.items():
        runs[mode] = lambda e=engine: engine_run(e, args, steps)
        runs[mode + '_stop'] = lambda e=engine, m=mode: engine_run(
            e, args, steps, stop_token_id=stops[m][0])
    never = max(set(range(arch.vocab_size)) - set(full['compact'].tokens[0].tolist()))
    runs['sync'] = lambda: engine_run(engines['compact'], args, steps, stop_token_id=never)
    allowed = list(range(arch.vocab_size - 2048, arch.vocab_size))
    runs['constrained'] = lambda: engine_run(engines['compact'], args, steps,
                                             allowed_token_ids=allowed)
    r = interleaved(opts.repeats, **runs)
    compacted = cameras * arch.tokens_per_image + opts.prompt + 1
    print(f'\n{cameras} camera(s): prefix {cameras * arch.tokens_per_image + 201} slots, '
          f'compacted {compacted}; tokens of compact/static == exact over {steps} steps: {same}')
    names = {'grow': 'growing-cache loop (LeRobot)', 'exact': "engine, mode='exact'",
             'compact': "engine, mode='compact'", 'static': "engine, mode='static'"}
    for key, name in names.items():
        row(name, r[key], r['grow'])
    print(f'  stop at the end marker after {step + 1} tokens vs {steps} tokens '
          '(chunk ms, ratio; target >= 5):')
    for key, name in names.items():
        whole, stopped = r[key], r[key + '_stop']
        print(f'    {name:<32} {stopped["chunk"]:9.1f} ms vs {whole["chunk"]:9.1f} ms -> '
              f'{whole["chunk"] / stopped["chunk"]:5.2f}x   (prefill = '
              f'{stopped["prefill"] / whole["per_token"]:5.1f} decode steps; stopped after '
              f'{stopped["steps"]:.0f} tokens)')
    row("engine, 'compact', logits over 2048 ids", r['constrained'], r['grow'])
    print('  per-token check for a stop id that never comes (one host sync per step): '
          f"{r['sync']['per_token'] - r['compact']['per_token']:+.3f} ms/token "
          f"({r['sync']['per_token']:.2f} vs {r['compact']['per_token']:.2f} without a stop id)")
    if cameras == opts.cameras[0] and opts.ref_steps:
        ref = reference_run(weights, arch, args, opts.ref_steps, getattr(torch, opts.dtype))
        row(f'full-recompute reference ({opts.ref_steps} tok)', ref, r['grow'])
    print(f"  -> decode ms/token: exact {r['exact']['per_token'] / r['grow']['per_token']:.2f}x"
          f", compact {r['compact']['per_token'] / r['grow']['per_token']:.2f}x growing loop "
          f"(target <= 0.8); compact prefill {r['compact']['prefill']:.0f} ms vs exact "
          f"{r['exact']['prefill']:.0f} ms; compact decode = "
          f"{r['compact']['per_token'] / bound:.2f}x the weight-streaming bound")


def cuda_model():
    """gemma_2b-sized random weights in bf16 on CUDA, 3-camera inputs -> (model, args)."""
    arch, device = VARIANTS['gemma_2b'], torch.device('cuda')
    weights = init_random_weights(arch, seed=0, dtype='bfloat16', device=device)
    model = build_model(weights, arch, dtype='bfloat16', device=device)
    del weights
    torch.cuda.empty_cache()
    return model, inputs(arch, 3, device)


def cuda_figures(model, args, repeats, tokens=50):
    """
    Graph engine vs eager static steps vs growing loop -> {name: medians}, bound, peak memory.

    Also 'sync': the graph engine with a stop id it never emits (the per-token host sync).
    """
    device = model.device
    megabytes, bound = weight_stream_bound(model, device)
    torch.cuda.empty_cache()
    torch.cuda.reset_peak_memory_stats()  # weights counted, the bound's buffer not
    engine = Pi0FastEngine(model)  # static mode + CUDA graph
    first = engine.generate(*args, tokens)     # warm-up incl. graph capture
    never = max(set(range(model.arch.vocab_size)) - set(first.tokens[0].tolist()))
    eager = Pi0FastEngine(model, cuda_graph=False)
    eager.generate(*args, 8)
    r = interleaved(repeats, graph=lambda: engine_run(engine, args, tokens),
                    plain=lambda: engine_run(eager, args, tokens),
                    grow=lambda: growing_run(model, args, tokens),
                    sync=lambda: engine_run(engine, args, tokens, stop_token_id=never))
    r['bound'] = {'megabytes': megabytes, 'ms': bound}
    r['peak_gib'] = torch.cuda.max_memory_allocated() / 2**30
    r['weights_gib'] = model.num_parameters() * 2 / 2**30
    return r


def bench_cuda(opts):
    model, args = cuda_model()
    print(f'CUDA {torch.cuda.get_device_name()}, gemma_2b-sized random weights, bf16, '
          f'3 cameras, prefix {256 * 3 + 201}')
    r = cuda_figures(model, args, opts.repeats)
    megabytes, bound = r['bound']['megabytes'], r['bound']['ms']
    print(f'weight-streaming bound: a decode step reads {megabytes:.0f} MB of weights; one '
          f'streaming read of that many bytes takes {bound:.2f} ms here '
          f'({megabytes / bound:.0f} GB/s)')
    graph, plain, grow = r['graph'], r['plain'], r['grow']
    row('growing-cache loop (LeRobot)', grow, grow)
    row('engine, static step, no graph', plain, grow)
    row('engine, static step, CUDA graph', graph, grow)
    print(f'  -> decode {graph["per_token"]:.2f} ms/token (target <= 1.5; '
          f'{graph["per_token"] / bound:.2f}x the weight-streaming bound), 50-token chunk '
          f'{graph["chunk"]:.1f} ms (target <= 100), peak GPU memory {r["peak_gib"]:.2f} GiB, '
          f'weights {r["weights_gib"]:.2f} GiB (target <= 7.5 GB); stop-id check '
          f'{(r["sync"]["per_token"] - graph["per_token"]) * 1e3:+.0f} us/token')


def main():
    parser = argparse.ArgumentParser(description=__doc__.split('\n\n')[0])
    parser.add_argument('--steps', type=int, default=256)
    parser.add_argument('--ref-steps', type=int, default=8)
    parser.add_argument('--cameras', type=int, nargs='+', default=[1, 2, 3])
    parser.add_argument('--prompt', type=int, default=50,
                        help='valid prompt tokens (BOS + text) of the 200 slots')
    parser.add_argument('--repeats', type=int, default=3)
    parser.add_argument('--threads', type=int, default=None)
    parser.add_argument('--vocab', type=int, default=CPU_ARCH.vocab_size,
                        help="vocabulary of the CPU model (257152 = PaliGemma's)")
    parser.add_argument('--dtype', choices=('float32', 'bfloat16'), default='float32',
                        help='dtype of the CPU model (bfloat16 uses AMX/AVX512-BF16 matmuls '
                        'where the CPU has them)')
    parser.add_argument('--no-cpu', action='store_true')
    opts = parser.parse_args()
    if opts.threads:
        torch.set_num_threads(opts.threads)
    with torch.inference_mode():
        if not opts.no_cpu:
            bench_cpu(opts)
        if torch.cuda.is_available():
            bench_cuda(opts)
        else:
            print('no CUDA device: gemma_2b bf16 GPU benchmark skipped')


if __name__ == '__main__':
    main()
