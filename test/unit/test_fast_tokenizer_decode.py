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
FAST decoding: parity with LeRobot 0.4.4's relaxed rules, strict mode, malformed input.

The tokenizer is laid out like the released physical-intelligence/fast (min_token -354,
vocab 2048, clean_up_tokenization_spaces true) and trained with `tokenizers` directly. The
reference decode is transformers' PreTrainedTokenizerFast plus LeRobot's relaxed logic
(fast_tokenizer_testlib.lerobot_relaxed_decode).
"""

from fast_tokenizer_testlib import (hf_tokenizer, lerobot_relaxed_decode, reference_text,
                                    RELEASED_MIN_TOKEN, smooth_chunks, train_reference_bpe,
                                    write_released_layout)
import numpy as np
from pi0fast_ros.core.fast.format import FastConfig
from pi0fast_ros.core.fast.tokenizer import (FastActionTokenizer, FastBadIdsError,
                                             FastDecodeError, FastEmptySequenceError,
                                             FastInvalidUtf8Error, FastLengthError,
                                             FastNegativeIdError, FastNonFiniteError,
                                             FastOutOfVocabError, FastTokenizerError)
import pytest
import scipy.fft

H, D, SCALE = 10, 7, 10.0


@pytest.fixture(scope='module')
def released(tmp_path_factory):
    """(ours, hf, test chunks) for a directory laid out like the released FAST tokenizer."""
    chunks = smooth_chunks(seed=10, n=600, horizon=H, dim=D, amplitude=3.0)
    texts = [reference_text(c, SCALE, RELEASED_MIN_TOKEN) for c in chunks]
    directory = write_released_layout(tmp_path_factory.mktemp('released') / 'fast',
                                      train_reference_bpe(texts, 1000, 2048))
    return FastActionTokenizer.from_pretrained(directory), hf_tokenizer(directory), chunks[:20]


def _reference(hf, ids, horizon=H):
    return lerobot_relaxed_decode(hf, ids, horizon, D, RELEASED_MIN_TOKEN, SCALE)


def _chunk_from_codes(codes):
    """Actions whose FAST coefficients are exactly `codes` (int [H, D])."""
    return scipy.fft.idct(np.asarray(codes, dtype=np.float64) / SCALE, axis=0, norm='ortho')


def test_every_single_token_decodes_like_hf(released):
    tok, hf, _ = released
    invalid = 0
    for idx in range(tok.bpe_vocab_size):
        text = hf.decode([idx])
        if '\ufffd' in text:
            invalid += 1
            with pytest.raises(FastInvalidUtf8Error):
                tok.decode_text([idx])
        else:
            assert tok.decode_text([idx]) == text, idx
    assert 0 < invalid < tok.bpe_vocab_size    # lone UTF-8 lead/continuation bytes exist


def test_random_sequences_decode_like_hf_or_raise(released):
    tok, hf, _ = released
    rng = np.random.default_rng(11)
    outcomes = {'same': 0, 'raised': 0}
    for _ in range(300):
        ids = rng.integers(0, tok.bpe_vocab_size, rng.integers(1, 30)).tolist()
        text = hf.decode(ids)
        if '\ufffd' in text:
            with pytest.raises(FastInvalidUtf8Error):
                tok.decode_text(ids)
            outcomes['raised'] += 1
        else:
            assert tok.decode_text(ids) == text
            outcomes['same'] += 1
    assert min(outcomes.values()) >= 10, outcomes


def _ids_cases(tok, chunks):
    """Hand-made relaxed-decoding cases: (name, ids, horizon)."""
    a, b = tok.encode(chunks[0]), tok.encode(chunks[1])
    return [
        ('exact', a, H),
        ('short: last 3 tokens missing, zero-padded', a[:-3], H),
        ('long: two chunks, truncated', a + b, H),
        ('single token', a[:1], H),
        ('decoded with a shorter horizon', a, H - 4),
        ('decoded with a longer horizon', a, H + 5),
    ]


def test_relaxed_decoding_matches_lerobot(released):
    tok, hf, chunks = released
    for name, ids, horizon in _ids_cases(tok, chunks):
        expected, failed = _reference(hf, ids, horizon)
        assert not failed, name
        got = tok.decode(ids, time_horizon=horizon, action_dim=D)
        np.testing.assert_array_equal(got, expected, err_msg=name)


def test_strict_decoding_accepts_only_the_exact_length(released):
    tok, hf, chunks = released
    ids = tok.encode(chunks[0])
    np.testing.assert_array_equal(tok.decode(ids, H, D, mode='strict'), _reference(hf, ids)[0])
    with pytest.raises(FastLengthError, match=f'expected {H * D} ='):
        tok.decode(ids[:-1], H, D, mode='strict')
    with pytest.raises(FastLengthError):
        tok.decode(ids + ids[:1], H, D, mode='strict')


def test_clean_up_changes_coefficients_exactly_like_transformers(released):
    # With clean_up_tokenization_spaces true, transformers turns ' .' into '.'. Coefficients
    # -322 (chr(32), ' ') then -308 (chr(46), '.') therefore lose the -322 and every later
    # value moves up one slot; relaxed mode zero-pads the end, like LeRobot.
    tok, hf, _ = released
    codes = np.zeros((H, D), dtype=np.int64)
    codes[0, :2] = [32 + RELEASED_MIN_TOKEN, 46 + RELEASED_MIN_TOKEN]
    codes[1, 0] = 5
    chunk = _chunk_from_codes(codes)
    ids = tok.encode(chunk)
    expected, failed = _reference(hf, ids)
    assert not failed
    got = tok.decode(ids, H, D)
    np.testing.assert_array_equal(got, expected)
    shifted = tok.decode_coefficients(ids, H, D)
    assert shifted[0, 0] == 46 + RELEASED_MIN_TOKEN and shifted[0, D - 1] == 5
    assert not np.allclose(got, chunk, atol=0.1)     # the clean-up really corrupts it
    with pytest.raises(FastLengthError):
        tok.decode(ids, H, D, mode='strict')


def test_negative_id_raises_where_lerobot_returns_zeros(released):
    tok, hf, chunks = released
    ids = tok.encode(chunks[0])
    ids[4] = -3
    actions, failed = _reference(hf, ids)
    assert failed and not actions.any()
    with pytest.raises(FastNegativeIdError, match='negative id -3 at position 4') as err:
        tok.decode(ids, H, D)
    assert err.value.reason == 'negative_id'


def test_out_of_vocab_id_raises_where_lerobot_drops_it(released):
    tok, hf, chunks = released
    ids = tok.encode(chunks[0])
    with_bad = ids[:2] + [tok.bpe_vocab_size + 7] + ids[2:]
    actions, failed = _reference(hf, with_bad)
    assert not failed
    np.testing.assert_array_equal(actions, _reference(hf, ids)[0])   # silently dropped
    for mode in ('relaxed', 'strict'):
        with pytest.raises(FastOutOfVocabError, match=f'first: {tok.bpe_vocab_size + 7}'):
            tok.decode(with_bad, H, D, mode=mode)
    with pytest.raises(FastOutOfVocabError):
        tok.decode([2 ** 80], H, D)


def test_invalid_utf8_raises_where_lerobot_decodes_a_replacement_char(released):
    tok, hf, chunks = released
    ids = tok.encode(chunks[0])
    lone = next(i for i in range(tok.bpe_vocab_size) if '\ufffd' in hf.decode([i]))
    bad = ids[:3] + [lone] + ids[3:]
    text = hf.decode(bad)
    assert chr(0xFFFD) in text      # LeRobot: coefficient 65533 + min_token, no error
    _, failed = _reference(hf, bad)
    assert not failed
    with pytest.raises(FastInvalidUtf8Error, match='not valid UTF-8') as err:
        tok.decode(bad, H, D)
    assert err.value.reason == 'invalid_utf8'


def test_empty_sequence_raises_where_lerobot_returns_zeros(released):
    tok, hf, _ = released
    actions, failed = _reference(hf, [])
    assert not failed and not actions.any()       # padded to an all-zero chunk
    for empty in ([], np.zeros(0, dtype=np.int64)):
        with pytest.raises(FastEmptySequenceError):
            tok.decode(empty, H, D)


@pytest.mark.parametrize('ids', [
    np.array([1.0, 2.0]), ['a', 'b'], [True, False], [[1, 2], [3, 4]], [1, None], 7,
])
def test_non_integer_ids_raise(released, ids):
    tok, _, _ = released
    with pytest.raises(FastBadIdsError):
        tok.decode(ids, H, D)


def test_torch_and_numpy_ids_decode_like_lists(released):
    import torch
    tok, _, chunks = released
    ids = tok.encode(chunks[2])
    expected = tok.decode(ids, H, D)
    for other in (np.array(ids, dtype=np.int32), np.array(ids, dtype=np.uint16),
                  torch.tensor(ids, dtype=torch.long)):
        np.testing.assert_array_equal(tok.decode(other, H, D), expected)


def test_non_finite_result_raises(released):
    tok, _, chunks = released
    tiny = FastActionTokenizer(tok._bpe, FastConfig(scale=1e-320, vocab_size=2048,
                                                    min_token=RELEASED_MIN_TOKEN))
    with pytest.raises(FastNonFiniteError):
        tiny.decode(tok.encode(chunks[0]), H, D)


def test_horizon_and_dim_are_required_when_the_directory_has_none(released):
    tok, _, chunks = released
    assert tok.time_horizon is None and tok.action_dim is None
    with pytest.raises(FastTokenizerError, match='needs time_horizon and action_dim'):
        tok.decode(tok.encode(chunks[0]))
    with pytest.raises(FastTokenizerError, match='positive integer'):
        tok.decode(tok.encode(chunks[0]), 0, D)
    with pytest.raises(FastTokenizerError, match='mode must be'):
        tok.decode(tok.encode(chunks[0]), H, D, mode='lenient')


def test_decode_batch_names_the_failing_sequence(released):
    tok, _, chunks = released
    good = tok.encode(chunks[:3])
    assert tok.decode_batch(good, H, D).shape == (3, H, D)
    with pytest.raises(FastNegativeIdError, match='sequence 1: negative id') as err:
        tok.decode_batch([good[0], [-1], good[2]], H, D)
    assert isinstance(err.value, FastDecodeError) and err.value.reason == 'negative_id'
