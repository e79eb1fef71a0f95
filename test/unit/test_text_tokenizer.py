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

"""The PaliGemma-style text tokenizer: builder, loader, prompt tokens, FAST id map."""

import json
import subprocess
import sys

import numpy as np
from pi0fast_ros.core.policy.text_tokenizer import TextTokenizer, TextTokenizerError
from pi0fast_ros.testing.text_tokenizer_build import build_text_tokenizer
import pytest

PROMPTS = [
    'Task: pick up the red cube, State: 128 0 255 -1 17;\n',
    'Task: Fold The Towel_neatly, State: ' + ' '.join(['128'] * 32) + ';\n',
    'Task: put \u00e9l\u00e8ve \u65e5\u672c in the bowl, State: 3;\n',  # byte fallback
]


@pytest.fixture(scope='module')
def tok_dir(tmp_path_factory):
    return build_text_tokenizer(tmp_path_factory.mktemp('text_tokenizer'), n_loc=512)


@pytest.fixture(scope='module')
def tok(tok_dir):
    return TextTokenizer.from_pretrained(tok_dir)


def test_layout_matches_paligemma_conventions(tok):
    assert (tok.pad_id, tok.eos_id, tok.bos_id) == (0, 1, 2)
    assert tok.action_prefix_tokens == ('Action', ':', '\u2581')
    assert tok.ids_to_tokens([tok.end_marker_id]) == ['|']
    # <image> is an added token above the model vocabulary, as in PaliGemma
    assert tok.token_to_id('<image>') == tok.vocab_size
    # digits are single pieces (Gemma splits numbers into digits)
    assert tok.ids_to_tokens(tok.encode('255')) == ['2', '5', '5']


def test_fast_id_map_lands_on_loc_pieces(tok):
    lo, hi = tok.fast_id_range(512)
    assert tok.ids_to_tokens([hi, lo]) == ['<loc0511>', '<loc0000>']
    # the 128 skip tokens sit above the FAST range
    assert tok.ids_to_tokens([hi + 1, tok.vocab_size - 1]) == ['<seg000>', '<seg127>']
    fast = np.arange(512)
    assert np.array_equal(tok.text_to_fast_ids(tok.fast_to_text_ids(fast)), fast)
    assert tok.fast_to_text_ids([0])[0] == tok.vocab_size - 1 - 128
    tok.check_fast_vocab(512)
    with pytest.raises(TextTokenizerError, match='overlap'):
        tok.check_fast_vocab(tok.vocab_size - 128 - tok.end_marker_id)
    with pytest.raises(TextTokenizerError, match='does not fit'):
        tok.check_fast_vocab(tok.vocab_size)


def test_prompt_tokens_match_transformers(tok, tok_dir):
    transformers = pytest.importorskip('transformers')
    for cls in (transformers.AutoTokenizer, transformers.PreTrainedTokenizerFast):
        hf = cls.from_pretrained(str(tok_dir))
        assert hf.vocab_size == tok.vocab_size
        assert hf.bos_token_id == tok.bos_id and hf.pad_token_id == tok.pad_id
        for max_length in (200, 12):  # 12 truncates every prompt
            for prompt in PROMPTS:
                enc = hf(prompt, max_length=max_length, truncation=True, padding='max_length',
                         padding_side='right', return_tensors='np')
                ids, mask, n_full = tok.tokenize_prompt(prompt, max_length)
                assert ids.tolist() == enc['input_ids'][0].tolist(), prompt
                assert mask.tolist() == enc['attention_mask'][0].astype(bool).tolist()
                assert n_full == len(hf(prompt)['input_ids'])
        ids = list(range(tok.vocab_size))
        assert hf.convert_ids_to_tokens(ids) == tok.ids_to_tokens(ids)
        assert hf.encode('Action: ', add_special_tokens=False) == list(tok.action_prefix_ids)


def test_prompt_round_trips_through_decode(tok):
    for prompt in PROMPTS:
        assert tok.decode(tok.encode(prompt)) == prompt


