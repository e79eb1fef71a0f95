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
PI0-FAST engine benchmark: static-cache engine vs LeRobot's growing-cache loop vs full recompute.

One run, the same random weights for every method. Figures are medians over --repeats rounds
(methods interleaved within a round), each shown with its ratio to the baseline measured in the
same run. On a shared machine prefer --threads 1: idle OpenMP workers waiting for CPU time
distort multi-threaded timings far more than single-threaded ones.
  1. CPU-sized model (fp32): prefill ms, decode ms/token, chunk ms (--steps tokens) for the
     engine, the growing-cache loop (LeRobot 0.4.4's strategy on our layers) and the slow
     full-recompute reference (timed over --ref-steps tokens only: it is quadratic).
     Target: engine decode ms/token <= 0.8x the growing-cache loop.
  2. Chunk latency with the stop at the end marker after ~40 tokens vs decoding all 256.
     Target: >= 5x faster.
  3. With CUDA: gemma_2b-sized random weights in bf16, 3 cameras: prefill, decode ms/token,
     50-token chunk, peak GPU memory; CUDA-graph engine vs eager static steps vs growing loop.
     Targets (H100): decode <= 1.5 ms/token, 50-token chunk <= 100 ms, memory <= 7.5 GB.

Usage: python benchmarks/bench_engine.py [--steps 256] [--repeats 3] [--threads N] [--no-cpu]
"""

import argparse
import os
import statistics
import time

from pi0fast_ros.core.checkpoint import build_model, init_random_weights
from pi0fast_ros.core.model import ArchConfig, generate_growing, Pi0FastEngine, VARIANTS
from pi0fast_ros.core.model.reference import reference_generate
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
    arch, steps = CPU_ARCH, opts.steps
    weights = init_random_weights(arch, seed=0)
    model = build_model(weights, arch)
    args = inputs(arch, opts.cameras, 'cpu')
    n_params = model.num_parameters() / 1e6
    print(f'CPU, fp32, {torch.get_num_threads()} threads, load {os.getloadavg()[0]:.1f}: '
          f'{n_params:.0f} M params, {opts.cameras} cameras, prefix '
          f'{arch.tokens_per_image * opts.cameras + 201}, {steps} tokens')
    engine = Pi0FastEngine(model)
    engine.generate(*args, 8)  # warm-up: allocation, first-call overheads
    generate_growing(model, *args, 4)
    static_engine = Pi0FastEngine(model, mode='static')
    r = interleaved(opts.repeats, grow=lambda: growing_run(model, args, steps),
                    eng=lambda: engine_run(engine, args, steps),
                    static=lambda: engine_run(static_engine, args, steps))
    grow, eng, static = r['grow'], r['eng'], r['static']
    ref = reference_run(weights, arch, args, opts.ref_steps, torch.float32)
    row('growing-cache loop (LeRobot)', grow, grow)
    row('engine, exact mode (default)', eng, grow)
    row('engine, static fixed-shape step', static, grow)
    row(f'full-recompute reference ({opts.ref_steps} tok)', ref, grow)
    print(f'  -> engine decode = {eng["per_token"] / grow["per_token"]:.2f}x growing loop '
          '(target <= 0.8)')
    full = engine.generate(*args, 256).tokens[0].tolist()
    stop, step = find_stop(full)
    r = interleaved(opts.repeats,
                    stopped=lambda: engine_run(engine, args, 256, stop_token_id=stop),
                    whole=lambda: engine_run(engine, args, 256))
    stopped, whole = r['stopped'], r['whole']
    decode_only = (whole['chunk'] - whole['prefill']) / (stopped['chunk'] - stopped['prefill'])
    print(f'  stop at the end marker after {step + 1} tokens: chunk {stopped["chunk"]:.1f} ms '
          f'vs 256 tokens {whole["chunk"]:.1f} ms -> {whole["chunk"] / stopped["chunk"]:.2f}x '
          f'faster end to end (target >= 5), {decode_only:.2f}x on the decode part')


def bench_cuda(opts):
    arch, device = VARIANTS['gemma_2b'], torch.device('cuda')
    weights = init_random_weights(arch, seed=0, dtype='bfloat16', device=device)
    model = build_model(weights, arch, dtype='bfloat16', device=device)
    del weights
    torch.cuda.empty_cache()
    torch.cuda.reset_peak_memory_stats()  # the fp32 temporaries of the random init excluded
    args = inputs(arch, 3, device)
    print(f'CUDA {torch.cuda.get_device_name()}, gemma_2b-sized random weights, bf16, '
          f'3 cameras, prefix {256 * 3 + 201}')
    engine = Pi0FastEngine(model)  # static mode + CUDA graph
    engine.generate(*args, 50)     # warm-up incl. graph capture
    eager = Pi0FastEngine(model, cuda_graph=False)
    eager.generate(*args, 8)
    r = interleaved(opts.repeats, graph=lambda: engine_run(engine, args, 50),
                    plain=lambda: engine_run(eager, args, 50),
                    grow=lambda: growing_run(model, args, 50))
    graph, plain, grow = r['graph'], r['plain'], r['grow']
    row('growing-cache loop (LeRobot)', grow, grow)
    row('engine, static step, no graph', plain, grow)
    row('engine, static step, CUDA graph', graph, grow)
    print(f'  -> decode {graph["per_token"]:.2f} ms/token (target <= 1.5), 50-token chunk '
          f'{graph["chunk"]:.1f} ms (target <= 100), peak GPU memory '
          f'{torch.cuda.max_memory_allocated() / 2**30:.2f} GiB, weights '
          f'{model.num_parameters() * 2 / 2**30:.2f} GiB (target <= 7.5 GB)')


def main():
    parser = argparse.ArgumentParser(description=__doc__.split('\n\n')[0])
    parser.add_argument('--steps', type=int, default=256)
    parser.add_argument('--ref-steps', type=int, default=8)
    parser.add_argument('--cameras', type=int, default=2)
    parser.add_argument('--repeats', type=int, default=3)
    parser.add_argument('--threads', type=int, default=None)
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
