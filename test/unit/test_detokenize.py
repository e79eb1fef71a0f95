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

"""Detokenization: the strict robot rules, LeRobot 0.4.4's relaxed rules, every failure."""

import json

import numpy as np
from pi0fast_ros.core.fast.tokenizer import FastActionTokenizer
from pi0fast_ros.core.policy import detokenize as dt
from pi0fast_ros.core.policy.text_tokenizer import TextTokenizer
from pi0fast_ros.testing.text_tokenizer_build import build_text_tokenizer
import pytest
from scipy.fft import idct

H, D = 10, 6


def smooth_chunks(rng, n, h=H, d=D):
    t = np.linspace(0, 1, h)[None, :, None]
    freq, phase = rng.uniform(0.2, 1.5, (n, 1, d)), rng.uniform(0, 1, (n, 1, d))
    return np.sin(2 * np.pi * (freq * t + phase)) * rng.uniform(0.2, 1, (n, 1, d))


@pytest.fixture(scope='module')
def toks(tmp_path_factory):
    text = TextTokenizer.from_pretrained(
        build_text_tokenizer(tmp_path_factory.mktemp('text'), n_loc=256))
    fast = FastActionTokenizer.fit(smooth_chunks(np.random.default_rng(0), 200), vocab_size=256)
    return text, fast


@pytest.fixture(scope='module')
def chunk():
    return smooth_chunks(np.random.default_rng(1), 1)[0]


def generated(text, fast, chunk, *, tail=True):
    """Return what a well-trained model emits: "Action: ", FAST body, "|", EOS, garbage."""
    body = text.fast_to_text_ids(fast.encode(chunk)).tolist()
    ids = list(text.action_prefix_ids) + body + [text.end_marker_id]
    return ids + ([text.eos_id, 7, 8, 9] if tail else [])


def decoder(toks, **kw):
    kw.setdefault('horizon', H)
    kw.setdefault('chunk_size', H)
    return dt.ActionDecoder(*toks, action_dim=D, **kw)


@pytest.mark.parametrize('mode', ['strict', 'lerobot'])
def test_good_sequence_decodes_in_both_modes(toks, chunk, mode):
    text, fast = toks
    out = decoder(toks, mode=mode)(generated(text, fast, chunk))
    assert out.ok and out.status == 'ok' and out.error is None
    assert out.actions.dtype == np.float32 and out.actions.shape == (H, D)
    # FAST quantises coefficients to 1/scale: the chunk comes back to about that precision
    np.testing.assert_allclose(out.actions, chunk, atol=0.1)
    assert list(out.fast_ids) == fast.encode(chunk)


def test_short_horizon_strict_keeps_leading_rows_lerobot_truncates_coefficients(toks):
    text, fast = toks
    chunk = smooth_chunks(np.random.default_rng(2), 1, h=20)[0]
    fast20 = FastActionTokenizer.fit(smooth_chunks(np.random.default_rng(3), 200, h=20),
                                     vocab_size=256)
    ids = generated(text, fast20, chunk)
    strict = dt.ActionDecoder(text, fast20, horizon=8, chunk_size=20, action_dim=D)(ids)
    np.testing.assert_allclose(strict.actions, chunk[:8], atol=0.1)
    # LeRobot decodes H = n_action_steps = 8 rows: it keeps the first 8*D coefficients of
    # the 20-row chunk (facts §8.3) and inverts them as an 8-row DCT
    lerobot = dt.ActionDecoder(text, fast20, horizon=8, chunk_size=20, action_dim=D,
                               mode='lerobot')(ids)
    coeffs = fast20.decode_coefficients(fast20.encode(chunk), 20, D, 'strict')
    expected = idct(coeffs.reshape(-1)[:8 * D].reshape(8, D) / fast20.scale, axis=0,
                    norm='ortho')
    np.testing.assert_allclose(lerobot.actions, expected.astype(np.float32))
    assert not np.allclose(lerobot.actions, chunk[:8], atol=0.1)


def test_bad_prefix(toks, chunk):
    text, fast = toks
    ids = generated(text, fast, chunk)
    for mode in ('strict', 'lerobot'):
        out = decoder(toks, mode=mode)(ids[3:])  # no "Action: " at all
        assert not out.ok and out.status == dt.STATUS_BAD_PREFIX and out.actions is None
        assert 'Action' in out.error
    # "Action", ":" without the space piece: LeRobot's assert passes, strict refuses
    no_space = ids[:2] + ids[3:]
    assert decoder(toks)(no_space).status == dt.STATUS_BAD_PREFIX
    assert decoder(toks, mode='lerobot')(no_space).status != dt.STATUS_BAD_PREFIX


