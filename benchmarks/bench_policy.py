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
Benchmark the policy facade: image preprocessing and a whole observation -> chunk call.

Figures, each with a baseline measured in the same run:
  images:  prepare_images (uint8 to the device, one fused write into a preallocated batch)
           vs LeRobot 0.4.4's sequence (fp32 / 255 and CHW on the host, to the device, HWC
           view, resize_with_pad with F.pad, x * 2 - 1, back to CHW), 3 cameras;
  facade:  per-stage ms of Pi0FastPolicy.infer on a scripted tiny checkpoint (a valid chunk
           every call) with the stop at "|" vs decoding all max_decoding_steps tokens.
The tiny model stands in for PI0-FAST's sizes only in the image figures; for the model's own
speed see benchmarks/bench_engine.py.

    python benchmarks/bench_policy.py [--device cpu|cuda] [--rounds 20] [--size 480x640]
                                      [--threads N]
"""

import argparse
import statistics
import tempfile
import time

import numpy as np
from pi0fast_ros.core.policy.facade import Pi0FastPolicy
from pi0fast_ros.core.policy.images import prepare_images
from pi0fast_ros.testing.random_checkpoint import make_random_checkpoint
import torch
import torch.nn.functional as F  # noqa: N812

SLOTS = ['observation.images.a', 'observation.images.b', 'observation.images.c']


def lerobot_images(frames, device):
    """Run LeRobot 0.4.4's image steps: policies/utils.py:128-133, M:1031-1095."""
    out = []
    for frame in frames:
        img = (torch.from_numpy(frame).type(torch.float32) / 255).permute(2, 0, 1).contiguous()
        img = img.unsqueeze(0).to(device).permute(0, 2, 3, 1)
        if img.shape[1:3] != (224, 224):
            x = img.permute(0, 3, 1, 2)
            ratio = max(x.shape[3] / 224, x.shape[2] / 224)
            h, w = int(x.shape[2] / ratio), int(x.shape[3] / ratio)
            x = F.interpolate(x, size=(h, w), mode='bilinear', align_corners=False)
            x = x.clamp(-1.0, 1.0)
            top, left = (224 - h) // 2, (224 - w) // 2
            x = F.pad(x, (left, 224 - w - left, top, 224 - h - top), value=-1.0)
            img = x.permute(0, 2, 3, 1)
        out.append((img * 2.0 - 1.0).permute(0, 3, 1, 2))
    return out


def timed(fn, rounds, device):
    times = []
    for _ in range(rounds):
        if device.type == 'cuda':
            torch.cuda.synchronize(device)
        t0 = time.perf_counter()
        fn()
        if device.type == 'cuda':
            torch.cuda.synchronize(device)
        times.append((time.perf_counter() - t0) * 1e3)
    return statistics.median(times)


def bench_images(device, rounds, height, width):
    rng = np.random.default_rng(0)
    frames = [rng.integers(0, 256, (height, width, 3), dtype=np.uint8) for _ in SLOTS]
    ours, _ = prepare_images(dict(zip(SLOTS, frames)), SLOTS, device)
    theirs = lerobot_images(frames, device)
    assert all(torch.equal(a, b) for a, b in zip(ours, theirs)), 'outputs differ'
    base = timed(lambda: lerobot_images(frames, device), rounds, device)
    fast = timed(lambda: prepare_images(dict(zip(SLOTS, frames)), SLOTS, device), rounds,
                 device)
    print(f'images, 3 cameras {height}x{width} -> 224x224 on {device}: '
          f'LeRobot sequence {base:.2f} ms, ours {fast:.2f} ms, ratio {fast / base:.2f} '
          '(identical tensors)')


def bench_facade(device, rounds):
    with tempfile.TemporaryDirectory() as tmp:
        path = make_random_checkpoint(tmp, seed=0, cameras=('a', 'b', 'c'), scripted=True)
        rng = np.random.default_rng(1)
        images = {s: rng.integers(0, 256, (480, 640, 3), dtype=np.uint8) for s in 'abc'}
        state = np.zeros(6)
        rows = []
        for stop in (True, False):
            policy = Pi0FastPolicy.from_pretrained(path, device=device, stop_at_end_marker=stop)
            policy.warmup(iterations=2)
            results = [policy.infer(images, state, 'pick up the cube') for _ in range(rounds)]
            assert all(r.ok for r in results)
            stages = {k: statistics.median(r.timings_ms[k] for r in results)
                      for k in ('preprocess', 'prefill', 'decode', 'detokenize', 'total')}
            rows.append((stop, results[0].decode_steps, stages))
        for stop, steps, st in rows:
            mode = 'stop at |' if stop else 'decode to max'
            print(f'facade, tiny scripted model, 3 cameras 480x640, {mode} ({steps} tokens): '
                  + ', '.join(f'{k} {v:.1f} ms' for k, v in st.items()))
        print(f'stop at "|" total / decode-to-max total: '
              f'{rows[0][2]["total"] / rows[1][2]["total"]:.3f}')


def main():
    parser = argparse.ArgumentParser(description=__doc__.split('\n')[1])
    parser.add_argument('--device', default='cuda' if torch.cuda.is_available() else 'cpu')
    parser.add_argument('--rounds', type=int, default=20)
    parser.add_argument('--size', default='480x640', help='camera HxW')
    parser.add_argument('--threads', type=int, default=None,
                        help='torch CPU threads (1 is steadier on a loaded machine)')
    args = parser.parse_args()
    if args.threads:
        torch.set_num_threads(args.threads)
    device = torch.device(args.device)
    height, width = (int(v) for v in args.size.split('x'))
    print(f'torch {torch.__version__}, {torch.get_num_threads()} threads, device {device}')
    bench_images(device, args.rounds, height, width)
    bench_facade(device, max(3, args.rounds // 4))


if __name__ == '__main__':
    main()
