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
FAST action tokenizer: action chunk [H, D] <-> FAST token ids, LeRobot 0.4.4 compatible.

Encode (FAST processing_action_tokenizer.py:43-58):
    c = DCT-II(actions, axis=time, norm='ortho')          [H, D]
    q = round_half_even(c * scale), flattened row-major  [H*D]: f0d0, f0d1, ..., f1d0, ...
    text = ''.join(chr(q - min_token)); ids = byte-level BPE(text)
Decode (LeRobot modeling_pi0_fast.py:1114-1168):
    text = BPE decode (+ transformers' clean-up if tokenizer_config.json asks for it)
    q = ord(text) + min_token, relaxed: truncated / zero-padded to H*D; actions = IDCT(q / scale)

Decoding edge cases (facts §2), LeRobot 0.4.4 -> here (both modes unless noted):
    too many / too few coefficients   truncate / zero-pad -> the same (relaxed);
                                      FastLengthError (strict)
    clean_up_tokenization_spaces true ' .' -> '.' etc. shifts coefficients -> the same
    id >= BPE vocabulary              silently dropped -> FastOutOfVocabError
    negative id                       OverflowError, zeros -> FastNegativeIdError
    invalid UTF-8                     U+FFFD, coefficient 65533 + min_token
                                      -> FastInvalidUtf8Error
    no ids                            all-zero chunk -> FastEmptySequenceError
    NaN / inf actions                 (only with an absurd scale) -> FastNonFiniteError
No code from the tokenizer directory is ever executed; `tokenizers` reads tokenizer.json.
"""

import logging
import pathlib

import numpy as np
from scipy.fftpack import idct

from .bpe import ByteLevelBpe, clean_up_tokenization
from .codes import codes_to_text, MAX_CODE_POINT, quantise, text_to_codes
from .errors import (FastBadIdsError, FastDecodeError, FastEmptySequenceError, FastEncodeError,
                     FastFormatError, FastInvalidUtf8Error, FastLengthError, FastNegativeIdError,
                     FastNonFiniteError, FastOutOfVocabError, FastTokenizerError)
from .fit import fit_bpe
from .format import FastConfig, PROCESSOR_CLASS, read_config, TOKENIZER_FILE, write_config

__all__ = [
    'FastActionTokenizer', 'FastBadIdsError', 'FastDecodeError', 'FastEmptySequenceError',
    'FastEncodeError', 'FastFormatError', 'FastInvalidUtf8Error', 'FastLengthError',
    'FastNegativeIdError', 'FastNonFiniteError', 'FastOutOfVocabError', 'FastTokenizerError',
]

logger = logging.getLogger(__name__)

MODES = ('relaxed', 'strict')


def _as_ids(ids):
    """Validate a token sequence: 1-D, integers, non-negative. Returns int64 [N]."""
    if not isinstance(ids, (list, tuple, np.ndarray)) and hasattr(ids, 'tolist'):
        ids = ids.tolist()      # torch tensors, also on an accelerator
    try:
        arr = np.asarray(ids)
    except (TypeError, ValueError, OverflowError) as err:
        raise FastBadIdsError(f'ids are not an integer sequence ({err})') from err
    if arr.ndim != 1:
        raise FastBadIdsError(f'expected a 1-D id sequence, got shape {arr.shape}')
    if arr.size == 0:
        raise FastEmptySequenceError('no tokens to decode; LeRobot would pad this to an '
                                     'all-zero chunk')
    big = np.iinfo(np.int64).max       # any id this large is out of every vocabulary
    if arr.dtype == object:            # Python ints beyond int64
        vals = arr.tolist()
        if not all(isinstance(v, int) and not isinstance(v, bool) for v in vals):
            raise FastBadIdsError('ids must be integers')
        arr = np.array([min(max(v, -1), big) for v in vals], dtype=np.int64)
    elif arr.dtype.kind == 'u':
        arr = np.minimum(arr.astype(np.uint64), big).astype(np.int64)
    elif arr.dtype.kind != 'i':
        raise FastBadIdsError(f'ids must be integers, got dtype {arr.dtype}')
    arr = arr.astype(np.int64, copy=False)
    if (arr < 0).any():
        first = int(np.flatnonzero(arr < 0)[0])
        raise FastNegativeIdError(f'negative id {int(arr[first])} at position {first}; '
                                  'LeRobot would raise OverflowError and return zeros')
    return arr


class FastActionTokenizer:
    """
    The FAST action tokenizer: DCT + quantisation + byte-level BPE.

    Build it with `from_pretrained(directory)` (the physical-intelligence/fast layout, also
    what LeRobot's tokenizer trainer writes) or `fit(chunks)`; write it with
    `save_pretrained(directory)`. Ids are FAST ids in [0, bpe_vocab_size); mapping them to
    PaliGemma ids is the text tokenizer's job.
    """

    def __init__(self, bpe, config, clean_up_tokenization_spaces=False):
        if not isinstance(bpe, ByteLevelBpe) or not isinstance(config, FastConfig):
            raise TypeError('FastActionTokenizer(bpe: ByteLevelBpe, config: FastConfig, ...)')
        self._bpe = bpe
        self._config = config
        self._clean_up = bool(clean_up_tokenization_spaces)

    # ---------------------------------------------------------------- files
    @classmethod
    def from_pretrained(cls, path):
        """
        Load a FAST tokenizer directory (processor_config.json + tokenizer.json + configs).

        Only local directories; FastFormatError names the file and key when anything is
        missing or invalid. A processing_action_tokenizer.py in it is ignored, never run.
        """
        directory = pathlib.Path(path)
        config, clean_up, processor_class = read_config(directory)
        if processor_class not in (None, PROCESSOR_CLASS):
            logger.warning('%s: processor_class %r is not the FAST processor %s; decoding '
                           'with FAST rules anyway', directory, processor_class, PROCESSOR_CLASS)
        tokenizer_file = directory / TOKENIZER_FILE
        if not tokenizer_file.is_file():
            raise FastFormatError(f'{tokenizer_file} is missing')
        bpe = ByteLevelBpe.from_file(tokenizer_file)
        if bpe.size > config.vocab_size:
            logger.warning('%s: the BPE has %d tokens but vocab_size is %d; ids >= %d would '
                           'overlap text tokens in the PaliGemma mapping', directory, bpe.size,
                           config.vocab_size, config.vocab_size)
        return cls(bpe, config, clean_up_tokenization_spaces=clean_up)

    def save_pretrained(self, path):
        """Write the directory in the released layout; returns its pathlib.Path."""
        directory = pathlib.Path(path)
        directory.mkdir(parents=True, exist_ok=True)
        self._bpe.save(directory / TOKENIZER_FILE)
        write_config(directory, self._config, self._clean_up)
        return directory

    # ---------------------------------------------------------------- properties
    scale = property(lambda self: self._config.scale, doc='DCT coefficient scale.')
    vocab_size = property(lambda self: self._config.vocab_size,
                          doc='FAST vocabulary size from processor_config.json (id slots '
                              'reserved in the PaliGemma vocabulary).')
    min_token = property(lambda self: self._config.min_token,
                         doc='Smallest quantised coefficient (chr(0) stands for it).')
    time_horizon = property(lambda self: self._config.time_horizon,
                            doc='Default H for decode, or None.')
    action_dim = property(lambda self: self._config.action_dim,
                          doc='Default D for decode, or None.')
    bpe_vocab_size = property(lambda self: self._bpe.size,
                              doc='Ids the BPE knows; larger ids are out of vocabulary.')
    clean_up_tokenization_spaces = property(
        lambda self: self._clean_up,
        doc='True when decoding applies the transformers string clean-up (released FAST).')

    def __repr__(self):
        c = self._config
        return (f'FastActionTokenizer(scale={c.scale}, vocab_size={c.vocab_size}, '
                f'min_token={c.min_token}, time_horizon={c.time_horizon}, '
                f'action_dim={c.action_dim}, bpe_vocab_size={self.bpe_vocab_size}, '
                f'clean_up_tokenization_spaces={self._clean_up})')

    # ---------------------------------------------------------------- encode
    def encode(self, actions, clip=False):
        """
        Encode actions [H, D] -> list[int], or [B, H, D] -> list[list[int]] (FAST ids).

        Raises FastEncodeError for non-finite input or coefficients the tokenizer cannot
        represent. A coefficient below min_token is an error unless clip=True, which clamps
        it to min_token exactly as FAST does (for bit-identical training targets).
        """
        try:
            arr = np.asarray(actions, dtype=np.float64)
        except (TypeError, ValueError) as err:
            raise FastEncodeError(f'actions are not a numeric array ({err}); pass numpy or a '
                                  'float32 CPU tensor') from err
        if arr.ndim not in (2, 3) or 0 in arr.shape[-2:]:
            raise FastEncodeError(f'expected actions [H, D] or [B, H, D], got shape {arr.shape}')
        if not np.isfinite(arr).all():
            raise FastEncodeError('actions contain NaN or infinity')
        batch = arr[None] if arr.ndim == 2 else arr
        where = (lambda i: f'chunk {i}: ') if arr.ndim == 3 else (lambda i: '')
        texts = [self._chunk_text(chunk, where(i), clip) for i, chunk in enumerate(batch)]
        ids = self._bpe.encode_batch(texts)
        return ids[0] if arr.ndim == 2 else ids

    def _chunk_text(self, chunk, where, clip):
        codes = quantise(chunk, self.scale) - self.min_token      # float [H*D], integral
        low, high = codes.min(), codes.max()
        if low < 0:
            if not clip:
                pos = int(np.argmin(codes))
                raise FastEncodeError(
                    f'{where}DCT coefficient {int(low) + self.min_token} (flat index '
                    f'{pos}) is below min_token {self.min_token}; pass clip=True to clamp '
                    'like FAST')
            codes = np.maximum(codes, 0)
        if high > MAX_CODE_POINT:
            raise FastEncodeError(f'{where}DCT coefficient {int(high) + self.min_token} is too '
                                  'large to encode')
        return codes_to_text(codes.astype(np.uint32))

    # ---------------------------------------------------------------- decode
    def decode(self, ids, time_horizon=None, action_dim=None, mode='relaxed'):
        """
        Decode FAST ids -> float64 actions [H, D] (LeRobot then casts to float32).

        H and D default to the tokenizer's time_horizon / action_dim. mode='relaxed' is
        LeRobot 0.4.4: the decoded coefficients are truncated, or right-padded with 0, to
        H*D. mode='strict' requires exactly H*D coefficients. In both modes the sequences
        LeRobot turns into zeros or garbage raise a FastDecodeError subclass instead:
        FastBadIdsError (not 1-D integers), FastEmptySequenceError, FastNegativeIdError,
        FastOutOfVocabError (LeRobot drops such ids), FastInvalidUtf8Error (LeRobot decodes
        U+FFFD as a coefficient), FastLengthError (strict only), FastNonFiniteError.
        """
        coeffs = self.decode_coefficients(ids, time_horizon, action_dim, mode)
        # scipy.fftpack.idct, the function LeRobot calls (modeling_pi0_fast.py:34, 1165)
        with np.errstate(over='ignore', invalid='ignore'):     # checked just below
            actions = idct(coeffs / self.scale, axis=0, norm='ortho')
        if not np.isfinite(actions).all():
            raise FastNonFiniteError(f'decoded actions are not finite (scale {self.scale})')
        return actions

    def decode_batch(self, sequences, time_horizon=None, action_dim=None, mode='relaxed'):
        """Decode several sequences -> [B, H, D]; the first failure raises, naming its index."""
        out = []
        for i, ids in enumerate(sequences):
            try:
                out.append(self.decode(ids, time_horizon, action_dim, mode))
            except FastDecodeError as err:
                raise type(err)(f'sequence {i}: {err}') from err
        if not out:
            raise FastEmptySequenceError('no sequences to decode')
        return np.stack(out)

    def decode_coefficients(self, ids, time_horizon=None, action_dim=None, mode='relaxed'):
        """Decode FAST ids -> the quantised DCT coefficients, int64 [H, D] (see `decode`)."""
        if mode not in MODES:
            raise FastTokenizerError(f'mode must be one of {MODES}, got {mode!r}')
        h, d = self._dims(time_horizon, action_dim)
        codes = text_to_codes(self.decode_text(ids)) + self.min_token
        want = h * d
        if codes.size != want:
            if mode == 'strict':
                raise FastLengthError(f'{codes.size} coefficients decoded, expected '
                                      f'{want} = {h} x {d}')
            codes = codes[:want] if codes.size > want else \
                np.pad(codes, (0, want - codes.size))
        return codes.reshape(h, d)

    def decode_text(self, ids):
        """
        Decode FAST ids -> the coefficient string HF's decode gives LeRobot (one char per value).

        Applies the transformers clean-up when tokenizer_config.json enables it. Raises the
        id and UTF-8 errors of `decode`.
        """
        text = self._bpe.decode_text(_as_ids(ids).tolist())
        return clean_up_tokenization(text) if self._clean_up else text

    def _dims(self, time_horizon, action_dim):
        h = self.time_horizon if time_horizon is None else time_horizon
        d = self.action_dim if action_dim is None else action_dim
        if h is None or d is None:
            raise FastTokenizerError('decode needs time_horizon and action_dim: pass them, or '
                                     'save them in processor_config.json')
        for name, value in (('time_horizon', h), ('action_dim', d)):
            if isinstance(value, bool) or not isinstance(value, (int, np.integer)) or value < 1:
                raise FastTokenizerError(f'{name} must be a positive integer, got {value!r}')
        return int(h), int(d)

    # ---------------------------------------------------------------- fit
    @classmethod
    def fit(cls, chunks, scale=10.0, vocab_size=1024, progress=None):
        """
        Fit a tokenizer on action chunks ([N, H, D] array or a list of [H, D] arrays).

        Same procedure as FAST's `fit` (which LeRobot's tokenizer trainer calls). The result
        decodes without transformers' clean-up, as FAST's fitted tokenizers do.
        progress, if given, is called with one-line status messages.
        """
        bpe, config = fit_bpe(chunks, scale, vocab_size, progress)
        return cls(bpe, config, clean_up_tokenization_spaces=False)
