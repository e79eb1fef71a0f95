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

"""FAST tokenizer: encode / decode round trip, compression, encode errors, fitting."""

from fast_tokenizer_testlib import reference_codes, reference_text, smooth_chunks
import numpy as np
from pi0fast_ros.core.fast.tokenizer import (FastActionTokenizer, FastEncodeError,
                                             FastTokenizerError)
import pytest
import scipy.fft

SCALE = 10.0
SHAPES = [(50, 14), (10, 6)]


@pytest.fixture(scope='module', params=SHAPES, ids=lambda s: f'H{s[0]}D{s[1]}')
def fitted(request):
    horizon, dim = request.param
    # The test chunks are part of the fit: a tokenizer cannot spell coefficients beyond the
    # range it was fitted on (see test_encode_rejects_coefficients_the_vocabulary_cannot_spell).
    chunks = smooth_chunks(seed=2, n=40, horizon=horizon, dim=dim)
    train = np.concatenate([smooth_chunks(seed=1, n=300, horizon=horizon, dim=dim), chunks])
    return FastActionTokenizer.fit(train, scale=SCALE, vocab_size=1024), chunks, train


def test_round_trip_reproduces_the_quantised_chunk(fitted):
    tok, chunks, _ = fitted
    for chunk in chunks:
        ids = tok.encode(chunk)
        # Decoding must give back exactly the quantised coefficients ...
        coeffs = tok.decode_coefficients(ids, mode='strict')
        np.testing.assert_array_equal(coeffs.reshape(-1), reference_codes(chunk, SCALE))
        # ... and so exactly the inverse DCT of them.
        expected = scipy.fft.idct(coeffs / SCALE, axis=0, norm='ortho')
        np.testing.assert_allclose(tok.decode(ids, mode='strict'), expected, rtol=0, atol=1e-12)


def test_round_trip_error_is_bounded_by_the_quantisation(fitted):
    # Rounding moves each DCT coefficient by at most 0.5 / scale. The orthonormal IDCT keeps
    # L2 norms per joint, so over H steps: RMS error <= 0.5 / scale and, since max <= L2,
    # max |error| <= 0.5 * sqrt(H) / scale.
    tok, chunks, _ = fitted
    horizon = chunks.shape[1]
    decoded = np.stack([tok.decode(ids, mode='strict') for ids in tok.encode(chunks)])
    err = decoded - chunks
    rms_per_joint = np.sqrt((err ** 2).mean(axis=1))
    assert rms_per_joint.max() <= 0.5 / SCALE
    assert np.abs(err).max() <= 0.5 * np.sqrt(horizon) / SCALE
    # and it is not trivially zero: the chunks really were quantised
    assert np.abs(err).max() > 1e-3


def test_batched_encode_equals_per_chunk(fitted):
    tok, chunks, _ = fitted
    batched = tok.encode(chunks[:5])
    assert batched == [tok.encode(c) for c in chunks[:5]]
    np.testing.assert_array_equal(tok.decode_batch(batched),
                                  np.stack([tok.decode(ids) for ids in batched]))


def test_compression_beats_per_dimension_binning(fitted):
    # Per-dimension binning spends one token per value: H * D tokens per chunk.
    tok, chunks, _ = fitted
    horizon, dim = chunks.shape[1:]
    lengths = [len(ids) for ids in tok.encode(chunks)]
    # smooth chunks compress well over 2.5x; white noise of the same range gets ~1.5x
    assert np.mean(lengths) * 2.5 <= horizon * dim
    assert all(0 < n for n in lengths)


def test_fit_records_the_range_and_shape(fitted):
    tok, chunks, train = fitted
    codes = np.concatenate([reference_codes(c, SCALE) for c in train])
    assert tok.min_token == int(codes.min())
    assert (tok.time_horizon, tok.action_dim) == chunks.shape[1:]
    assert (tok.scale, tok.vocab_size) == (SCALE, 1024)
    assert tok.bpe_vocab_size <= 1024
    assert not tok.clean_up_tokenization_spaces


def test_fit_is_deterministic(tmp_path):
    train = smooth_chunks(seed=3, n=120, horizon=10, dim=6)
    a = FastActionTokenizer.fit(train, vocab_size=300).save_pretrained(tmp_path / 'a')
    b = FastActionTokenizer.fit(list(train), vocab_size=300).save_pretrained(tmp_path / 'b')
    for name in ('tokenizer.json', 'processor_config.json'):
        assert (a / name).read_text() == (b / name).read_text()


def test_fit_reports_progress():
    messages = []
    FastActionTokenizer.fit(smooth_chunks(seed=3, n=50, horizon=10, dim=6), vocab_size=300,
                            progress=messages.append)
    assert any('training byte-level BPE' in m for m in messages)
    assert messages[-1].startswith('trained ')


