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
Prompt tokenization: memory and time per prompt, the word cache off (ours) vs tokenizers' default.

Each prompt holds a new discretized state, as every inference's does. With the `tokenizers`
BPE word cache on (the library's default; PaliGemma's tokenizer.json has no pre-tokenizer, so
a whole prompt is one word) every prompt is kept; TextTokenizer turns the cache off. Each
variant runs in a fresh process on the same prompts: RSS growth after a 1,000-prompt warm-up,
and microseconds per prompt.

    python benchmarks/bench_text_tokenizer.py [--tokenizer demo/so100_synthetic/text_tokenizer]
        [--prompts 30000]
"""

import argparse
import json
import pathlib
import subprocess
import sys

REPO = pathlib.Path(__file__).resolve().parents[1]

CHILD = r"""
import json, sys, time
import numpy as np
from pi0fast_ros.core.policy.text_tokenizer import TextTokenizer
def rss_mb():
    for line in open('/proc/self/status'):
        if line.startswith('VmRSS'):
            return int(line.split()[1]) / 1024
path, n, cache = sys.argv[1], int(sys.argv[2]), sys.argv[3] == 'on'
tok = TextTokenizer.from_pretrained(path)
if cache:          # back to the library's default capacity (10,000 words)
    tok._tok.model._resize_cache(10000)
    tok._forget_words = None
rng = np.random.default_rng(0)
prompts = ['Task: pick up the cube, State: ' + ' '.join(map(str, rng.integers(0, 256, 32)))
           + ';\nAction: ' for _ in range(n + 1000)]
for p in prompts[:1000]:
    tok.tokenize_prompt(p, 64)
before, t0 = rss_mb(), time.perf_counter()
for p in prompts[1000:]:
    tok.tokenize_prompt(p, 64)
print(json.dumps({'us': 1e6 * (time.perf_counter() - t0) / n, 'mb': rss_mb() - before}))
"""


def run(path, n, cache):
    done = subprocess.run([sys.executable, '-c', CHILD, str(path), str(n), cache],
                          capture_output=True, text=True, check=True)
    return json.loads(done.stdout)


def main(argv=None):
    ap = argparse.ArgumentParser(description=__doc__.split('\n\n')[0])
    ap.add_argument('--tokenizer', default=str(REPO / 'demo' / 'so100_synthetic' /
                                               'text_tokenizer'))
    ap.add_argument('--prompts', type=int, default=30000)
    args = ap.parse_args(argv)
    ours, default = run(args.tokenizer, args.prompts, 'off'), run(args.tokenizer, args.prompts,
                                                                  'on')
    print(f'{args.prompts} distinct prompts after a 1,000-prompt warm-up:')
    print(f"  word cache off (TextTokenizer): RSS {ours['mb']:+.1f} MB, "
          f"{ours['us']:.1f} us/prompt")
    print(f"  tokenizers' default word cache: RSS {default['mb']:+.1f} MB, "
          f"{default['us']:.1f} us/prompt")
    print(f"  time ratio off/default: {ours['us'] / default['us']:.2f}x")


if __name__ == '__main__':
    main()
