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
The FAST tokenizer directory layout (huggingface.co/physical-intelligence/fast).

processor_config.json   scale, vocab_size, min_token, time_horizon, action_dim (+ HF keys)
tokenizer.json          the byte-level BPE (read by the `tokenizers` library)
tokenizer_config.json   PreTrainedTokenizerFast settings; `clean_up_tokenization_spaces`
                        changes decoded text, so it is part of the decoding rule
special_tokens_map.json empty for FAST

A `processing_action_tokenizer.py` next to them is never imported or executed.
"""

from dataclasses import dataclass
import json
import math
import pathlib

from .errors import FastFormatError

PROCESSOR_CONFIG = 'processor_config.json'
TOKENIZER_FILE = 'tokenizer.json'
TOKENIZER_CONFIG = 'tokenizer_config.json'
SPECIAL_TOKENS_MAP = 'special_tokens_map.json'
PROCESSOR_CLASS = 'UniversalActionProcessor'

# transformers' AutoProcessor resolves 'repo--module.Class' against that hub repo, so the
# directories we write load in HF (trust_remote_code) without us shipping third-party code.
AUTO_MAP = {
    'AutoProcessor': 'physical-intelligence/fast--processing_action_tokenizer.'
                     'UniversalActionProcessor',
}

# What transformers 4.53.2 PreTrainedTokenizerFast.save_pretrained writes for FAST
# (no special tokens); int(1e30) is its "no limit" model_max_length.
_TOKENIZER_CONFIG = {
    'added_tokens_decoder': {},
    'extra_special_tokens': {},
    'model_max_length': int(1e30),
    'processor_class': PROCESSOR_CLASS,
    'tokenizer_class': 'PreTrainedTokenizerFast',
}


@dataclass(frozen=True)
class FastConfig:
    """The numeric FAST settings from processor_config.json."""

    scale: float
    vocab_size: int
    min_token: int
    time_horizon: int = None
    action_dim: int = None

    def __post_init__(self):
        """Validate once, so a bad value fails at load time with the key's name."""
        if isinstance(self.scale, bool) or not isinstance(self.scale, (int, float)) \
                or not math.isfinite(self.scale) or self.scale <= 0:
            raise FastFormatError(f'scale must be a finite number > 0, got {self.scale!r}')
        _check_int('vocab_size', self.vocab_size, minimum=1)
        _check_int('min_token', self.min_token, minimum=None)
        for key in ('time_horizon', 'action_dim'):
            if getattr(self, key) is not None:
                _check_int(key, getattr(self, key), minimum=1)


def _check_int(key, value, minimum):
    if isinstance(value, bool) or not isinstance(value, int):
        raise FastFormatError(f'{key} must be an integer, got {value!r}')
    if minimum is not None and value < minimum:
        raise FastFormatError(f'{key} must be >= {minimum}, got {value}')


def _read_json(path, required):
    if not path.is_file():
        if required:
            raise FastFormatError(f'{path} is missing (not a FAST tokenizer directory?)')
        return {}
    try:
        data = json.loads(path.read_text(encoding='utf-8'))
    except (OSError, UnicodeDecodeError, json.JSONDecodeError) as err:
        raise FastFormatError(f'{path}: unreadable JSON ({err})') from err
    if not isinstance(data, dict):
        raise FastFormatError(f'{path}: expected a JSON object, got {type(data).__name__}')
    return data


def _as_int(value):
    # JSON writers sometimes store integers as 10.0; accept those, nothing fractional.
    if isinstance(value, float) and value.is_integer():
        return int(value)
    return value


def read_config(directory):
    """
    Read processor_config.json and the decode flag from tokenizer_config.json.

    Returns (FastConfig, clean_up_tokenization_spaces, processor_class). A missing
    tokenizer_config.json or flag means False, transformers' default
    (4.53.2 tokenization_utils_base.py:1426).
    """
    directory = pathlib.Path(directory)
    if not directory.is_dir():
        raise FastFormatError(f'{directory} is not a directory')
    proc = _read_json(directory / PROCESSOR_CONFIG, required=True)
    missing = [k for k in ('scale', 'vocab_size', 'min_token') if k not in proc]
    if missing:
        raise FastFormatError(f'{directory / PROCESSOR_CONFIG}: missing {", ".join(missing)}')
    try:
        config = FastConfig(scale=proc['scale'], vocab_size=_as_int(proc['vocab_size']),
                            min_token=_as_int(proc['min_token']),
                            time_horizon=_as_int(proc.get('time_horizon')),
                            action_dim=_as_int(proc.get('action_dim')))
    except FastFormatError as err:
        raise FastFormatError(f'{directory / PROCESSOR_CONFIG}: {err}') from None
    tok_config = _read_json(directory / TOKENIZER_CONFIG, required=False)
    clean_up = tok_config.get('clean_up_tokenization_spaces', False)
    if not isinstance(clean_up, bool):
        raise FastFormatError(f'{directory / TOKENIZER_CONFIG}: clean_up_tokenization_spaces '
                              f'must be true or false, got {clean_up!r}')
    return config, clean_up, proc.get('processor_class')


def write_config(directory, config, clean_up):
    """Write processor_config.json, tokenizer_config.json and special_tokens_map.json."""
    directory = pathlib.Path(directory)
    proc = {
        'action_dim': config.action_dim,
        'auto_map': AUTO_MAP,
        'min_token': config.min_token,
        'processor_class': PROCESSOR_CLASS,
        'scale': config.scale,
        'time_horizon': config.time_horizon,
        'vocab_size': config.vocab_size,
    }
    tok_config = dict(_TOKENIZER_CONFIG, clean_up_tokenization_spaces=clean_up)
    for name, data in ((PROCESSOR_CONFIG, proc), (TOKENIZER_CONFIG, tok_config),
                       (SPECIAL_TOKENS_MAP, {})):
        text = json.dumps(data, indent=2, sort_keys=True) + '\n'
        (directory / name).write_text(text, encoding='utf-8')
