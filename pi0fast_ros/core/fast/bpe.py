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
The byte-level BPE half of FAST: coefficient strings <-> token ids.

FAST writes each quantised DCT coefficient as one Unicode character and runs a GPT-2 style
byte-level BPE over the string. Encoding and training go through the `tokenizers` library
(the same Rust code HF uses). Decoding is done here from a per-id byte table, because the
HF path (`Tokenizer.decode`) hides the three cases we must report: ids it silently drops,
negative ids, and invalid UTF-8 that it replaces with U+FFFD.
"""

import numpy as np
from tokenizers import decoders, models, pre_tokenizers, processors, Tokenizer, trainers

from .errors import FastEncodeError, FastFormatError, FastInvalidUtf8Error, FastOutOfVocabError


def byte_symbols():
    """
    Return the GPT-2 byte -> symbol table used by byte-level BPE, as a list of 256 chars.

    Printable Latin-1 bytes stand for themselves; the other 68 bytes (controls, space, DEL,
    NBSP, soft hyphen) take U+0100.. in byte order. This is the table the `tokenizers`
    ByteLevel pre-tokenizer and decoder use (tokenizers/src/pre_tokenizers/byte_level.rs,
    bytes_char); test_fast_tokenizer_format.py checks it against the library.
    """
    printable = set(range(ord('!'), ord('~') + 1)) | set(range(0xA1, 0xAD)) | \
        set(range(0xAE, 0x100))
    table, extra = [], 0
    for b in range(256):
        if b in printable:
            table.append(chr(b))
        else:
            table.append(chr(256 + extra))
            extra += 1
    return table


_SYMBOL_TO_BYTE = {s: b for b, s in enumerate(byte_symbols())}

# transformers 4.53.2 `clean_up_tokenization` (tokenization_utils_base.py:3889-3912), applied
# by PreTrainedTokenizerFast._decode when the tokenizer's `clean_up_tokenization_spaces` flag
# is true. Order matters: the replacements run one after another on the whole string.
_CLEAN_UP_REPLACEMENTS = (
    (' .', '.'), (' ?', '?'), (' !', '!'), (' ,', ','), (" ' ", "'"),
    (" n't", "n't"), (" 'm", "'m"), (" 's", "'s"), (" 've", "'ve"), (" 're", "'re"),
)


def clean_up_tokenization(text):
    """Apply transformers' English clean-up to a decoded string (see _CLEAN_UP_REPLACEMENTS)."""
    for old, new in _CLEAN_UP_REPLACEMENTS:
        text = text.replace(old, new)
    return text


def token_bytes(token):
    """
    Return the bytes one vocabulary string stands for under the ByteLevel decoder.

    A string made only of byte symbols maps symbol by symbol; any other string (FAST's
    initial alphabet adds raw characters such as chr(0) or chr(600) to the vocabulary) is
    emitted as its own UTF-8 bytes. Same rule as tokenizers' ByteLevel::decode_chain.
    """
    try:
        return bytes(_SYMBOL_TO_BYTE[c] for c in token)
    except KeyError:
        return token.encode('utf-8')


