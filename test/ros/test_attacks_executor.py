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
Attacks on the executor node's chunk input (issue 15.3, 15.9), each against the real process.

A chunk stamped far in the future must be refused and must not block the valid chunks after
it; a stream stamped ahead of the executor's clock (a robot clock 0.3 s ahead) must still move
the arm; an executor that refuses every chunk must say so on /diagnostics, not "policy silent".
Add the next attack here.
"""

from diagnostic_msgs.msg import DiagnosticArray, DiagnosticStatus
from executor_rig import connected, start_executor, statuses, trajectory
from harness import wait_for
import numpy as np
import pytest
from trajectory_msgs.msg import JointTrajectory

pytestmark = pytest.mark.ros
NS = 1_000_000_000
TIMEOUT = 30.0


def executor_diagnostics(received):
    """Return the latest /diagnostics status of executor_node: (level, message, values)."""
    for _, msg in reversed(list(received)):
        for status in msg.status:
            if status.name == 'executor_node':
                return status.level, status.message, {kv.key: kv.value for kv in status.values}
    return None, '', {}


class ChunkStream:
    """Publish a chunk every period, stamped `lead_s` ahead of the probe's clock."""

    def __init__(self, probe, pub, lead_s, period_s=0.1):
        self.probe, self.pub, self.lead_ns = probe, pub, int(lead_s * NS)
        self.t0 = probe.now().nanoseconds
        self.stamps = []
        self.stop = probe.every(period_s, self._publish)

    def _publish(self):
        stamp = self.probe.now().nanoseconds + self.lead_ns
        # a ramp on the chunk's own time axis: the command tells when it was sampled
        ramp = (stamp - self.t0) / NS + np.arange(50)[:, None] / 50.0 * np.ones(3)
        self.pub.publish(trajectory(stamp, ramp))
        self.stamps.append(stamp)


def tracking(status):
    return [(t, s) for t, s in statuses(status) if s['state'] in ('tracking', 'blending')]


def test_chunks_far_ahead_are_refused_and_the_next_valid_chunks_run(spawn, probe, tmp_path):
    node = start_executor(spawn, tmp_path, diagnostics_period_s=0.2)
    status = probe.collect(DiagnosticArray, 'executor_node/status')
    diags = probe.collect(DiagnosticArray, '/diagnostics')
    pub = connected(probe, JointTrajectory, 'action_chunk')
    for lead_s in (10.0, 3600.0):
        pub.publish(trajectory(probe.now().nanoseconds + int(lead_s * NS), np.ones((50, 3))))
    stream = ChunkStream(probe, pub, lead_s=0.0)
    try:
        assert wait_for(lambda: len(tracking(status)) >= 30, TIMEOUT), node.output()[-3000:]
    finally:
        stream.stop()
    valid = set(stream.stamps)
    assert all(int(s['active_chunk_stamp_ns']) in valid for _, s in tracking(status))
    assert wait_for(lambda: executor_diagnostics(diags)[2].get('rejected.future_stamp') == '2',
                    TIMEOUT), executor_diagnostics(diags)
    assert 'rejected.out_of_order' not in executor_diagnostics(diags)[2]
    assert 's in the future (max_future_s 0.5)' in node.output()


def test_a_robot_clock_ahead_of_the_executor_still_moves_the_arm(spawn, probe, tmp_path):
    node = start_executor(spawn, tmp_path, diagnostics_period_s=0.2)
    status = probe.collect(DiagnosticArray, 'executor_node/status')
    diags = probe.collect(DiagnosticArray, '/diagnostics')
    stream = ChunkStream(probe, connected(probe, JointTrajectory, 'action_chunk'), lead_s=0.3)
    try:
        assert wait_for(lambda: len(tracking(status)) >= 30, TIMEOUT), \
            [(s['state'], s['hold_reason']) for _, s in statuses(status)[-5:]]
        assert wait_for(lambda: 'clock skew' in executor_diagnostics(diags)[1], TIMEOUT)
    finally:
        stream.stop()
    moving = [float(s['command'].split(',')[0]) for _, s in tracking(status)]
    assert moving[-1] - moving[0] > 0.2, moving   # the arm moved, not held
    level, message, _ = executor_diagnostics(diags)
    assert level == DiagnosticStatus.WARN and 'ahead of this clock' in message, message
    assert node.alive()


def test_refusing_every_chunk_is_reported_as_such(spawn, probe, tmp_path):
    start_executor(spawn, tmp_path, diagnostics_period_s=0.2, watchdog_timeout_s=0.3)
    status = probe.collect(DiagnosticArray, 'executor_node/status')
    diags = probe.collect(DiagnosticArray, '/diagnostics')
    pub = connected(probe, JointTrajectory, 'action_chunk')
    pub.publish(trajectory(probe.now().nanoseconds, np.zeros((10, 3))))
    assert wait_for(lambda: tracking(status), TIMEOUT)
    stream = ChunkStream(probe, pub, lead_s=3600.0)   # from now on every chunk is refused
    try:
        # While the valid chunk still runs the summary is 'running: refusing chunks' (a
        # warning); once it is spent the arm holds and the refusals are the reason (an error).
        assert wait_for(lambda: executor_diagnostics(diags)[1].startswith(
            'holding: refusing chunks'), TIMEOUT), executor_diagnostics(diags)
    finally:
        stream.stop()
    level, message, values = executor_diagnostics(diags)
    assert level == DiagnosticStatus.ERROR, message
    assert 'future_stamp' in message and int(values['rejected.future_stamp']) > 0
    # and the arm held the last valid command
    held = [s for _, s in statuses(status) if s['state'] == 'holding']
    assert held and all(np.all(np.array(s['command'].split(','), float) == 0.0) for s in held)