def test_fit_accepts_varying_horizons_without_recording_one():
    chunks = list(smooth_chunks(seed=4, n=40, horizon=10, dim=6))
    chunks += list(smooth_chunks(seed=5, n=40, horizon=12, dim=6))
    tok = FastActionTokenizer.fit(chunks, vocab_size=300)
    assert tok.time_horizon is None and tok.action_dim == 6
    ids = tok.encode(chunks[-1])
    assert tok.decode(ids, time_horizon=12).shape == (12, 6)


@pytest.mark.parametrize('chunks, match', [
    ([], 'no chunks'),
    ([np.zeros(10)], r'\[H, D\]'),
    ([np.zeros((10, 6)), np.zeros((10, 5))], 'action_dim 5'),
    ([np.full((10, 6), np.nan)], 'NaN'),
])
def test_fit_rejects_bad_chunks(chunks, match):
    with pytest.raises(FastTokenizerError, match=match):
        FastActionTokenizer.fit(chunks)


def test_fit_rejects_a_vocabulary_smaller_than_the_range():
    train = smooth_chunks(seed=6, n=50, horizon=10, dim=6)
    span = int(np.ptp(np.concatenate([reference_codes(c, SCALE) for c in train])))
    with pytest.raises(FastTokenizerError, match='smaller than the coefficient range'):
        FastActionTokenizer.fit(train, vocab_size=span - 1)
    # FAST accepts vocab_size == span, but the alphabet alone then has span + 1 symbols,
    # so the BPE would hand out ids >= vocab_size.
    with pytest.raises(FastTokenizerError, match='more than vocab_size'):
        FastActionTokenizer.fit(train, vocab_size=span)


@pytest.mark.parametrize('bad', [np.zeros(6), np.zeros((2, 3, 4, 5)), np.zeros((0, 6))])
def test_encode_rejects_bad_shapes(fitted, bad):
    tok, _, _ = fitted
    with pytest.raises(FastEncodeError, match='expected actions'):
        tok.encode(bad)


def test_encode_rejects_non_finite(fitted):
    tok, chunks, _ = fitted
    chunk = chunks[0].copy()
    chunk[3, 2] = np.inf
    with pytest.raises(FastEncodeError, match='NaN or infinity'):
        tok.encode(chunk)


def test_encode_below_min_token_raises_or_clamps_like_fast(fitted):
    tok, chunks, _ = fitted
    low = chunks[0] - 50.0          # drives the DC coefficients far below min_token
    with pytest.raises(FastEncodeError, match='below min_token'):
        tok.encode(low)
    # clip=True is FAST's chr(max(q - min_token, 0)): same ids as BPE on FAST's string
    expected = tok._bpe.tokenizer.encode(reference_text(low, SCALE, tok.min_token)).ids
    assert tok.encode(low, clip=True) == expected


def test_encode_rejects_coefficients_the_vocabulary_cannot_spell():
    # Fitted on small values, this BPE knows only the bytes of chr(0..~130). A coefficient
    # around chr(5000) needs bytes it has never seen; BPE without an unknown token would
    # silently drop them.
    tok = FastActionTokenizer.fit(smooth_chunks(seed=7, n=100, horizon=10, dim=6),
                                  vocab_size=400)
    codes = np.zeros((10, 6))
    codes[0, 0] = 5000 + tok.min_token
    chunk = scipy.fft.idct(codes / SCALE, axis=0, norm='ortho')
    with pytest.raises(FastEncodeError, match='cannot represent'):
        tok.encode(chunk)
    codes[0, 0] = 0x110000 + tok.min_token      # past the last Unicode code point
    with pytest.raises(FastEncodeError, match='too large'):
        tok.encode(scipy.fft.idct(codes / SCALE, axis=0, norm='ortho'))
    codes[0, 0] = 0xD800 + tok.min_token        # a UTF-16 surrogate
    with pytest.raises(FastEncodeError, match='surrogate'):
        tok.encode(scipy.fft.idct(codes / SCALE, axis=0, norm='ortho'))


def test_encode_takes_cpu_tensors_and_names_unsupported_dtypes(fitted):
    import torch
    tok, chunks, _ = fitted
    as_f32 = chunks[0].astype(np.float32)
    assert tok.encode(torch.from_numpy(as_f32)) == tok.encode(as_f32)
    with pytest.raises(FastEncodeError, match='not a numeric array'):
        tok.encode(torch.zeros(chunks.shape[1:], dtype=torch.bfloat16))
    with pytest.raises(FastEncodeError, match='not a numeric array'):
        tok.encode([['a', 'b']])
