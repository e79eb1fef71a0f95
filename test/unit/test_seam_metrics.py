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

"""seam_report (pi0fast_ros/testing/seams.py): seams, their jumps, and late ticks."""

import numpy as np
from pi0fast_ros.testing.seams import seam_report
import pytest

PERIOD = 33_333_333


def ramp(times_ns, speed=1.0):
    # one joint moving at `speed` units per period, sampled when each tick ran
    return (np.asarray(times_ns, float) / PERIOD * speed)[:, None]


def test_a_seam_jump_is_measured_against_the_chunks_step():
    times = np.arange(20) * PERIOD
    commands = ramp(times)
    commands[10:] += 0.5          # the new chunk takes over with a 0.5 jump on top of the motion
    stamps = np.where(np.arange(20) < 10, 1, 2)
    report = seam_report(commands, stamps, window=3, reference_step=[1.0])
    assert report.seam_ticks.tolist() == [10]
    assert report.seam_jumps[0, 0] == pytest.approx(1.5)
    assert report.max_ratio == pytest.approx(1.5)


def test_a_late_tick_is_scaled_to_one_period_and_an_early_one_is_not():
    times = np.arange(20) * PERIOD
    times[10] += 20_000_000       # tick 10 runs 20 ms late; tick 11 comes on time (early)
    commands = ramp(times)
    stamps = np.where(np.arange(20) < 10, 1, 2)
    raw = seam_report(commands, stamps, window=3, reference_step=[1.0])
    assert raw.max_ratio == pytest.approx((PERIOD + 20e6) / PERIOD)   # 1.6x at the same speed
    on_time = seam_report(commands, stamps, window=3, reference_step=[1.0],
                          tick_times_ns=times, period_ns=PERIOD)
    assert on_time.max_ratio == pytest.approx(1.0)
    # a 0.5 jump on the early tick: 0.4 + 0.5, not divided by its short interval
    commands[11:] += 0.5
    jumped = seam_report(commands, stamps, window=3, reference_step=[1.0],
                         tick_times_ns=times, period_ns=PERIOD)
    assert jumped.max_ratio == pytest.approx(1.0)
    commands[10:] += 0.5          # and a jump on the late tick is still seen, scaled
    jumped = seam_report(commands, stamps, window=3, reference_step=[1.0],
                         tick_times_ns=times, period_ns=PERIOD)
    assert jumped.max_ratio == pytest.approx(1.0 + 0.5 * PERIOD / (PERIOD + 20e6))


def test_tick_times_must_match_the_commands():
    with pytest.raises(ValueError, match='tick_times_ns'):
        seam_report(np.zeros((5, 1)), np.ones(5), 2, tick_times_ns=np.zeros(4), period_ns=1)