class ByteLevelBpe:
    """A loaded byte-level BPE tokenizer plus the byte table used for strict decoding."""

    def __init__(self, tokenizer):
        if not isinstance(tokenizer.decoder, decoders.ByteLevel):
            raise FastFormatError(
                f'tokenizer.json: decoder is {type(tokenizer.decoder).__name__}, expected '
                'ByteLevel (the FAST format); other decoders are not supported')
        # Any other model or pre-tokenizer would load and then fail, or split the coefficient
        # string differently, only at the first inference.
        for part, kind, value in (('model', models.BPE, tokenizer.model),
                                  ('pre-tokenizer', pre_tokenizers.ByteLevel,
                                   tokenizer.pre_tokenizer)):
            if not isinstance(value, kind):
                raise FastFormatError(
                    f'tokenizer.json: {part} is {type(value).__name__}, expected '
                    f'{kind.__name__} (the FAST format: a byte-level BPE)')
        # HF disables a stored truncation/padding at call time; so do we.
        tokenizer.no_truncation()
        tokenizer.no_padding()
        self.tokenizer = tokenizer
        vocab = tokenizer.get_vocab(with_added_tokens=True)      # {token string: id}
        size = max(vocab.values()) + 1 if vocab else 0
        self._bytes = [None] * size                               # None marks an id hole
        for token, idx in vocab.items():
            self._bytes[idx] = token_bytes(token)
        self._lengths = np.array([len(b or b'') for b in self._bytes], dtype=np.int64)

    @property
    def size(self):
        """Return how many ids the BPE knows: ids >= size are out of vocabulary."""
        return len(self._bytes)

    @classmethod
    def from_file(cls, path):
        """Load tokenizer.json; FastFormatError if it is unreadable or not byte-level."""
        try:
            tokenizer = Tokenizer.from_file(str(path))
        except Exception as err:   # tokenizers raises a bare Exception on bad JSON
            raise FastFormatError(f'{path}: not a readable tokenizers file ({err})') from err
        return cls(tokenizer)

    @classmethod
    def train(cls, texts, alphabet_size, vocab_size):
        """
        Train a byte-level BPE the way FAST's `fit` does.

        Same components as tokenizers' ByteLevelBPETokenizer() and the same BpeTrainer
        settings as FAST processing_action_tokenizer.py:130-151: min_frequency 2, no special
        tokens, initial alphabet chr(0..alphabet_size-1), max_token_length 10000.
        """
        tokenizer = Tokenizer(models.BPE())
        tokenizer.pre_tokenizer = pre_tokenizers.ByteLevel(add_prefix_space=False)
        tokenizer.decoder = decoders.ByteLevel()
        tokenizer.post_processor = processors.ByteLevel(trim_offsets=False)
        trainer = trainers.BpeTrainer(
            vocab_size=vocab_size, min_frequency=2, show_progress=False, special_tokens=[],
            initial_alphabet=[chr(i) for i in range(alphabet_size)], max_token_length=10000)
        tokenizer.train_from_iterator(texts, trainer=trainer)
        return cls(tokenizer)

    def save(self, path):
        """Write tokenizer.json."""
        self.tokenizer.save(str(path))

    def encode_batch(self, texts):
        """
        Encode coefficient strings to ids, checking that no character was lost.

        A BPE without an unknown token silently skips any byte symbol missing from its
        vocabulary (possible for coefficients outside the fitted range), so the bytes of the
        ids must add up to the UTF-8 length of the input.
        """
        out = []
        for i, enc in enumerate(self._encode(texts)):
            ids = enc.ids
            got = int(self._lengths[ids].sum()) if ids else 0
            want = len(texts[i].encode('utf-8'))
            if got != want:
                where = f'chunk {i}: ' if len(texts) > 1 else ''
                raise FastEncodeError(
                    f'{where}the BPE vocabulary cannot represent the coefficients '
                    f'({want - got} of {want} bytes would be dropped); they lie outside the '
                    'range the tokenizer was fitted on')
            out.append(ids)
        return out

    def _encode(self, texts):
        # encode_batch_fast (tokenizers >= 0.21) skips offsets we do not need; a single
        # chunk is cheapest through encode. Same ids either way.
        if len(texts) == 1:
            return [self.tokenizer.encode(texts[0], add_special_tokens=True)]
        fast = getattr(self.tokenizer, 'encode_batch_fast', self.tokenizer.encode_batch)
        return fast(texts, add_special_tokens=True)

    def decode_text(self, ids):
        """
        Decode validated non-negative ids (list of int) to the string HF would produce.

        Raises FastOutOfVocabError for unknown ids and FastInvalidUtf8Error where HF would
        substitute U+FFFD.
        """
        table = self._bytes
        try:
            raw = b''.join([table[i] for i in ids])     # holes are None: TypeError
        except (IndexError, TypeError):
            bad = [i for i in ids if i >= len(table) or table[i] is None]
            raise FastOutOfVocabError(
                f'{len(bad)} id(s) outside the BPE vocabulary of {self.size} '
                f'(first: {bad[0]}); LeRobot would silently drop them') from None
        try:
            return raw.decode('utf-8')
        except UnicodeDecodeError as err:
            raise FastInvalidUtf8Error(
                f'token bytes are not valid UTF-8 at byte {err.start} of {len(raw)} '
                f'({err.reason}); LeRobot would decode U+FFFD as a coefficient') from err
