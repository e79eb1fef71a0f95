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
What hashing a checkpoint's weights at start-up costs (core.checkpoint_hash.hash_weights).

Hashes the demo checkpoint, then a synthetic weight file of --gb GB (written to --dir, then
removed), streamed; the baseline is reading the same file without hashing, in the same run.
Prints GB/s and the start-up time this means for a PI0-FAST 3B checkpoint in bf16 (~5.9 GB).
The file was just written, so it is read from the page cache: a cold disk adds its read time.

    python benchmarks/bench_checkpoint_hash.py [--gb 1] [--dir /tmp]   (after scripts/env.sh)
"""

import argparse
import os
import pathlib
import tempfile
import time

from pi0fast_ros.core.policy.checkpoint_hash import BLOCK_BYTES, hash_weights

REPO = pathlib.Path(__file__).resolve().parents[1]
PI0FAST_3B_BF16_GB = 5.9


def read_only_s(path):
    """Read the file in the hasher's blocks without hashing; return seconds."""
    buffer = bytearray(BLOCK_BYTES)
    start = time.perf_counter()
    with open(path, 'rb', buffering=0) as f:
        while f.readinto(buffer):
            pass
    return time.perf_counter() - start


def main():
    ap = argparse.ArgumentParser(description=__doc__.split('\n\n')[0])
    ap.add_argument('--gb', type=float, default=1.0)
    ap.add_argument('--dir', default=tempfile.gettempdir())
    args = ap.parse_args()
    print(f'load average {os.getloadavg()[0]:.2f}')
    demo = hash_weights(REPO / 'demo' / 'so100_synthetic')
    print(f'demo checkpoint: {demo.describe()}')
    with tempfile.TemporaryDirectory(dir=args.dir) as tmp:
        path = pathlib.Path(tmp) / 'model.safetensors'
        block = os.urandom(BLOCK_BYTES)
        with open(path, 'wb') as f:
            for _ in range(int(args.gb * 1e9) // BLOCK_BYTES):
                f.write(block)
        read_s = read_only_s(path)
        big = hash_weights(tmp)
    rate = big.nbytes / big.seconds / 1e9
    print(f'{big.nbytes / 1e9:.2f} GB: hashed in {big.seconds:.2f} s ({rate:.2f} GB/s); '
          f'reading alone {read_s:.2f} s ({big.nbytes / read_s / 1e9:.2f} GB/s) -> hashing is '
          f'{big.seconds / read_s:.1f}x the read')
    print(f'a {PI0FAST_3B_BF16_GB} GB PI0-FAST 3B bf16 checkpoint: ~'
          f'{PI0FAST_3B_BF16_GB / rate:.1f} s at start-up (from the page cache)')


if __name__ == '__main__':
    main()
