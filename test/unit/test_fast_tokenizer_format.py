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

"""FAST tokenizer files: the released layout, HF compatibility, a golden tokenizer.json."""

import json

from fast_tokenizer_testlib import (hf_tokenizer, reference_codes, reference_text,
                                    RELEASED_MIN_TOKEN, smooth_chunks, train_reference_bpe,
                                    write_released_layout)
import numpy as np
from pi0fast_ros.core.fast.bpe import byte_symbols
from pi0fast_ros.core.fast.tokenizer import FastActionTokenizer, FastFormatError
import pytest
from tokenizers import decoders, models, pre_tokenizers, Tokenizer

H, D, SCALE = 10, 6, 10.0


@pytest.fixture(scope='module')
def data():
    # the last 10 chunks are the ones encoded below; all are fitted on (see test_fast_tokenizer)
    return smooth_chunks(seed=20, n=200, horizon=H, dim=D)


@pytest.fixture(scope='module')
def saved(data, tmp_path_factory):
    tok = FastActionTokenizer.fit(data, scale=SCALE, vocab_size=512)
    return tok, tok.save_pretrained(tmp_path_factory.mktemp('ours') / 'fast')


def test_byte_symbol_table_is_the_one_tokenizers_uses():
    table = byte_symbols()
    assert sorted(table) == sorted(pre_tokenizers.ByteLevel.alphabet())
    assert len(set(table)) == 256
    # every byte that occurs in valid UTF-8, through the library's pre-tokenizer
    points = list(range(0x80)) + list(range(0x80, 0x800, 7)) + [0x7FF, 0x800, 0xFFFD, 0x10000,
                                                                0x10FFFF]
    text = ''.join(chr(c) for c in points)
    text += ''.join(chr(0x1000 * k + 0x3F) for k in range(1, 0xD))
    byte_level = pre_tokenizers.ByteLevel(add_prefix_space=False, use_regex=False)
    symbols = ''.join(piece for piece, _ in byte_level.pre_tokenize_str(text))
    assert symbols == ''.join(table[b] for b in text.encode('utf-8'))
    assert set(text.encode('utf-8')) >= set(range(0x80)) | set(range(0x80, 0xC0)) | {0xC2, 0xDF}


def test_golden_tokenizer_json_from_the_tokenizers_library(data, saved):
    # The golden file: FAST's fit recipe run with `tokenizers` directly on FAST's strings.
    tok, directory = saved
    codes = np.concatenate([reference_codes(c, SCALE) for c in data])
    lo, hi = int(codes.min()), int(codes.max())
    texts = [reference_text(c, SCALE, lo) for c in data]
    golden = train_reference_bpe(texts, hi - lo + 1, 512)
    ours = json.loads((directory / 'tokenizer.json').read_text())
    assert ours == json.loads(golden.to_str())
    assert (ours['model']['type'], ours['decoder']['type'], ours['pre_tokenizer']['type']) == \
        ('BPE', 'ByteLevel', 'ByteLevel')
    for chunk in data[-10:]:
        assert tok.encode(chunk) == golden.encode(reference_text(chunk, SCALE, lo)).ids


def test_save_load_gives_the_same_tokens_and_actions(data, saved, tmp_path):
    tok, directory = saved
    loaded = FastActionTokenizer.from_pretrained(directory)
    assert repr(loaded) == repr(tok)
    ids = tok.encode(data[-10:])
    assert loaded.encode(data[-10:]) == ids
    np.testing.assert_array_equal(loaded.decode_batch(ids), tok.decode_batch(ids))
    again = loaded.save_pretrained(tmp_path / 'again')
    for name in ('tokenizer.json', 'processor_config.json', 'tokenizer_config.json'):
        assert (again / name).read_text() == (directory / name).read_text()


def test_saved_files_follow_the_fast_layout(saved):
    tok, directory = saved
    assert sorted(p.name for p in directory.iterdir()) == [
        'processor_config.json', 'special_tokens_map.json', 'tokenizer.json',
        'tokenizer_config.json']
    proc = json.loads((directory / 'processor_config.json').read_text())
    # the keys FAST's ProcessorMixin.save_pretrained writes
    assert set(proc) == {'action_dim', 'auto_map', 'min_token', 'processor_class', 'scale',
                         'time_horizon', 'vocab_size'}
    assert (proc['scale'], proc['vocab_size'], proc['min_token'], proc['time_horizon'],
            proc['action_dim']) == (SCALE, 512, tok.min_token, H, D)
    assert proc['auto_map']['AutoProcessor'].endswith(
        'processing_action_tokenizer.UniversalActionProcessor')
    tok_config = json.loads((directory / 'tokenizer_config.json').read_text())
    assert tok_config['tokenizer_class'] == 'PreTrainedTokenizerFast'
    assert tok_config['clean_up_tokenization_spaces'] is False


def test_our_directory_loads_in_transformers_with_the_same_ids(data, saved):
    tok, directory = saved
    hf = hf_tokenizer(directory)
    assert hf.clean_up_tokenization_spaces is False
    for chunk in data[-10:]:
        text = reference_text(chunk, SCALE, tok.min_token)
        ids = tok.encode(chunk)
        assert hf(text)['input_ids'] == ids
        assert hf.decode(ids) == text == tok.decode_text(ids)


