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
Errors raised by the FAST action tokenizer.

Every decode failure is a FastDecodeError subclass with a short machine-readable `reason`
(e.g. 'negative_id'), so a caller can report it as a status without parsing the message.
"""


class FastTokenizerError(ValueError):
    """Base class for every FAST tokenizer error (bad files, bad arguments, bad data)."""


class FastFormatError(FastTokenizerError):
    """A tokenizer directory or one of its files is missing, malformed or unsupported."""


class FastEncodeError(FastTokenizerError):
    """An action chunk cannot be encoded faithfully (non-finite, wrong shape, out of range)."""


class FastDecodeError(FastTokenizerError):
    """
    A token sequence does not decode to a valid action chunk.

    `reason` is the class attribute of the subclass that was raised.
    """

    reason = 'decode_error'


class FastBadIdsError(FastDecodeError):
    """The ids are not a 1-D sequence of integers."""

    reason = 'bad_ids'


class FastEmptySequenceError(FastDecodeError):
    """No tokens at all: LeRobot would pad this to an all-zero chunk."""

    reason = 'empty'


class FastNegativeIdError(FastDecodeError):
    """A negative id: LeRobot's HF decode raises OverflowError and it returns zeros."""

    reason = 'negative_id'


class FastOutOfVocabError(FastDecodeError):
    """An id outside the BPE vocabulary: LeRobot's HF decode silently drops it."""

    reason = 'out_of_vocab'


class FastInvalidUtf8Error(FastDecodeError):
    """The tokens' bytes are not valid UTF-8: LeRobot would decode U+FFFD as a coefficient."""

    reason = 'invalid_utf8'


class FastLengthError(FastDecodeError):
    """Strict mode: the sequence does not hold exactly time_horizon * action_dim values."""

    reason = 'wrong_length'


class FastNonFiniteError(FastDecodeError):
    """The decoded actions contain NaN or infinity."""

    reason = 'non_finite'
