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

"""Safety filter and watchdog (core/control/safety.py)."""

import numpy as np
from pi0fast_ros.core.control.safety import SafetyFilter, Watchdog
import pytest

NAMES = ['j0', 'j1', 'grip']


def test_no_limits_passes_commands_through():
    result = SafetyFilter(NAMES).check([1e3, -1e3, 0.5], last=[0.0, 0.0, 0.0])
    np.testing.assert_array_equal(result.command, [1e3, -1e3, 0.5])
    assert result.clamped == () and result.step_limited == () and result.reason == ''


@pytest.mark.parametrize('bad', [np.nan, np.inf, -np.inf])
def test_non_finite_commands_are_refused_not_repaired(bad):
    result = SafetyFilter(NAMES, [-1] * 3, [1] * 3).check([0.0, bad, 0.0])
    assert result.command is None and result.reason == 'non_finite'


def test_position_limits_clamp_and_name_the_joints():
    f = SafetyFilter(NAMES, lower=[-1.0, -2.0, 0.0], upper=[1.0, 2.0, 0.04])
    result = f.check([1.5, -1.0, -0.1])
    np.testing.assert_array_equal(result.command, [1.0, -1.0, 0.0])
    assert result.clamped == ('j0', 'grip')


def test_step_limit_is_measured_from_the_last_command():
    f = SafetyFilter(NAMES, max_step=[0.1])  # one value for every joint
    result = f.check([1.0, -0.05, -1.0], last=[0.0, 0.0, 0.0])
    np.testing.assert_allclose(result.command, [0.1, -0.05, -0.1])
    assert result.step_limited == ('j0', 'grip')
    # without a last command there is nothing to measure the step from
    np.testing.assert_array_equal(f.check([1.0, 0, 0]).command, [1.0, 0, 0])


def test_outside_limits_moves_back_without_a_jump():
    f = SafetyFilter(NAMES, lower=[-1] * 3, upper=[1] * 3, max_step=[0.1] * 3)
    result = f.check([0.0, 0.0, 0.0], last=[3.0, 0.0, 0.0])
    np.testing.assert_allclose(result.command, [2.9, 0.0, 0.0])


@pytest.mark.parametrize('kwargs, message', [
    ({'lower': [0, 0]}, 'lower limits needs 1 or 3'),
    ({'lower': [1, 1, 1], 'upper': [0, 2, 2]}, "above upper limit for joints ['j0']"),
    ({'max_step': [0.1, 0.0, 0.1]}, 'max step must be > 0'),
    ({'upper': [np.nan]}, 'NaN'),
])
def test_invalid_limits_are_rejected(kwargs, message):
    with pytest.raises(ValueError, match=message.replace('[', r'\[').replace(']', r'\]')):
        SafetyFilter(NAMES, **kwargs)


def test_watchdog():
    w = Watchdog(0.5)
    assert not w.expired(10**12)  # never fed: the executor reports no_chunk instead
    w.feed(0)
    assert not w.expired(500_000_000)
    assert w.expired(500_000_001)
    assert not Watchdog(0.0).expired(10**15)
    with pytest.raises(ValueError):
        Watchdog(-1.0)
