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
Input ages that hold when the policy runs on another host than the robot (clock skew).

The joint states and the camera frames are stamped on the robot, by the robot's clock; the
policy node may run on a GPU host whose clock is seconds away. Comparing a stamp with the
policy's own clock then refuses everything (robot behind) or admits stale data (robot ahead).
The rule here never compares a robot stamp with the policy's clock:

- the joint state is fresh when it was *received* less than max_input_age_s ago (the policy
  host's own clock, receive time vs now), and when it did not arrive later than the quickest
  recent joint state by more than max_input_age_s (transit = receive time - stamp; its
  minimum over a window is the clock offset plus the smallest transport delay);
- a camera frame is judged against the joint state's stamp (both robot clock): older than it
  by more than max_input_age_s is stale, that far ahead of it is a future stamp; and it too
  must have been received less than max_input_age_s ago.

The chunk is stamped with the joint state's stamp, so the executor works in the robot's clock
only. The offset estimate is reported in /diagnostics (clock skew detected). No rclpy here.
"""

import collections
import threading

from .input_slots import FUTURE_STAMP, InputError, JOINT_STATES, STALE

WINDOW = 300          # joint states in the offset window (3 s at 100 Hz)


class ClockOffset:
    """Minimum transit (receive time - stamp) over the last WINDOW joint states."""

    def __init__(self, window=WINDOW):
        self._transits = collections.deque(maxlen=window)
        self._lock = threading.Lock()

    def observe(self, stamp_ns, received_ns):
        """Add one message; return how much later than the quickest recent one it came (ns)."""
        transit = received_ns - stamp_ns
        with self._lock:
            self._transits.append(transit)
            return transit - min(self._transits)

    @property
    def offset_ns(self):
        """Local clock minus robot clock (+ the smallest transport delay); None before data."""
        with self._lock:
            return min(self._transits) if self._transits else None


def _unstamped(name, entry):
    if entry.stamp_ns == 0:
        raise InputError(STALE, name, 'unstamped (header.stamp is zero): its age is unknown')


def _received_recently(name, entry, now_ns, max_age_ns):
    age = now_ns - entry.received_ns
    if age > max_age_ns:
        raise InputError(STALE, name, f'stale: last received {age / 1e9:.3f} s ago '
                         f'(max_input_age_s {max_age_ns / 1e9:g})')
    if age < -max_age_ns:     # only where received_ns is the stamp (one clock)
        raise InputError(FUTURE_STAMP, name, f'stamped {-age / 1e9:.3f} s in the future '
                         f'(clocks out of sync?)')


def check_joint_age(entry, now_ns, max_age_ns):
    """Raise InputError when the joint state was received too long ago or arrived late."""
    _unstamped(JOINT_STATES, entry)
    _received_recently(JOINT_STATES, entry, now_ns, max_age_ns)
    if entry.late_ns > max_age_ns:
        raise InputError(STALE, JOINT_STATES,
                         f'stale: arrived {entry.late_ns / 1e9:.3f} s later than the quickest '
                         f'recent joint state (delayed in transport, or stamped late)')


def check_camera_age(name, entry, joints, now_ns, max_age_ns):
    """Raise InputError when a frame is too far from the joint state's stamp or not recent."""
    _unstamped(name, entry)
    lag = joints.stamp_ns - entry.stamp_ns
    if lag > max_age_ns:
        raise InputError(STALE, name, f'stale: {lag / 1e9:.3f} s older than the joint state '
                         f'(max_input_age_s {max_age_ns / 1e9:g}; both robot stamps)')
    if lag < -max_age_ns:
        raise InputError(FUTURE_STAMP, name, f'stamped {-lag / 1e9:.3f} s after the joint '
                         f'state (cameras and joints on different clocks?)')
    _received_recently(name, entry, now_ns, max_age_ns)
