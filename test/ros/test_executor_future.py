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
Chunks stamped in the future (issue 15.3), on the ROS-free ExecutorCore.

A chunk further ahead than max_future_s is refused (future_stamp); one within it waits for
its stamp without blocking anything; a steady stream stamped ahead of the executor's clock (a
robot clock 0.3 s ahead) still moves the arm instead of being replaced before it starts.
"""

from diagnostic_msgs.msg import DiagnosticStatus
from executor_config import executor_config
import numpy as np
from pi0fast_ros.core.control.blend_rule import BlendRule
from pi0fast_ros.core.control.blending import ChunkScheduler, MAX_PENDING
from pi0fast_ros.core.control.chunks import NS, uniform_chunk
from pi0fast_ros.core.control.executor import ExecutorCore
from pi0fast_ros.nodes.executor.messages import diagnostics_msg
import pytest

T0 = 5_000 * NS
TICK = NS // 50
NAMES = ('a', 'b', 'grip')


def core(**kwargs):
    return ExecutorCore(executor_config(**{'watchdog_timeout_s': 1.0, **kwargs}))


def chunk_args(stamp, positions):
    positions = np.asarray(positions, float)
    return stamp, list(NAMES), np.arange(len(positions)) / 50.0, positions


def constant(value, n=50):
    return np.full((n, 3), float(value))


def test_a_chunk_far_in_the_future_is_refused_and_blocks_nothing():
    c = core()
    for lead_s in (10.0, 3600.0):
        error = c.submit(*chunk_args(T0 + int(lead_s * NS), constant(9.0)), now_ns=T0)
        assert error is not None and error.reason == 'future_stamp'
        assert 'in the future' in str(error) and 'max_future_s 0.5' in str(error)
    # valid chunks right after it are accepted and run
    assert c.submit(*chunk_args(T0 - 10 * TICK, constant(1.0)), now_ns=T0) is None
    tick = c.tick(T0)
    assert tick.state == 'tracking' and tick.active_stamp_ns == T0 - 10 * TICK
    assert c.submit(*chunk_args(T0 + TICK, constant(2.0)), now_ns=T0 + TICK) is None
    assert c.counts['rejected']['future_stamp'] == 2
    assert 'out_of_order' not in c.counts['rejected']


def test_max_future_s_is_the_bound():
    c = core(max_future_s=2.0)
    assert c.submit(*chunk_args(T0 + int(1.9 * NS), constant(1.0)), now_ns=T0) is None
    assert c.submit(*chunk_args(T0 + int(2.1 * NS), constant(1.0)),
                    now_ns=T0).reason == 'future_stamp'


def test_a_pending_future_chunk_does_not_make_later_chunks_out_of_order():
    c = core()
    ahead = T0 + int(0.4 * NS)
    assert c.submit(*chunk_args(ahead, constant(5.0)), now_ns=T0) is None
    commands = []
    for k in range(30):   # a valid chunk every tick, stamped now (older than the pending one)
        now = T0 + k * TICK
        if k < 20:
            assert c.submit(*chunk_args(now, constant(1.0)), now_ns=now) is None, k
        commands.append(c.tick(now))
    assert 'out_of_order' not in c.counts['rejected']
    # the valid chunks run at once; the pending one takes over at its own stamp
    assert commands[0].active_stamp_ns == T0 and commands[0].command[0] == 1.0
    assert commands[19].active_stamp_ns == T0 + 19 * TICK
    assert commands[20].active_stamp_ns == ahead


def test_a_stream_stamped_ahead_of_this_clock_moves_the_arm():
    # The robot's clock runs 0.3 s ahead: every chunk is stamped 0.3 s in the future and the
    # next one arrives 0.1 s later, before the previous one's stamp. Each must still run.
    c = core(blend_steps=0)
    skew, period = int(0.3 * NS), int(0.1 * NS)
    ticks = []
    for k in range(150):
        now = T0 + k * TICK
        if k % 5 == 0:
            ramp = (now + skew) / NS + np.arange(50)[:, None] / 50.0 * np.ones(3)
            assert c.submit(*chunk_args(now + skew, ramp), now_ns=now) is None
        ticks.append(c.tick(now))
    moving = [t for t in ticks if t.state in ('tracking', 'blending')]
    assert moving, [t.hold_reason for t in ticks[-5:]]
    assert ticks[-1].state == 'tracking'
    # the command is the chunk's own time axis: the arm moves along it, 0.3 s late
    assert ticks[-1].command[0] == pytest.approx(ticks[-1].stamp_ns / NS, abs=1e-6)
    assert ticks[-1].command[0] - moving[0].command[0] > 2.0
    assert 'superseded' not in c.counts['rejected'] and period == 5 * TICK


def test_chunks_replaced_before_they_start_are_counted():
    s = ChunkScheduler(1, BlendRule('linear', 5, 0.0, 1.0, 0, 'linear'))
    for k in range(MAX_PENDING + 3):
        s.submit(uniform_chunk(T0 + (k + 1) * NS // 100, np.ones((10, 1)), 50.0), T0)
    assert s.pending == MAX_PENDING and s.take_superseded() == 3
    assert s.take_superseded() == 0


def _status(c):
    class Named:   # the two calls make_status makes on a node
        def get_fully_qualified_name(self):
            return '/executor_node'

        def get_name(self):
            return 'executor_node'
    msg = diagnostics_msg(Named(), T0, c, {})
    status = msg.status[0]
    return status.level, status.message, {kv.key: kv.value for kv in status.values}


def test_diagnostics_name_the_refusal_instead_of_policy_silent():
    c = core(watchdog_timeout_s=0.1)
    c.submit(*chunk_args(T0, constant(1.0)), now_ns=T0)
    c.tick(T0)
    for k in range(1, 20):   # only future chunks from now on: refused, the watchdog expires
        now = T0 + k * TICK
        c.submit(*chunk_args(now + 10 * NS, constant(2.0)), now_ns=now)
        tick = c.tick(now)
    assert tick.hold_reason == 'policy_silent'
    level, message, values = _status(c)
    assert level == DiagnosticStatus.ERROR
    assert 'refusing chunks' in message and 'future_stamp' in message, message
    assert values['rejected.future_stamp'] == '19'


def test_diagnostics_warn_about_a_clock_skew():
    c = core()
    c.submit(*chunk_args(T0 + int(0.3 * NS), constant(1.0)), now_ns=T0)
    c.tick(T0)
    level, message, values = _status(c)
    assert level == DiagnosticStatus.WARN and 'clock skew' in message, message
    assert values['chunk_lead_ms'] == '300.0' and values['chunks_pending'] == '1'
