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
The PaliGemma text tokenizer, loaded from its tokenizer.json with the `tokenizers` library.

No transformers at runtime. This class knows the ids PI0-FAST needs: BOS / EOS / PAD, the
"Action: " prefix pieces, the end marker "|", and the map between FAST ids and PaliGemma ids
(pg = vocab_size - 1 - fast_skip_tokens - fast, its own inverse; facts §2 "Tokens").
"""

import json
import pathlib

import numpy as np
from tokenizers import Tokenizer

# The text that opens every generated action sequence and the token that closes it (facts §2).
ACTION_PREFIX = 'Action: '
END_MARKER = '|'


def _without_word_cache(tokenizer):
    """
    Turn off the BPE model's word cache; return what to call after each encode (or None).

    PaliGemma's tokenizer.json has no pre-tokenizer, so a whole prompt is one "word", and the
    prompt holds the discretized state: nearly every inference is a new word, and `tokenizers`
    keeps each one (about 6.5 kB for a 64-token prompt) up to its cache capacity (10,000 words
    in tokenizers 0.23, ~65 MB): the policy node grew ~2 MB/min for its first half hour
    (issue 15.8; huggingface/tokenizers#1539). Encoding without the cache is as fast (49 vs
    51 us per so100 prompt, measured), since a prompt is almost never seen twice.
    """
    model = tokenizer.model
    resize = getattr(model, '_resize_cache', None)
    if resize is not None:
        resize(0)
        return None
    # A model with only _clear_cache (tokenizers < 0.21, which requirements/robot.txt excludes,
    # or another model type): empty it after each encode.
    return getattr(model, '_clear_cache', None)


class TextTokenizerError(ValueError):
    """A text tokenizer directory is missing, malformed, or lacks a token PI0-FAST needs."""


def _read_json(path):
    try:
        return json.loads(path.read_text(encoding='utf-8'))
    except (OSError, ValueError) as exc:
        raise TextTokenizerError(f'cannot read {path}: {exc}') from exc


def _special_token_names(directory):
    """
    Return the bos / eos / pad token strings named by the HF side files, else Gemma's.

    tokenizer_config.json wins over special_tokens_map.json, as in transformers. Values can
    be plain strings or AddedToken dicts ({"content": ...}).
    """
    names = {'bos_token': '<bos>', 'eos_token': '<eos>', 'pad_token': '<pad>'}
    for filename in ('special_tokens_map.json', 'tokenizer_config.json'):
        path = directory / filename
        if not path.is_file():
            continue
        data = _read_json(path)
        for key in names:
            value = data.get(key)
            if isinstance(value, dict):
                value = value.get('content')
            if isinstance(value, str):
                names[key] = value
    return names


class TextTokenizer:
    """
    PaliGemma-style text tokenizer with the ids PI0-FAST uses.

    Build it with `TextTokenizer.from_pretrained(dir_or_tokenizer_json)`.

    Attributes
    ----------
    vocab_size : int
        The model vocabulary WITHOUT added tokens (257152 for PaliGemma, whose `<image>` is an
        added token). The FAST id map is defined on this number, as in LeRobot (M:1102-1112).
    bos_id, eos_id, pad_id : int
    action_prefix_ids : tuple[int, ...]
        "Action: " encoded without special tokens (["Action", ":", "▁"] for PaliGemma).
    end_marker_id : int
        The id of the "|" piece that ends an action sequence.

    """

    def __init__(self, tokenizer, *, bos_token='<bos>', eos_token='<eos>', pad_token='<pad>',
                 fast_skip_tokens=128, source='<memory>'):
        self._tok = tokenizer
        self._forget_words = _without_word_cache(tokenizer)
        self.source = str(source)
        self.fast_skip_tokens = int(fast_skip_tokens)
        self.vocab_size = tokenizer.get_vocab_size(with_added_tokens=False)
        self.bos_id = self._required_id(bos_token, 'BOS')
        self.eos_id = self._required_id(eos_token, 'EOS')
        self.pad_id = self._required_id(pad_token, 'PAD')
        self.end_marker_id = self._required_id(END_MARKER, 'end marker')
        self.action_prefix_ids = tuple(self.encode(ACTION_PREFIX))
        self.action_prefix_tokens = tuple(self.ids_to_tokens(self.action_prefix_ids))

    @classmethod
    def from_pretrained(cls, path, *, fast_skip_tokens=128):
        """
        Load a directory holding tokenizer.json (plus optional HF side files) or the file itself.

        Raises TextTokenizerError naming the path when it is missing or malformed.
        """
        path = pathlib.Path(path)
        file = path / 'tokenizer.json' if path.is_dir() else path
        if not file.is_file():
            raise TextTokenizerError(f'no tokenizer.json at {path}')
        try:
            tokenizer = Tokenizer.from_file(str(file))
        except Exception as exc:  # the Rust side raises plain Exception subclasses
            raise TextTokenizerError(f'cannot load text tokenizer {file}: {exc}') from exc
        names = _special_token_names(file.parent)
        return cls(tokenizer, bos_token=names['bos_token'], eos_token=names['eos_token'],
                   pad_token=names['pad_token'], fast_skip_tokens=fast_skip_tokens,
                   source=file.parent)

    def _required_id(self, token, role):
        token_id = self._tok.token_to_id(token)
        if token_id is None:
            raise TextTokenizerError(
                f'text tokenizer {self.source} has no {role} token {token!r}')
        return token_id

    # --- text <-> ids ---------------------------------------------------------------------

    def encode(self, text):
        """Ids of `text` without special tokens (transformers' add_special_tokens=False)."""
        ids = self._tok.encode(text, add_special_tokens=False).ids
        if self._forget_words is not None:
            self._forget_words()
        return ids

    def decode(self, ids):
        """Text of `ids`, special tokens kept (for logs and diagnostics)."""
        return self._tok.decode([int(i) for i in ids], skip_special_tokens=False)

    def ids_to_tokens(self, ids):
        """Token strings of `ids`; None for an id outside the vocabulary (as transformers)."""
        return [self._tok.id_to_token(int(i)) if int(i) >= 0 else None for i in ids]

    def token_to_id(self, token):
        return self._tok.token_to_id(token)

    def tokenize_prompt(self, prompt, max_length=200):
        """
        Tokenize a prompt exactly like LeRobot's TokenizerProcessorStep for PI0-FAST.

        BOS, no EOS, truncation to max_length (BOS kept), right padding with PAD
        (TP:111, 263-270 with the pi0_fast settings P:133-138).

        Returns (ids int64 [max_length], mask bool [max_length], n_untruncated): the last is
        the length before truncation, so callers can refuse a truncated prompt.
        """
        ids = [self.bos_id] + self.encode(prompt)
        n_full = len(ids)
        ids = ids[:max_length]
        out = np.full(max_length, self.pad_id, dtype=np.int64)
        out[:len(ids)] = ids
        mask = np.zeros(max_length, dtype=bool)
        mask[:len(ids)] = True
        return out, mask, n_full

    # --- FAST <-> PaliGemma ids -----------------------------------------------------------

    @property
    def _fast_offset(self):
        return self.vocab_size - 1 - self.fast_skip_tokens

    def fast_to_text_ids(self, fast_ids):
        """Map FAST ids to PaliGemma ids: vocab_size - 1 - fast_skip_tokens - fast (int64)."""
        return self._fast_offset - np.asarray(fast_ids, dtype=np.int64)

    def text_to_fast_ids(self, text_ids):
        """Map PaliGemma ids to FAST ids (the same formula; it is its own inverse)."""
        return self._fast_offset - np.asarray(text_ids, dtype=np.int64)

    def fast_id_range(self, fast_vocab_size):
        """Inclusive range (lo, hi) of the PaliGemma ids that FAST ids 0..V-1 map to."""
        return self._fast_offset - (int(fast_vocab_size) - 1), self._fast_offset

    def check_fast_vocab(self, fast_vocab_size):
        """
        Raise TextTokenizerError unless the FAST range lies inside the vocabulary.

        The FAST ids must also miss BOS/EOS/PAD and the end marker, or the decoder could not
        tell an action token from a control token.
        """
        lo, hi = self.fast_id_range(fast_vocab_size)
        if lo < 0:
            raise TextTokenizerError(
                f'FAST vocabulary of {fast_vocab_size} does not fit below id {hi} of text '
                f'tokenizer {self.source} (vocab_size {self.vocab_size})')
        control = {'BOS': self.bos_id, 'EOS': self.eos_id, 'PAD': self.pad_id,
                   'end marker': self.end_marker_id}
        clashes = [name for name, i in control.items() if lo <= i <= hi]
        if clashes:
            raise TextTokenizerError(
                f'FAST ids {lo}..{hi} of text tokenizer {self.source} overlap the '
                f'{", ".join(clashes)} token(s)')
