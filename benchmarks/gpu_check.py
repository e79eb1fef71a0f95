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
Device check for a machine with a GPU, in well under 5 minutes.

gemma_2b-sized random weights in bf16, 3 cameras, the 50-token chunk of the issue's targets:
  1. self-check: every engine mode against 'exact' as the node's warm-up does (selfcheck.py),
     and the CUDA-graph step against the same step run eagerly (the same kernels: the tokens
     must be equal and the logits are expected bitwise identical; within tolerance passes);
  2. benchmark (bench_engine.cuda_figures): prefill, decode ms/token, 50-token chunk, peak
     memory, the weight-streaming bound on this device, the per-token host sync for the stop
     check; each printed beside its target (H100-class: decode <= 1.5 ms/token, chunk <= 100
     ms, <= 7.5 GB).
Exit status: 0 all checks passed and targets met, 1 a self-check failed, 3 a target missed,
2 no CUDA device (nothing to check here: run it on the robot's computer).

    python benchmarks/gpu_check.py [--repeats 5]
"""

import argparse
import sys
import time

import torch

TARGETS = {'decode_ms_per_token': 1.5, 'chunk_ms': 100.0, 'memory_gb': 7.5}


def self_check(model, args, steps=50):
    """Print and return whether every mode passed (selfcheck.compare, greedy, no stop)."""
    from bench_engine import Pi0FastEngine
    from pi0fast_ros.core.model.selfcheck import compare, TOLERANCE
    ok = True
    for mode, graph in (('compact', False), ('static', False), ('static', True)):
        engine = Pi0FastEngine(model, mode=mode, cuda_graph=graph)
        result = compare(engine, args, steps)
        ok &= result.ok
        print(f'  {"PASS" if result.ok else "FAIL"}  {result.path:<18} vs exact: '
              f'{result.reason}')
    graphed = Pi0FastEngine(model).generate(*args, steps, return_logits=True)
    eager = Pi0FastEngine(model, cuda_graph=False).generate(*args, steps, return_logits=True)
    diff = float((graphed.logits.float() - eager.logits.float()).abs().max())
    bound = TOLERANCE[torch.bfloat16] * float(eager.logits.float().abs().max())
    same = torch.equal(graphed.tokens, eager.tokens) and diff <= bound
    print(f'  {"PASS" if same else "FAIL"}  graph replay vs the same step run eagerly, {steps} '
          f'steps: tokens {"equal" if torch.equal(graphed.tokens, eager.tokens) else "DIFFER"},'
          f' logits ' + ('bitwise identical' if diff == 0 else f'differ by up to {diff:.3g} '
                         f'(tolerance {bound:.3g})'))
    return ok and same


def beside(name, value, unit, target):
    met = value <= target
    print(f'  {name:<28} {value:9.2f} {unit:<9} target <= {target:g} {unit:<9} '
          f'{"MET" if met else "MISSED"}')
    return met


def main():
    parser = argparse.ArgumentParser(description=__doc__.split('\n\n')[0])
    parser.add_argument('--repeats', type=int, default=5)
    opts = parser.parse_args()
    if not torch.cuda.is_available():
        print(f'gpu_check: no CUDA device (torch {torch.__version__}, built with CUDA '
              f'{torch.version.cuda}): this check needs a GPU; nothing was checked.',
              file=sys.stderr)
        return 2
    from bench_engine import cuda_figures, cuda_model
    start = time.perf_counter()
    with torch.inference_mode():
        model, args = cuda_model()
        print(f'{torch.cuda.get_device_name()}, torch {torch.__version__}, gemma_2b-sized '
              f'random weights in bf16, 3 cameras ({model.num_parameters() / 1e9:.2f} B '
              f'parameters)\nself-check:')
        checked = self_check(model, args)
        r = cuda_figures(model, args, opts.repeats)
    graph, bound = r['graph'], r['bound']
    print(f'benchmark (medians of {opts.repeats}, CUDA graph engine; eager static step '
          f'{r["plain"]["per_token"]:.2f} ms/token, growing-cache loop '
          f'{r["grow"]["per_token"]:.2f} ms/token):')
    print(f'  {"prefill":<28} {graph["prefill"]:9.2f} ms')
    met = beside('decode', graph['per_token'], 'ms/token', TARGETS['decode_ms_per_token'])
    met &= beside('50-token chunk', graph['chunk'], 'ms', TARGETS['chunk_ms'])
    met &= beside('peak memory', r['peak_gib'] * 2**30 / 1e9, 'GB', TARGETS['memory_gb'])
    megabytes, ms = bound['megabytes'], bound['ms']
    print(f'  {"weight-streaming bound":<28} {ms:9.3f} {"ms":<9} one read of the '
          f'{megabytes:.0f} MB a decode step reads ({megabytes / ms:.0f} GB/s); decode = '
          f'{graph["per_token"] / ms:.2f}x the bound')
    sync_us = (r['sync']['per_token'] - graph['per_token']) * 1e3
    print(f'  {"stop check (host sync)":<28} {sync_us:+9.1f} {"us/token":<9} a stop id never '
          'emitted vs none')
    print(f'done in {time.perf_counter() - start:.0f} s: self-check '
          f'{"passed" if checked else "FAILED"}, targets {"met" if met else "MISSED"}')
    return 1 if not checked else 0 if met else 3


if __name__ == '__main__':
    sys.exit(main())
