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

r"""
Build a small PaliGemma-style text tokenizer (a real tokenizer.json) for tests and the demo.

The real google/paligemma-3b-pt-224 tokenizer (257k pieces) is gated on the hub and far too big
for a tiny model. This one keeps the parts of its layout that PI0-FAST depends on:

* ids 0/1/2/3 = <pad>/<eos>/<bos>/<unk>, then the 256 byte-fallback pieces <0x00>..<0xFF>;
* Gemma's pipeline: normalizer " " -> "▁", no pre-tokenizer, BPE with byte fallback, a
  "<bos> $A" post-processor, and the matching decoder;
* single pieces for every printable ASCII character (digits stay single, as in Gemma, so the
  state text "128" is three tokens), "\n", and the prompt words ("Task", "State", "Action",
  a modest instruction vocabulary, bare and "▁"-prefixed) built by BPE merges;
* then `n_loc` <locNNNN> pieces and `n_seg` (=128, LeRobot's fast_skip_tokens) <segNNN>
  pieces at the top of the model vocabulary, so FAST ids map onto the loc pieces exactly as in
  PaliGemma (fast 0 -> <loc{n_loc-1}>);
* an added token <image> at id vocab_size, outside the model vocabulary like PaliGemma's.

The directory also gets tokenizer_config.json / special_tokens_map.json, so transformers'
AutoTokenizer and PreTrainedTokenizerFast load it as well.
"""

import json
import pathlib
import string

from tokenizers import AddedToken, decoders, models, normalizers, processors, Tokenizer

SPACE = '\u2581'  # SentencePiece's visible space, "▁"
SPECIALS = ('<pad>', '<eos>', '<bos>', '<unk>')

# Words the prompt format needs, then a modest manipulation-instruction vocabulary.
PROMPT_WORDS = ('Task', 'State', 'Action')
INSTRUCTION_WORDS = (
    'pick', 'up', 'place', 'put', 'grasp', 'grab', 'lift', 'move', 'push', 'pull', 'slide',
    'open', 'close', 'stack', 'unstack', 'fold', 'insert', 'pour', 'wipe', 'rotate', 'turn',
    'hand', 'over', 'transfer', 'take', 'drop', 'release', 'reach', 'press', 'sort',
    'the', 'a', 'an', 'and', 'then', 'of', 'it', 'them', 'in', 'on', 'into', 'onto', 'to',
    'from', 'off', 'out', 'with', 'left', 'right', 'top', 'bottom', 'front', 'back', 'side',
    'red', 'green', 'blue', 'yellow', 'orange', 'purple', 'black', 'white', 'pink', 'small',
    'big', 'large', 'cube', 'block', 'box', 'bowl', 'cup', 'mug', 'plate', 'bottle', 'can',
    'lid', 'drawer', 'door', 'towel', 'cloth', 'sponge', 'pen', 'marker', 'ball', 'toy',
    'table', 'tray', 'bin', 'basket', 'shelf', 'sock', 'shirt', 'tape', 'gripper', 'arm',
    'object', 'objects', 'everything', 'do', 'nothing', 'stay', 'still', 'home', 'position',
)


def _ordered_unique(items):
    return list(dict.fromkeys(items))


def _pieces(extra_words=()):
    """Return the normal pieces in id order and the merges that build the multi-char ones."""
    chars = [SPACE, '\n', '\t'] + [c for c in string.printable if c not in ' \n\t\r\x0b\x0c']
    words = list(PROMPT_WORDS) + list(INSTRUCTION_WORDS) + list(extra_words)
    # "▁word" chains rank before bare chains so that " pick" becomes "▁pick", not "▁" "pick";
    # within a chain shorter results come first, as BPE training would have produced them.
    targets = [SPACE + w for w in words] + [w.capitalize() for w in words] + words
    merges, pieces = [], list(chars)
    for target in _ordered_unique(targets):
        for end in range(2, len(target) + 1):
            left, right, merged = target[:end - 1], target[end - 1], target[:end]
            if merged not in pieces:
                pieces.append(merged)
                merges.append((left, right))
    return pieces, merges


def build_text_tokenizer(out_dir, *, n_loc=1024, n_seg=128, extra_words=()):
    """
    Write a PaliGemma-style tokenizer directory and return its path.

    n_loc bounds the FAST vocabulary that maps onto dedicated pieces (keep it >= the FAST
    tokenizer's vocab_size); n_seg is LeRobot's fast_skip_tokens (128 for every released
    checkpoint). The model vocabulary size (what a model's embedding must have) is
    4 + 256 + len(normal pieces) + n_loc + n_seg; see TextTokenizer.vocab_size.
    extra_words become single pieces too (bare and "▁"-prefixed), e.g. a task's instruction
    words, or the state bins "0".."255" so that each state value is one token (the demo
    checkpoint does this; real Gemma splits digits).
    """
    out_dir = pathlib.Path(out_dir)
    out_dir.mkdir(parents=True, exist_ok=True)
    pieces, merges = _pieces(extra_words)
    vocab_list = (list(SPECIALS) + [f'<0x{b:02X}>' for b in range(256)] + pieces
                  + [f'<loc{i:04d}>' for i in range(n_loc)]
                  + [f'<seg{i:03d}>' for i in range(n_seg)])
    vocab = {piece: i for i, piece in enumerate(vocab_list)}
    if len(vocab) != len(vocab_list):
        raise AssertionError('duplicate piece in the text tokenizer vocabulary')
    tokenizer = Tokenizer(models.BPE(vocab=vocab, merges=merges, unk_token='<unk>',
                                     byte_fallback=True, fuse_unk=True))
    tokenizer.normalizer = normalizers.Replace(' ', SPACE)
    tokenizer.decoder = decoders.Sequence(
        [decoders.Replace(SPACE, ' '), decoders.ByteFallback(), decoders.Fuse()])
    tokenizer.post_processor = processors.TemplateProcessing(
        single='<bos> $A', pair='<bos> $A $B', special_tokens=[('<bos>', vocab['<bos>'])])
    tokenizer.add_special_tokens(
        [AddedToken(t, special=True, normalized=False) for t in SPECIALS])
    tokenizer.add_tokens([AddedToken('<image>', special=True, normalized=False)])
    tokenizer.save(str(out_dir / 'tokenizer.json'))
    _write_side_files(out_dir)
    return out_dir


def _write_side_files(out_dir):
    # GemmaTokenizerFast, as PaliGemma's: transformers 4.x and 5.x take tokenizer.json verbatim
    # and, like for PaliGemma, honour add_bos_token / add_eos_token (LeRobot's training-target
    # tokenizer uses add_eos_token=True, add_bos_token=False; TP:388-393). A plain
    # PreTrainedTokenizerFast would ignore those flags in 4.x.
    special = {'bos_token': '<bos>', 'eos_token': '<eos>', 'pad_token': '<pad>',
               'unk_token': '<unk>'}
    config = {'tokenizer_class': 'GemmaTokenizerFast', 'model_max_length': 1000000,
              'padding_side': 'right', 'add_bos_token': True, 'add_eos_token': False,
              'clean_up_tokenization_spaces': False, **special}
    (out_dir / 'tokenizer_config.json').write_text(json.dumps(config, indent=2) + '\n')
    (out_dir / 'special_tokens_map.json').write_text(json.dumps(special, indent=2) + '\n')