def test_truncation_keeps_bos_and_reports_length(tok):
    ids, mask, n_full = tok.tokenize_prompt(PROMPTS[1], max_length=10)
    assert ids[0] == tok.bos_id and mask.all() and n_full > 10
    assert ids[1:].tolist() == tok.encode(PROMPTS[1])[:9]


def test_missing_and_malformed_directories_are_refused(tmp_path, tok_dir):
    with pytest.raises(TextTokenizerError, match='no tokenizer.json'):
        TextTokenizer.from_pretrained(tmp_path)
    (tmp_path / 'tokenizer.json').write_text('{"not": "a tokenizer"}')
    with pytest.raises(TextTokenizerError, match='cannot load'):
        TextTokenizer.from_pretrained(tmp_path)


def test_tokenizer_without_end_marker_is_refused(tmp_path, tok_dir):
    data = json.loads((tok_dir / 'tokenizer.json').read_text())
    vocab = data['model']['vocab']
    vocab['\u2016'] = vocab.pop('|')  # rename the "|" piece
    (tmp_path / 'tokenizer.json').write_text(json.dumps(data))
    with pytest.raises(TextTokenizerError, match='end marker'):
        TextTokenizer.from_pretrained(tmp_path)


def test_special_token_names_come_from_side_files(tmp_path, tok_dir):
    data = json.loads((tok_dir / 'tokenizer.json').read_text())
    (tmp_path / 'tokenizer.json').write_text(json.dumps(data))
    (tmp_path / 'tokenizer_config.json').write_text(json.dumps(
        {'bos_token': {'content': '<eos>'}, 'pad_token': '<unk>'}))
    tok = TextTokenizer.from_pretrained(tmp_path)
    assert (tok.bos_id, tok.pad_id) == (1, 3)


def test_training_target_flags_behave_like_paligemma(tok, tok_dir):
    # LeRobot builds training targets with add_eos_token=True, add_bos_token=False (TP:388-393):
    # "|" must then encode as ["|", EOS], as with the real PaliGemma tokenizer.
    transformers = pytest.importorskip('transformers')
    hf = transformers.AutoTokenizer.from_pretrained(str(tok_dir), add_eos_token=True,
                                                    add_bos_token=False)
    assert hf.encode('|') == [tok.end_marker_id, tok.eos_id]
    assert hf.encode('Action: ', add_special_tokens=False) == list(tok.action_prefix_ids)


def test_distinct_prompts_do_not_grow_memory(tok_dir, tmp_path):
    # Every prompt holds a new state, and PaliGemma's tokenizer.json has no pre-tokenizer: with
    # `tokenizers`' BPE word cache on, each prompt stays cached (~6.5 kB, 10,000 of them: the
    # policy node's RSS grew ~2 MB/min). Measured in a fresh process, its RSS after the first
    # 1,000 prompts vs after 21,000 more: with the cache that is ~+65 MB.
    script = tmp_path / 'grow.py'
    script.write_text(f"""
import numpy as np
from pi0fast_ros.core.policy.text_tokenizer import TextTokenizer
def rss_mb():
    for line in open('/proc/self/status'):
        if line.startswith('VmRSS'):
            return int(line.split()[1]) / 1024
tok = TextTokenizer.from_pretrained({str(tok_dir)!r})
rng = np.random.default_rng(0)
def prompts(n):
    for _ in range(n):
        state = ' '.join(map(str, rng.integers(0, 256, 32)))
        tok.tokenize_prompt(f'Task: pick up the cube, State: {{state}};\\nAction: ', 64)
prompts(1000)
before = rss_mb()
prompts(21000)
print(rss_mb() - before)
""")
    done = subprocess.run([sys.executable, str(script)], capture_output=True, text=True,
                          timeout=600)
    assert done.returncode == 0, done.stderr
    assert float(done.stdout) < 8.0, f'RSS grew {float(done.stdout):.1f} MB'
