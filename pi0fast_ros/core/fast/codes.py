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
The numeric half of FAST: actions <-> quantised DCT coefficients <-> characters.

Shared by encoding and fitting so the two cannot drift apart.
"""

import numpy as np
from scipy.fftpack import dct

from .errors import FastEncodeError

MAX_CODE_POINT = 0x10FFFF


def quantise(chunk, scale):
    """
    Return the rounded, scaled DCT coefficients of one chunk, flattened frequency-major.

    chunk: float [H, D]. DCT-II with norm='ortho' along time, times scale, rounded half to
    even (np.around), flattened row-major: f0d0, f0d1, ..., f1d0, ... -> float [H*D] with
    integral values (FAST processing_action_tokenizer.py:50-53, 106-108). FAST calls
    scipy.fft.dct; scipy.fftpack's is the same pocketfft transform (bit-identical here, checked
    by the tests against scipy.fft) with a third of the call overhead on small chunks.
    """
    return np.around(dct(chunk, axis=0, norm='ortho').reshape(-1) * scale)


def codes_to_text(codes):
    """
    Int code points [N], each in [0, MAX_CODE_POINT] -> str (one character per value).

    FastEncodeError for UTF-16 surrogates (U+D800..U+DFFF), which no string can hold.
    """
    try:
        return codes.astype('<u4').tobytes().decode('utf-32-le')
    except UnicodeDecodeError as err:
        raise FastEncodeError('a coefficient maps to a UTF-16 surrogate code point '
                              f'({err.reason}); it cannot be encoded') from err


def text_to_codes(text):
    """Str -> int64 code points [N] (ord of every character)."""
    return np.frombuffer(text.encode('utf-32-le'), dtype='<u4').astype(np.int64)