def test_missing_end_marker(toks, chunk):
    text, fast = toks
    ids = generated(text, fast, chunk, tail=False)[:-1]  # drop "|"
    out = decoder(toks)(ids)
    assert out.status == dt.STATUS_NO_END_MARKER and '|' in out.error
    assert decoder(toks, mode='lerobot', require_end_marker=True)(ids).status == \
        dt.STATUS_NO_END_MARKER
    # LeRobot keeps everything when there is no "|"; here that is exactly the body
    lerobot = decoder(toks, mode='lerobot', require_end_marker=False)(ids)
    assert lerobot.ok
    np.testing.assert_allclose(lerobot.actions, chunk, atol=0.1)
    # strict without the requirement: EOS (or the end) closes the body
    relaxed_end = decoder(toks, require_end_marker=False)(ids + [text.eos_id, 5])
    assert relaxed_end.ok


def test_non_fast_token_inside_body(toks, chunk):
    text, fast = toks
    ids = generated(text, fast, chunk)
    ids.insert(5, text.eos_id)
    out = decoder(toks)(ids)
    assert out.status == dt.STATUS_NOT_FAST and 'position 2' in out.error
    # LeRobot maps EOS to a FAST id beyond the BPE vocabulary, which transformers' decode
    # skips: the chunk decodes as if the EOS were not there
    lerobot = decoder(toks, mode='lerobot')(ids)
    clean = decoder(toks, mode='lerobot')(generated(text, fast, chunk))
    assert lerobot.ok and np.array_equal(lerobot.actions, clean.actions)
    # a skip token (<seg...>) maps to a negative FAST id: LeRobot returns zeros, we refuse
    ids[5] = text.vocab_size - 1
    lerobot = decoder(toks, mode='lerobot')(ids)
    assert lerobot.status == dt.STATUS_MALFORMED and 'negative_id' in lerobot.error


def test_empty_body(toks):
    text, _ = toks
    ids = list(text.action_prefix_ids) + [text.end_marker_id, text.eos_id]
    for mode in ('strict', 'lerobot'):
        assert decoder(toks, mode=mode)(ids).status == dt.STATUS_EMPTY


def test_wrong_length_is_malformed_in_strict_mode_only(toks, chunk):
    text, fast = toks
    ids = generated(text, fast, chunk)
    body_end = ids.index(text.end_marker_id)
    cut = ids[:body_end - 2] + ids[body_end:]
    out = decoder(toks)(cut)
    assert out.status == dt.STATUS_MALFORMED and 'wrong_length' in out.error
    assert len(out.fast_ids) == body_end - 2 - len(text.action_prefix_ids)
    lerobot = decoder(toks, mode='lerobot')(cut)  # zero-pads the missing coefficients
    assert lerobot.ok and lerobot.actions.shape == (H, D)


def test_lerobot_mode_removes_repeated_action_prefix(toks, chunk):
    text, fast = toks
    ids = generated(text, fast, chunk)
    repeated = ids[:5] + list(text.action_prefix_ids) + ids[5:]
    a = decoder(toks, mode='lerobot')(repeated)
    b = decoder(toks, mode='lerobot')(ids)
    assert a.ok and np.array_equal(a.actions, b.actions)
    assert decoder(toks)(repeated).status == dt.STATUS_NOT_FAST


@pytest.mark.filterwarnings('ignore:overflow encountered')
def test_non_finite_decode_is_reported(toks, chunk, tmp_path):
    text, fast = toks
    fast.save_pretrained(tmp_path)
    config = json.loads((tmp_path / 'processor_config.json').read_text())
    config['scale'] = 1e-310  # subnormal: coefficient / scale overflows to inf
    (tmp_path / 'processor_config.json').write_text(json.dumps(config))
    tiny = FastActionTokenizer.from_pretrained(tmp_path)
    out = dt.ActionDecoder(text, tiny, horizon=H, chunk_size=H, action_dim=D)(
        generated(text, fast, chunk))
    assert out.status == dt.STATUS_NON_FINITE and out.actions is None


def test_argument_checks(toks):
    with pytest.raises(ValueError, match='unknown detokenization mode'):
        decoder(toks, mode='loose')
    with pytest.raises(ValueError, match='horizon'):
        decoder(toks, horizon=H + 1)
