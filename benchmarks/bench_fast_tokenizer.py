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
Benchmark the FAST action tokenizer: time per chunk and tokens per chunk.

Baselines, measured in the same run on the same chunks and the same tokenizer files:
  time:   the straightforward HF path of FAST's processor and LeRobot's decode
          (''.join(map(chr, ...)) -> PreTrainedTokenizerFast; decode -> map(ord) -> pad ->
          scipy.fftpack.idct), needs transformers;
  tokens: per-dimension binning (one token per value: H * D per chunk).
Chunks are smooth synthetic trajectories (a few low-frequency sines per joint + 1% noise).

    python benchmarks/bench_fast_tokenizer.py [--chunks 300] [--rounds 5]
"""

import argparse
import os
import tempfile
import time

import numpy as np
from pi0fast_ros.core.fast.tokenizer import FastActionTokenizer
import scipy.fft
import scipy.fftpack

SHAPES = ((50, 14), (10, 6))
SCALE = 10.0


def smooth_chunks(rng, n, horizon, dim):
    t = np.linspace(0.0, 1.0, horizon)[None, :, None]
    out = np.zeros((n, horizon, dim))
    for _ in range(3):
        freq = rng.uniform(0.1, 1.5, (n, 1, dim))
        phase = rng.uniform(0, 2 * np.pi, (n, 1, dim))
        out += rng.uniform(0.1, 0.5, (n, 1, dim)) * np.sin(2 * np.pi * freq * t + phase)
    return out + rng.normal(0.0, 0.01, out.shape)


class HfBaseline:
    """FAST's processor encode and LeRobot's relaxed decode on transformers' tokenizer."""

    def __init__(self, directory, tok):
        from transformers import PreTrainedTokenizerFast
        self.hf = PreTrainedTokenizerFast.from_pretrained(directory)
        self.min_token, self.scale = tok.min_token, tok.scale

    def encode(self, chunk):
        coeff = np.around(scipy.fft.dct(chunk[None], axis=1, norm='ortho') * self.scale)[0]
        text = ''.join(map(chr, np.maximum(coeff.flatten() - self.min_token, 0).astype(int)))
        return self.hf(text)['input_ids']

    def decode(self, ids, horizon, dim):
        coeff = np.array(list(map(ord, self.hf.decode(ids)))) + self.min_token
        coeff = np.pad(coeff[:horizon * dim], (0, max(0, horizon * dim - len(coeff))))
        return scipy.fftpack.idct(coeff.reshape(horizon, dim) / self.scale, axis=0,
                                  norm='ortho')


def _mean_us(fn, items):
    start = time.perf_counter()
    for item in items:
        fn(item)
    return (time.perf_counter() - start) / len(items) * 1e6


def compare(ours, base, items, rounds):
    """
    Time ours and the baseline alternately, round by round (the machine is shared).

    Returns (ours us/item, baseline us/item, speed-up): medians over rounds, the speed-up being
    the median of the per-round ratios.
    """
    mine, theirs = [], []
    for _ in range(rounds):
        mine.append(_mean_us(ours, items))
        theirs.append(_mean_us(base, items) if base else float('nan'))
    mine, theirs = np.array(mine), np.array(theirs)
    return float(np.median(mine)), float(np.median(theirs)), float(np.median(theirs / mine))


def bench_shape(horizon, dim, args):
    rng = np.random.default_rng(horizon * 100 + dim)
    chunks = smooth_chunks(rng, args.chunks, horizon, dim)
    train = np.concatenate([smooth_chunks(rng, 2000, horizon, dim), chunks])
    tok = FastActionTokenizer.fit(train, scale=SCALE, vocab_size=1024)
    ids = tok.encode(chunks)
    lengths = np.array([len(i) for i in ids])
    print(f'\n== H={horizon} D={dim}: {tok.bpe_vocab_size} BPE tokens, min_token '
          f'{tok.min_token}, {len(chunks)} chunks')
    print(f'tokens/chunk: FAST mean {lengths.mean():.1f} (p99 {np.percentile(lengths, 99):.0f}, '
          f'max {lengths.max()}) vs per-dim binning {horizon * dim} -> '
          f'{horizon * dim / lengths.mean():.2f}x fewer')
    base = None
    try:
        with tempfile.TemporaryDirectory() as tmp:
            tok.save_pretrained(tmp)
            base = HfBaseline(tmp, tok)
        same = all(base.encode(c) == i for c, i in zip(chunks, ids)) and all(
            np.allclose(base.decode(i, horizon, dim), tok.decode(i), rtol=0, atol=1e-12)
            for i in ids)
        print(f'HF baseline gives identical ids and actions: {same}')
    except ImportError:
        print('baseline: transformers not installed, timing ours only')
    rows = [
        ('encode', tok.encode, base and base.encode, chunks),
        ('decode', lambda i: tok.decode(i, mode='relaxed'),
         base and (lambda i: base.decode(i, horizon, dim)), ids),
    ]
    for name, mine, theirs, items in rows:
        us, base_us, ratio = compare(mine, theirs, items, args.rounds)
        print(f'{name}: ours {us:8.1f} us/chunk | HF baseline {base_us:8.1f} us/chunk | '
              f'speed-up {ratio:.2f}x')
    batched, _, _ = compare(tok.encode, None, [chunks], args.rounds)
    print(f'encode batched [B={len(chunks)}, H, D]: {batched / len(chunks):.1f} us/chunk')


def main(argv=None):
    p = argparse.ArgumentParser(description='FAST tokenizer benchmark')
    p.add_argument('--chunks', type=int, default=300, help='chunks timed per shape')
    p.add_argument('--rounds', type=int, default=5, help='timing rounds (median reported)')
    args = p.parse_args(argv)
    print(f'load average {os.getloadavg()[0]:.2f} on {os.cpu_count()} CPUs; numpy '
          f'{np.__version__}, scipy {scipy.__version__}')
    for horizon, dim in SHAPES:
        bench_shape(horizon, dim, args)


if __name__ == '__main__':
    main()
