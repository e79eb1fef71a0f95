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
Generated PaliGemma ids -> a normalized action chunk, or a failed result that says why.

The model emits "Action", ":", "▁", FAST tokens, "|", EOS (facts §2). Two modes:

* 'strict' (default, for the robot): the ids must be exactly that: the "Action: " prefix,
  then only ids in the FAST range, then "|" (unless require_end_marker=False, when EOS or the
  end of the sequence also close the body). The FAST body is decoded with the exact length
  chunk_size x action_dim (the shape it was trained on, TP:433-470) and the first
  `horizon` = n_action_steps rows are kept.
* 'lerobot' (parity): LeRobot 0.4.4's detokenize_actions (M:1170-1256): check that the first
  two tokens are "Action", ":"; cut at the first "|" (keep all if none); delete every
  "Action: " sequence; map to FAST ids; drop ids beyond the BPE vocabulary as transformers'
  decode does (so text tokens inside the body are ignored); relaxed FAST decode (truncate /
  zero-pad the coefficients to H x D with H = n_action_steps, facts §8.3).

Where LeRobot would crash (its prefix assert) or return zeros (any decode exception), both
modes return a failed Decoded with a specific status instead; never zeros or means.
"""

from dataclasses import dataclass

import numpy as np

from pi0fast_ros.core.fast.tokenizer import FastDecodeError, FastNonFiniteError

STATUS_OK = 'ok'
STATUS_BAD_PREFIX = 'bad_prefix'          # the ids do not start with "Action: "
STATUS_NO_END_MARKER = 'no_end_marker'    # no "|" although one is required
STATUS_NOT_FAST = 'not_fast_token'        # a non-FAST id inside the action body (strict)
STATUS_EMPTY = 'empty_action'             # no FAST token at all
STATUS_MALFORMED = 'malformed_fast'       # the FAST tokenizer rejected the body
STATUS_NON_FINITE = 'non_finite'          # the decoded chunk holds NaN or inf
MODES = ('strict', 'lerobot')


@dataclass(frozen=True)
class Decoded:
    """Result of decoding one generated sequence; actions are normalized fp32 [H, D]."""

    status: str
    actions: np.ndarray = None
    error: str = None
    fast_ids: tuple = ()

    @property
    def ok(self):
        return self.status == STATUS_OK


def _fail(status, message, fast_ids=()):
    return Decoded(status=status, error=message, fast_ids=tuple(int(i) for i in fast_ids))


def _remove_all(ids, pattern):
    """Delete every occurrence of `pattern` from `ids`, scanning as LeRobot does (M:1219-1227)."""
    ids, n = list(ids), len(pattern)
    i = 0
    while n and i <= len(ids) - n:
        if tuple(ids[i:i + n]) == pattern:
            del ids[i:i + n]
        else:
            i += 1
    return ids


class ActionDecoder:
    """
    Decode generated ids into normalized actions [horizon, action_dim].

    text_tokenizer: TextTokenizer; fast_tokenizer: FastActionTokenizer. horizon is
    n_action_steps, chunk_size the length of the chunks the model was trained on, action_dim
    the real (unpadded) action dimension. validate_prefix applies to 'lerobot' mode only
    (config.validate_action_token_prefix); strict mode always checks the prefix.
    """

    def __init__(self, text_tokenizer, fast_tokenizer, *, horizon, chunk_size, action_dim,
                 mode='strict', require_end_marker=True, validate_prefix=True):
        if mode not in MODES:
            raise ValueError(f'unknown detokenization mode {mode!r}; use one of {MODES}')
        if not 0 < horizon <= chunk_size:
            raise ValueError(f'horizon {horizon} must be in 1..chunk_size ({chunk_size})')
        self.text, self.fast = text_tokenizer, fast_tokenizer
        self.horizon, self.chunk_size, self.action_dim = horizon, chunk_size, action_dim
        self.mode, self.require_end_marker = mode, require_end_marker
        self.validate_prefix = validate_prefix  # LeRobot's validate_action_token_prefix
        self.fast_lo, self.fast_hi = text_tokenizer.fast_id_range(fast_tokenizer.vocab_size)

    def __call__(self, token_ids):
        """Decode one row of generated ids (any int sequence); returns a Decoded."""
        ids = [int(i) for i in np.asarray(token_ids).reshape(-1)]
        if self.mode == 'lerobot':
            return self._decode_lerobot(ids)
        return self._decode_strict(ids)

    # --- strict ---------------------------------------------------------------------------

    def _decode_strict(self, ids):
        prefix = self.text.action_prefix_ids
        if tuple(ids[:len(prefix)]) != prefix:
            return _fail(STATUS_BAD_PREFIX, 'generated tokens do not start with "Action: " '
                         f'{list(prefix)}: got {self._show(ids[:len(prefix) + 2])}')
        body = ids[len(prefix):]
        end = self._body_end(body)
        if end is None:
            return _fail(STATUS_NO_END_MARKER, f'no end marker "|" (id {self.text.end_marker_id}) '
                         f'in {len(ids)} generated tokens')
        body = body[:end]
        bad = [(i, t) for i, t in enumerate(body) if not self.fast_lo <= t <= self.fast_hi]
        if bad:
            pos, tok = bad[0]
            return _fail(STATUS_NOT_FAST, f'{len(bad)} non-FAST token(s) in the action body, '
                         f'first at position {pos}: {self._show([tok])}')
        fast_ids = self.text.text_to_fast_ids(body).tolist()
        return self._decode_fast(fast_ids, self.chunk_size, 'strict')

    def _body_end(self, body):
        """Index of the token that closes the FAST body, or None when it is not closed."""
        if self.text.end_marker_id in body:
            return body.index(self.text.end_marker_id)
        if self.require_end_marker:
            return None
        return body.index(self.text.eos_id) if self.text.eos_id in body else len(body)

    # --- LeRobot 0.4.4 --------------------------------------------------------------------

    def _decode_lerobot(self, ids):
        tokens = self.text.ids_to_tokens(ids[:2])
        if self.validate_prefix and tokens != ['Action', ':']:
            return _fail(STATUS_BAD_PREFIX, 'LeRobot requires the first tokens "Action", ":" '
                         f'(its assert would crash); got {self._show(ids[:4])}')
        end = self.text.end_marker_id
        if end in ids:
            ids = ids[:ids.index(end)]
        elif self.require_end_marker:
            return _fail(STATUS_NO_END_MARKER, f'no end marker "|" in {len(ids)} generated '
                         'tokens (LeRobot would decode them all)')
        body = _remove_all(ids, self.text.action_prefix_ids)
        fast_ids = self.text.text_to_fast_ids(body).tolist()
        # transformers' decode silently skips ids the BPE vocabulary does not have (text
        # tokens, EOS, PAD inside the body all map above it): do the same. Negative ids (the
        # 128 skip tokens) make LeRobot return zeros; they reach the decoder and fail.
        vocab = getattr(self.fast, 'bpe_vocab_size', self.fast.vocab_size)
        fast_ids = [f for f in fast_ids if f < vocab]
        return self._decode_fast(fast_ids, self.horizon, 'relaxed')

    # --- shared ---------------------------------------------------------------------------

    def _decode_fast(self, fast_ids, rows, fast_mode):
        if not fast_ids:
            return _fail(STATUS_EMPTY, 'no FAST action tokens were generated')
        try:
            coeffs = self.fast.decode(fast_ids, time_horizon=rows, action_dim=self.action_dim,
                                      mode=fast_mode)
        except FastNonFiniteError as exc:
            return _fail(STATUS_NON_FINITE, f'FAST decode: {exc}', fast_ids)
        except FastDecodeError as exc:
            return _fail(STATUS_MALFORMED, f'FAST decode failed ({exc.reason}): {exc}', fast_ids)
        actions = np.asarray(coeffs, dtype=np.float32)[:self.horizon]
        if not np.isfinite(actions).all():
            return _fail(STATUS_NON_FINITE, 'decoded actions contain NaN or inf', fast_ids)
        return Decoded(status=STATUS_OK, actions=actions, fast_ids=tuple(fast_ids))

    def _show(self, ids):
        return [(i, t) for i, t in zip(ids, self.text.ids_to_tokens(ids))]
