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
Fitting a FAST tokenizer on action chunks (FAST processing_action_tokenizer.py:98-159).

DCT every chunk, quantise, shift by the smallest coefficient so every value is a character
>= chr(0), then train a byte-level BPE on one string per chunk. LeRobot's
lerobot_train_tokenizer.py calls the same procedure with H and D taken from its chunks.
"""

import logging

import numpy as np

from .bpe import ByteLevelBpe
from .codes import codes_to_text, MAX_CODE_POINT, quantise
from .errors import FastTokenizerError
from .format import FastConfig

logger = logging.getLogger(__name__)

# FAST warns when the coefficient range leaves fewer than this many merges.
_MERGE_HEADROOM = 100


def as_chunks(chunks):
    """
    Validate training chunks: a [N, H, D] array or a sequence of [H, D] arrays.

    Returns a list of float64 [H, D] arrays. All chunks must share D; H may vary (FAST
    flattens each chunk), but then the tokenizer records no time_horizon.
    """
    if isinstance(chunks, np.ndarray) and chunks.ndim == 3:
        chunks = list(chunks)
    out = []
    for i, chunk in enumerate(chunks):
        arr = np.asarray(chunk, dtype=np.float64)
        if arr.ndim != 2 or arr.shape[0] == 0 or arr.shape[1] == 0:
            raise FastTokenizerError(f'chunk {i}: expected a non-empty [H, D] array, '
                                     f'got shape {arr.shape}')
        if out and arr.shape[1] != out[0].shape[1]:
            raise FastTokenizerError(f'chunk {i}: action_dim {arr.shape[1]} differs from '
                                     f'chunk 0 ({out[0].shape[1]})')
        if not np.isfinite(arr).all():
            raise FastTokenizerError(f'chunk {i}: contains NaN or infinity')
        out.append(arr)
    if not out:
        raise FastTokenizerError('no chunks to fit on')
    return out


def fit_bpe(chunks, scale, vocab_size, progress=None):
    """Fit the BPE half of a FAST tokenizer; returns (ByteLevelBpe, FastConfig)."""
    report = progress or (lambda message: None)
    FastConfig(scale=scale, vocab_size=vocab_size, min_token=0)    # validates both numbers
    chunks = as_chunks(chunks)
    report(f'DCT of {len(chunks)} chunks')
    coeffs = [quantise(chunk, scale) for chunk in chunks]
    flat = np.concatenate(coeffs)
    lo, hi = int(flat.min()), int(flat.max())
    report(f'quantised coefficients span [{lo}, {hi}] ({hi - lo + 1} symbols)')
    if hi - lo > MAX_CODE_POINT:
        raise FastTokenizerError(f'coefficient range {hi - lo} exceeds the Unicode range FAST '
                                 'writes coefficients in: lower scale')
    if hi - lo > vocab_size:
        raise FastTokenizerError(
            f'vocab_size {vocab_size} is smaller than the coefficient range {hi - lo}: '
            'raise vocab_size or lower scale')
    if hi - lo + _MERGE_HEADROOM > vocab_size:
        logger.warning('coefficient range %d leaves almost no room for merges in a vocabulary '
                       'of %d; consider a larger vocab_size', hi - lo, vocab_size)
    texts = [codes_to_text(c.astype(np.int64) - lo) for c in coeffs]
    report(f'training byte-level BPE (vocab_size {vocab_size}) on {len(texts)} strings')
    bpe = ByteLevelBpe.train(texts, alphabet_size=hi - lo + 1, vocab_size=vocab_size)
    if bpe.size > vocab_size:
        # FAST would save this; its ids >= vocab_size would then collide with text tokens
        # in the PaliGemma id mapping (pg = 257023 - fast_id).
        raise FastTokenizerError(
            f'the trained BPE has {bpe.size} tokens, more than vocab_size {vocab_size} (the '
            'initial alphabet alone needs that many): raise vocab_size or lower scale')
    horizons = {c.shape[0] for c in chunks}
    config = FastConfig(scale=scale, vocab_size=vocab_size, min_token=lo,
                        time_horizon=horizons.pop() if len(horizons) == 1 else None,
                        action_dim=chunks[0].shape[1])
    report(f'trained {bpe.size} tokens')
    return bpe, config