def test_released_layout_loads_in_ours_without_running_its_code(tmp_path):
    chunks = smooth_chunks(seed=21, n=300, horizon=H, dim=D, amplitude=3.0)
    texts = [reference_text(c, SCALE, RELEASED_MIN_TOKEN) for c in chunks]
    directory = write_released_layout(tmp_path / 'fast', train_reference_bpe(texts, 1000, 2048))
    tok = FastActionTokenizer.from_pretrained(directory)    # the .py there would raise
    assert (tok.scale, tok.vocab_size, tok.min_token) == (10, 2048, RELEASED_MIN_TOKEN)
    assert (tok.time_horizon, tok.action_dim) == (None, None)
    assert tok.clean_up_tokenization_spaces is True
    hf = hf_tokenizer(directory)
    for chunk in chunks[:10]:
        assert tok.encode(chunk) == hf(reference_text(chunk, SCALE, RELEASED_MIN_TOKEN))[
            'input_ids']
    # saving keeps the decode rule and points AutoProcessor at the released code on the hub
    out = tok.save_pretrained(tmp_path / 'copy')
    assert json.loads((out / 'tokenizer_config.json').read_text())[
        'clean_up_tokenization_spaces'] is True
    assert not (out / 'processing_action_tokenizer.py').exists()
    assert FastActionTokenizer.from_pretrained(out).clean_up_tokenization_spaces is True


def _edit_json(directory, name, **changes):
    path = directory / name
    data = json.loads(path.read_text())
    for key, value in changes.items():
        if value is None:
            data.pop(key)
        else:
            data[key] = value
    path.write_text(json.dumps(data))


@pytest.mark.parametrize('name, changes, match', [
    ('processor_config.json', {'scale': 0}, 'scale must be a finite number > 0'),
    ('processor_config.json', {'scale': '10'}, 'scale must be'),
    ('processor_config.json', {'scale': float('nan')}, 'scale must be'),
    ('processor_config.json', {'vocab_size': 1.5}, 'vocab_size must be an integer'),
    ('processor_config.json', {'vocab_size': True}, 'vocab_size must be an integer'),
    ('processor_config.json', {'min_token': None}, 'missing min_token'),
    ('processor_config.json', {'time_horizon': 0}, 'time_horizon must be >= 1'),
    ('tokenizer_config.json', {'clean_up_tokenization_spaces': 'yes'}, 'true or false'),
])
def test_bad_config_values_are_named(saved, tmp_path, name, changes, match):
    _, directory = saved
    copy = FastActionTokenizer.from_pretrained(directory).save_pretrained(tmp_path / 'bad')
    _edit_json(copy, name, **changes)
    with pytest.raises(FastFormatError, match=match):
        FastActionTokenizer.from_pretrained(copy)


def test_integral_floats_are_accepted(saved, tmp_path):
    _, directory = saved
    copy = FastActionTokenizer.from_pretrained(directory).save_pretrained(tmp_path / 'f')
    _edit_json(copy, 'processor_config.json', vocab_size=512.0, min_token=-40.0)
    tok = FastActionTokenizer.from_pretrained(copy)
    assert (tok.vocab_size, tok.min_token) == (512, -40)


def test_missing_or_broken_files_are_named(saved, tmp_path):
    _, directory = saved
    with pytest.raises(FastFormatError, match='is not a directory'):
        FastActionTokenizer.from_pretrained(tmp_path / 'nowhere')
    copy = FastActionTokenizer.from_pretrained(directory).save_pretrained(tmp_path / 'c')
    (copy / 'tokenizer_config.json').unlink()     # optional: means no clean-up
    assert FastActionTokenizer.from_pretrained(copy).clean_up_tokenization_spaces is False
    (copy / 'tokenizer.json').write_text('{"not": "a tokenizer"')
    with pytest.raises(FastFormatError, match='tokenizer.json: not a readable'):
        FastActionTokenizer.from_pretrained(copy)
    (copy / 'tokenizer.json').unlink()
    with pytest.raises(FastFormatError, match='tokenizer.json is missing'):
        FastActionTokenizer.from_pretrained(copy)
    (copy / 'processor_config.json').write_text('[1, 2]')
    with pytest.raises(FastFormatError, match='expected a JSON object'):
        FastActionTokenizer.from_pretrained(copy)
    (copy / 'processor_config.json').unlink()
    with pytest.raises(FastFormatError, match='processor_config.json is missing'):
        FastActionTokenizer.from_pretrained(copy)


def test_a_non_byte_level_tokenizer_is_rejected(saved, tmp_path):
    _, directory = saved
    copy = FastActionTokenizer.from_pretrained(directory).save_pretrained(tmp_path / 'wp')
    other = Tokenizer(models.BPE())
    other.decoder = decoders.Metaspace()
    other.save(str(copy / 'tokenizer.json'))
    with pytest.raises(FastFormatError, match='decoder is Metaspace, expected ByteLevel'):
        FastActionTokenizer.from_pretrained(copy)


@pytest.mark.parametrize('part, model, pre_tokenizer', [
    ('model is WordPiece', lambda: models.WordPiece({'[UNK]': 0}, unk_token='[UNK]'),
     lambda: pre_tokenizers.ByteLevel(add_prefix_space=False)),
    ('model is Unigram', lambda: models.Unigram(), lambda: pre_tokenizers.ByteLevel()),
    ('pre-tokenizer is Whitespace', lambda: models.BPE(), lambda: pre_tokenizers.Whitespace()),
    ('pre-tokenizer is NoneType', lambda: models.BPE(), lambda: None),
])
def test_a_tokenizer_of_another_model_type_is_refused_at_load(saved, tmp_path, part, model,
                                                              pre_tokenizer):
    # Before: it loaded, and failed (or split the coefficients differently) at inference.
    _, directory = saved
    copy = FastActionTokenizer.from_pretrained(directory).save_pretrained(tmp_path / 'other')
    other = Tokenizer(model())
    if pre_tokenizer() is not None:
        other.pre_tokenizer = pre_tokenizer()
    other.decoder = decoders.ByteLevel()
    other.save(str(copy / 'tokenizer.json'))
    with pytest.raises(FastFormatError, match=part):
        FastActionTokenizer.from_pretrained(copy)
