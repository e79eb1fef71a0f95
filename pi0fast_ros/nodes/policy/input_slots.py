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
The policy node's inputs: latest-value slots, joint states by name, input checks.

No rclpy here (messages are duck-typed), so all of it is unit-testable without ROS. Callbacks
`put` the newest message of each input (one slot per input: the previous one is dropped, so
memory stays bounded and the worker always sees the newest data); the worker takes a consistent
`snapshot` of every slot under one lock and never holds that lock while it runs the model.
"""

import dataclasses
import math
import threading

import numpy as np

JOINT_STATES = 'joint_states'

# Why an input cannot be used; each is counted and reported by the node.
NO_MESSAGE = 'no_message'
STALE = 'stale'
FUTURE_STAMP = 'future_stamp'
MISSING_JOINT = 'missing_joint'
UNKNOWN_JOINT = 'unknown_joint'
BAD_JOINT_STATE = 'bad_joint_state'
NON_FINITE = 'non_finite'
BAD_IMAGE = 'bad_image'


class InputError(ValueError):
    """An input the policy must not run on: `reason` is one of the constants above."""

    def __init__(self, reason, input_name, detail):
        super().__init__(f'{input_name}: {detail}')
        self.reason = reason
        self.input_name = input_name


def stamp_to_ns(stamp):
    """builtin_interfaces/Time -> integer nanoseconds (the chunk id format)."""
    return int(stamp.sec) * 1_000_000_000 + int(stamp.nanosec)


def check_age(input_name, stamp_ns, now_ns, max_age_ns):
    """Raise InputError when a stamp is older than max_age or that far in the future."""
    if stamp_ns == 0:
        raise InputError(STALE, input_name, 'unstamped (header.stamp is zero): its age is '
                         'unknown')
    age = now_ns - stamp_ns
    if age > max_age_ns:
        raise InputError(STALE, input_name,
                         f'stale: {age / 1e9:.3f} s old (max_input_age_s {max_age_ns / 1e9:g})')
    if age < -max_age_ns:
        raise InputError(FUTURE_STAMP, input_name,
                         f'stamped {-age / 1e9:.3f} s in the future (clocks out of sync?)')


def instruction_error(text, max_chars):
    """Return why `text` cannot be an instruction ('' if it can); cheap: nothing tokenized."""
    if isinstance(text, str) and len(text) > max_chars:   # first: len() costs nothing
        return (f'instruction of {len(text)} characters refused: more than '
                f'max_instruction_chars ({max_chars})')
    if not isinstance(text, str) or not text.strip():
        return 'instruction must be a non-empty string (to stop the robot, call ~/pause)'
    return ''


class JointStateMapper:
    """
    Map sensor_msgs/JointState positions onto a fixed joint order, by name.

    joint_names: the order the policy expects. ignore_extra: accept (and ignore) joints in the
    message that are not in joint_names; by default they are an error, because an unexpected
    name usually means a renamed or misconfigured joint.
    """

    def __init__(self, joint_names, ignore_extra=False):
        if len(set(joint_names)) != len(joint_names) or not joint_names:
            raise ValueError(f'joint names must be unique and non-empty: {list(joint_names)}')
        self.joint_names = tuple(joint_names)
        self.ignore_extra = ignore_extra
        self._cached_names = None
        self._cached_index = None

    def _index(self, names):
        # Publishers send the same name list every time: cache the index for it.
        if names == self._cached_names:
            return self._cached_index
        if len(set(names)) != len(names):
            raise InputError(BAD_JOINT_STATE, JOINT_STATES, f'duplicate joint names in {names}')
        position = {n: i for i, n in enumerate(names)}
        missing = [n for n in self.joint_names if n not in position]
        if missing:
            raise InputError(MISSING_JOINT, JOINT_STATES,
                             f'missing joints {missing} (message has {names})')
        extra = [n for n in names if n not in self.joint_names]
        if extra and not self.ignore_extra:
            raise InputError(UNKNOWN_JOINT, JOINT_STATES,
                             f'unknown joints {extra} (expected {list(self.joint_names)}; set '
                             f'ignore_extra_joints to accept them)')
        index = np.array([position[n] for n in self.joint_names], dtype=np.int64)
        self._cached_names, self._cached_index = names, index
        return index

    def positions(self, msg):
        """Return float64 [len(joint_names)] positions of msg, or raise InputError."""
        names = list(msg.name)
        if len(msg.position) != len(names):
            raise InputError(BAD_JOINT_STATE, JOINT_STATES,
                             f'{len(names)} names but {len(msg.position)} positions')
        values = np.asarray(msg.position, dtype=np.float64)[self._index(names)]
        if not np.all(np.isfinite(values)):
            bad = [n for n, v in zip(self.joint_names, values) if not math.isfinite(v)]
            raise InputError(NON_FINITE, JOINT_STATES, f'non-finite positions for {bad}')
        return values


@dataclasses.dataclass(frozen=True)
class Entry:
    """The latest message of one input, its header stamp, and the callback's verdict on it."""

    msg: object
    stamp_ns: int
    error: InputError = None
    value: object = None     # what the callback already extracted (e.g. joint positions)
    # The policy host's clock when the message arrived (None: its stamp, i.e. one clock), and
    # how much later than the quickest recent message it arrived (clock_skew.ClockOffset).
    received_ns: int = None
    late_ns: int = 0

    def __post_init__(self):
        if self.received_ns is None:
            object.__setattr__(self, 'received_ns', self.stamp_ns)


@dataclasses.dataclass(frozen=True)
class Snapshot:
    """A consistent view of every input at one instant (taken under the slots' lock)."""

    entries: dict            # input name -> Entry or None (nothing received yet)
    received: dict           # input name -> number of messages received so far
    instruction: str
    generation: int          # bumped on every instruction change


class InputSlots:
    """
    One latest-value slot per input, plus the active instruction, behind one lock.

    `changed` is a Condition (on the same lock) notified on every update, so the worker can
    sleep until something it waits for happens instead of polling.
    """

    def __init__(self, input_names):
        self._lock = threading.Lock()
        self.changed = threading.Condition(self._lock)
        self._entries = dict.fromkeys(input_names)
        self._received = dict.fromkeys(input_names, 0)
        self._instruction = ''
        self._generation = 0

    def put(self, name, entry):
        """Replace the latest entry of input `name` (called from subscription callbacks)."""
        with self._lock:
            self._entries[name] = entry
            self._received[name] += 1
            self.changed.notify_all()

    def set_instruction(self, text):
        """Make text the active instruction; return True if it changed (bumps generation)."""
        with self._lock:
            if text == self._instruction:
                return False
            self._instruction = text
            self._generation += 1
            self.changed.notify_all()
            return True

    @property
    def instruction(self):
        with self._lock:
            return self._instruction

    @property
    def generation(self):
        with self._lock:
            return self._generation

    def received(self, name):
        with self._lock:
            return self._received[name]

    def notify(self):
        """Wake the worker (pause/resume, shutdown)."""
        with self._lock:
            self.changed.notify_all()

    def snapshot(self):
        """Return a Snapshot of every slot (references only: entries are immutable)."""
        with self._lock:
            return self._snapshot_locked()

    def _snapshot_locked(self):
        return Snapshot(dict(self._entries), dict(self._received), self._instruction,
                        self._generation)

    def wait_for(self, predicate, timeout):
        """Wait until predicate(Snapshot) is true or timeout; return the last Snapshot."""
        with self._lock:
            self.changed.wait_for(lambda: predicate(self._snapshot_locked()), timeout)
            return self._snapshot_locked()
