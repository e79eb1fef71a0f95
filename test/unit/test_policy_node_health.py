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

"""Without DDS: the instruction check before tokenizing, and the window of inference attempts."""

from pi0fast_ros.nodes.policy.input_slots import instruction_error
from pi0fast_ros.nodes.policy.stats import ATTEMPTS, PolicyStats
import pytest


@pytest.mark.parametrize('text, expected', [
    ('pick up the cube', ''),
    ('x' * 1000, ''),
    ('x' * 1001, 'instruction of 1001 characters refused: more than max_instruction_chars '
                 '(1000)'),
    ('', 'non-empty'),
    (' \n\t', 'non-empty'),
    (None, 'non-empty'),
])
def test_instruction_error(text, expected):
    error = instruction_error(text, 1000)
    assert (expected in error) if expected else error == ''


def test_a_megabyte_instruction_is_refused_by_its_length():
    assert 'of 1000000 characters refused' in instruction_error('x' * 1_000_000, 1000)


def test_attempts_report_none_succeeded_with_the_last_reason():
    stats = PolicyStats()
    assert stats.attempts() == (0, 0, '')
    stats.record_chunk(1.0, 1.0, 1.0)
    stats.record_error('ValueError: zero-size resize target')
    assert stats.attempts() == (2, 1, 'inference raised ValueError: zero-size resize target')
    for _ in range(ATTEMPTS - 1):
        stats.record_rejection('bad_image', 'front: cannot decode JPEG')
    attempts, succeeded, why = stats.attempts()
    assert (attempts, succeeded) == (ATTEMPTS, 0)   # the success has left the window
    assert why == 'bad_image: front: cannot decode JPEG'
    stats.record_decode_failure('no_end_marker', 5.0, 'no "|" in 5 tokens')
    assert stats.attempts()[2] == 'decode failed (no_end_marker): no "|" in 5 tokens'
    stats.record_chunk(1.0, 1.0, 1.0)
    assert stats.attempts()[:2] == (ATTEMPTS, 1)
