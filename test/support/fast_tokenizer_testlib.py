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
Test data and independent references for the FAST tokenizer tests.

The references here are written straight from the facts sheet (pi0fast-facts.md §2-§3) and
call the `tokenizers` / `transformers` libraries directly; they share no code with
pi0fast_ros.core.fast_*.
"""

import json

import numpy as np
import scipy.fft
import scipy.fftpack
from tokenizers import ByteLevelBPETokenizer
from tokenizers.trainers import BpeTrainer

# processor_config.json of the released physical-intelligence/fast (facts §3)
RELEASED_MIN_TOKEN = -354
RELEASED_VOCAB = 2048


def smooth_chunks(seed, n, horizon, dim, amplitude=1.0):
    """Smooth action chunks [n, H, D]: a few low-frequency sines per joint plus 1% noise."""
    rng = np.random.default_rng(seed)
    t = np.linspace(0.0, 1.0, horizon)[None, :, None]
    out = np.zeros((n, horizon, dim))
    for _ in range(3):
        freq = rng.uniform(0.1, 1.5, (n, 1, dim))
        phase = rng.uniform(0, 2 * np.pi, (n, 1, dim))
        amp = rng.uniform(0.1, 0.5, (n, 1, dim)) * amplitude
        out += amp * np.sin(2 * np.pi * freq * t + phase)
    return out + rng.normal(0.0, 0.01, out.shape)


def reference_codes(chunk, scale):
    """FAST quantisation of one [H, D] chunk: round(DCT-II ortho over time * scale), row-major."""
    return np.around(scipy.fft.dct(chunk, axis=0, norm='ortho') * scale).flatten()


def reference_text(chunk, scale, min_token):
    """Return the coefficient string FAST hands to BPE (clamped at chr(0) as FAST does)."""
    codes = np.maximum(reference_codes(chunk, scale) - min_token, 0).astype(int)
    return ''.join(map(chr, codes))


def train_reference_bpe(texts, alphabet_size, vocab_size):
    """Train a BPE by the FAST fit recipe, with `tokenizers` directly (facts §3, Fit 4-5)."""
    bpe = ByteLevelBPETokenizer()
    trainer = BpeTrainer(vocab_size=vocab_size, min_frequency=2, show_progress=False,
                         special_tokens=[],
                         initial_alphabet=[chr(i) for i in range(alphabet_size)],
                         max_token_length=10000)
    bpe._tokenizer.train_from_iterator(texts, trainer=trainer)
    return bpe._tokenizer


def write_released_layout(directory, tokenizer, min_token=RELEASED_MIN_TOKEN,
                          vocab_size=RELEASED_VOCAB, clean_up=True):
    """
    Write a directory laid out like huggingface.co/physical-intelligence/fast.

    Includes a processing_action_tokenizer.py that raises if anything ever executes it.
    """
    directory.mkdir(parents=True, exist_ok=True)
    tokenizer.save(str(directory / 'tokenizer.json'))
    processor = {
        'action_dim': None, 'time_horizon': None, 'min_token': min_token, 'scale': 10,
        'vocab_size': vocab_size, 'processor_class': 'UniversalActionProcessor',
        'auto_map': {'AutoProcessor': 'processing_action_tokenizer.UniversalActionProcessor'},
    }
    tok_config = {'added_tokens_decoder': {}, 'clean_up_tokenization_spaces': clean_up,
                  'model_max_length': int(1e30), 'processor_class': 'UniversalActionProcessor',
                  'tokenizer_class': 'PreTrainedTokenizerFast'}
    (directory / 'processor_config.json').write_text(json.dumps(processor))
    (directory / 'tokenizer_config.json').write_text(json.dumps(tok_config))
    (directory / 'special_tokens_map.json').write_text('{}')
    (directory / 'processing_action_tokenizer.py').write_text(
        "raise RuntimeError('tokenizer code from a checkpoint must never run')\n")
    return directory


def hf_tokenizer(directory):
    """
    Load a tokenizer directory with transformers' PreTrainedTokenizerFast.

    transformers 5 skips the clean-up for BPE unless forced; forcing it gives the decode of
    transformers 4.53.2 that LeRobot 0.4.4 runs (tokenization_utils_fast.py:671-693 there).
    """
    from transformers import PreTrainedTokenizerFast
    return PreTrainedTokenizerFast.from_pretrained(
        str(directory),
        clean_up_tokenization_spaces_for_bpe_even_though_it_will_corrupt_output=True)


def lerobot_relaxed_decode(hf, ids, horizon, dim, min_token, scale):
    """
    Decode one sequence as LeRobot 0.4.4 does (modeling_pi0_fast.py:1114-1168).

    Returns (actions, failed): failed is True where LeRobot's try/except substituted zeros.
    """
    try:
        text = hf.decode(list(ids))
        coeff = np.array(list(map(ord, text))) + min_token
        diff = horizon * dim - coeff.shape[0]
        if diff < 0:
            coeff = coeff[:horizon * dim]
        elif diff > 0:
            coeff = np.pad(coeff, (0, diff), mode='constant', constant_values=0)
        coeff = coeff.reshape(-1, dim)
        assert coeff.shape == (horizon, dim)
        failed = False
    except Exception:   # LeRobot catches everything here
        coeff = np.zeros((horizon, dim))
        failed = True
    return scipy.fftpack.idct(coeff / scale, axis=0, norm='ortho'), failed
