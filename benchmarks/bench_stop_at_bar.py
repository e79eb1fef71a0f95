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
Stop at "|" vs decoding 256 steps (LeRobot 0.4.4) on the trained demo checkpoint.

The demo model really ends its chunks with "|", so this measures the speedup a trained
PI0-FAST gets from stopping there. Both policies load the same checkpoint and see the same
observations (fake-robot frames of random workspace states, every instruction), interleaved
A/B in the same run; the baseline is the same engine decoding max_decoding_steps = 256
(LeRobot 0.4.4 always does, facts section 4). Also checks that the stopped tokens equal the
first tokens of the full decode (the stop is exact).

    python benchmarks/bench_stop_at_bar.py [--checkpoint demo/so100_synthetic] [--obs 16]
"""

import argparse
import os
import pathlib
import statistics
import time

os.environ.setdefault('OMP_WAIT_POLICY', 'PASSIVE')  # before torch loads (see scripts/env.sh)

import numpy as np  # noqa: E402
from pi0fast_ros.core.policy.facade import Pi0FastPolicy  # noqa: E402
from pi0fast_ros.testing import synthetic_task as task  # noqa: E402
from pi0fast_ros.testing.training_data import FrameRenderer  # noqa: E402
import torch  # noqa: E402

DEFAULT_CKPT = pathlib.Path(__file__).resolve().parents[1] / 'demo' / 'so100_synthetic'


def observations(n, seed):
    """Return n (images, state, instruction) triples cycling through the instructions."""
    rng = np.random.default_rng(seed)
    renderer = FrameRenderer((('front', 'side'), ('wrist', 'wrist')), task.SO100_JOINT_NAMES)
    out = []
    for i, state in enumerate(task.sample_states(rng, n).astype(np.float32)):
        frames = dict(zip(renderer.slots, renderer.frames(state)))
        out.append((frames, state, task.INSTRUCTIONS[i % len(task.INSTRUCTIONS)]))
    return out


def timed(policy, obs):
    t0 = time.perf_counter()
    result = policy.infer(*obs)
    return (time.perf_counter() - t0) * 1e3, result


def main():
    parser = argparse.ArgumentParser(description=__doc__.split('\n')[1])
    parser.add_argument('--checkpoint', default=str(DEFAULT_CKPT))
    parser.add_argument('--obs', type=int, default=16, help='observations (A/B pairs)')
    parser.add_argument('--threads', type=int, default=2)
    parser.add_argument('--seed', type=int, default=0)
    args = parser.parse_args()
    torch.set_num_threads(args.threads)
    stop = Pi0FastPolicy.from_pretrained(args.checkpoint)
    full = Pi0FastPolicy.from_pretrained(args.checkpoint, stop_at_end_marker=False,
                                         max_decoding_steps=256)
    obs = observations(args.obs, args.seed)
    for policy in (stop, full):       # allocate caches, first-call overheads
        policy.infer(*obs[0])
    t_stop, t_full, n_tokens, n_ok, exact = [], [], [], 0, True
    for o in obs:
        ms_s, r_s = timed(stop, o)
        ms_f, r_f = timed(full, o)
        t_stop.append(ms_s)
        t_full.append(ms_f)
        n_tokens.append(len(r_s.tokens))
        n_ok += r_s.ok
        exact &= np.array_equal(r_s.tokens, r_f.tokens[:len(r_s.tokens)])
    med_s, med_f = statistics.median(t_stop), statistics.median(t_full)
    print(f'checkpoint {args.checkpoint}; {args.obs} observations; torch threads '
          f'{torch.get_num_threads()}; load average {os.getloadavg()[0]:.2f}')
    print(f'tokens per chunk (stop at "|"): mean {np.mean(n_tokens):.1f}, min '
          f'{min(n_tokens)}, max {max(n_tokens)}; chunks decoded ok {n_ok}/{len(obs)}')
    print(f'stop at "|":   median {med_s:8.1f} ms per chunk (mean {np.mean(t_stop):.1f})')
    print(f'256 steps:     median {med_f:8.1f} ms per chunk (mean {np.mean(t_full):.1f})')
    print(f'speedup (median ratio 256 / stop): {med_f / med_s:.2f}x; stopped tokens are a '
          f'prefix of the full decode: {bool(exact)}')


if __name__ == '__main__':
    main()
