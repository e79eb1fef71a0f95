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
Snapshot of the latest inputs -> the policy's observation, or the reason there is none.

ROS-free (messages are duck-typed): every check that stands between the robot's topics and an
inference lives here, so that it can be unit-tested without DDS or a model.
"""

from concurrent.futures import ThreadPoolExecutor
import dataclasses
import time

import numpy as np

from .clock_skew import check_camera_age, check_joint_age
from .input_slots import BAD_IMAGE, InputError, JOINT_STATES, NO_MESSAGE
from ..image_conversion import ImageConversionError, is_compressed


@dataclasses.dataclass(frozen=True)
class Observation:
    """Everything one inference uses, with the provenance of each input."""

    images: dict           # checkpoint slot -> uint8 RGB [H, W, 3], or None (masked slot)
    state: np.ndarray      # float32 [state_dim], policy space (after the state adapters)
    stamps_ns: dict        # input name (joint_states or checkpoint slot) -> header stamp, ns
    instruction: str
    generation: int        # instruction generation the observation was taken under
    convert_ms: float      # time spent converting images and mapping the state

    @property
    def stamp_ns(self):
        """Return the chunk id: the stamp of the joint state used (DESIGN §3)."""
        return self.stamps_ns[JOINT_STATES]


class ObservationBuilder:
    """
    Turn an InputSlots Snapshot into an Observation, checking every input on the way.

    cameras: checkpoint slot -> input name (the slot name in InputSlots) for each slot fed by a
    topic; masked: checkpoint slots with no topic (passed to the policy as None);
    mapper: JointStateMapper (the robot's state joints, by name); state_transform: callable
    float64 [n_joints] -> [state_dim] (the adapters' state side) or None; converter:
    ImageConverter.
    """

    def __init__(self, cameras, masked, mapper, state_transform, converter):
        self.cameras = dict(cameras)
        self.masked = list(masked)
        self.mapper = mapper
        self.state_transform = state_transform
        self.converter = converter
        # callable(policy-space state): raises InputError when the state must not be used
        # (the checkpoint's state envelope, see envelope.py); None: no check
        self.state_check = None
        # JPEG/PNG decoding (a few ms per frame) runs in OpenCV without the GIL: with several
        # compressed frames, decode them concurrently (threads created once). Raw frames are
        # converted inline: a view or one cvtColor costs less than a thread hand-off.
        self._pool = (ThreadPoolExecutor(len(self.cameras), thread_name_prefix='decode')
                      if len(self.cameras) > 1 else None)

    def _convert(self, item):
        slot, entry = item
        try:
            return self.converter.to_rgb(entry.msg)
        except ImageConversionError as exc:
            raise InputError(BAD_IMAGE, self.cameras[slot], str(exc)) from None

    def _convert_all(self, entries):
        compressed = [(s, e) for s, e in entries.items() if is_compressed(e.msg)]
        pending = {}
        if self._pool is not None and len(compressed) > 1:
            pending = {s: self._pool.submit(self._convert, (s, e)) for s, e in compressed}
        done = {s: self._convert((s, e)) for s, e in entries.items() if s not in pending}
        done.update({s: future.result() for s, future in pending.items()})  # re-raises
        return done

    def close(self):
        """Stop the conversion threads."""
        if self._pool is not None:
            self._pool.shutdown(wait=True)

    def _entry(self, snapshot, name, now_ns, max_age_ns):
        # Ages as clock_skew.py rules: the joint state by its receive time, cameras against
        # the joint state's stamp (robot clock), never a robot stamp vs this host's clock.
        entry = snapshot.entries.get(name)
        if entry is None:
            raise InputError(NO_MESSAGE, name, 'no message received yet')
        if entry.error is not None:
            raise entry.error
        if name == JOINT_STATES:
            check_joint_age(entry, now_ns, max_age_ns)
        else:
            check_camera_age(name, entry, self._entry(snapshot, JOINT_STATES, now_ns,
                                                      max_age_ns), now_ns, max_age_ns)
        return entry

    def check(self, snapshot, now_ns, max_age_ns):
        """Raise InputError for the first input that is missing, invalid or stale."""
        for name in (JOINT_STATES, *self.cameras.values()):
            self._entry(snapshot, name, now_ns, max_age_ns)
        self._policy_state(snapshot.entries[JOINT_STATES])

    def _policy_state(self, joints):
        # the joint state in policy space (after the state adapters), checked
        state = joints.value if joints.value is not None else self.mapper.positions(joints.msg)
        if self.state_transform is not None:
            state = self.state_transform(state)
        if self.state_check is not None:
            self.state_check(state)
        return state

    def build(self, snapshot, now_ns, max_age_ns):
        """Return the Observation for snapshot, or raise InputError (nothing to infer on)."""
        start = time.perf_counter()
        joints = self._entry(snapshot, JOINT_STATES, now_ns, max_age_ns)
        entries = {slot: self._entry(snapshot, name, now_ns, max_age_ns)
                   for slot, name in self.cameras.items()}
        state = self._policy_state(joints)
        images = dict.fromkeys(self.masked)
        images.update(self._convert_all(entries))
        stamps = {JOINT_STATES: joints.stamp_ns}
        stamps.update({slot: entry.stamp_ns for slot, entry in entries.items()})
        return Observation(images=images, state=np.asarray(state, dtype=np.float32),
                           stamps_ns=stamps, instruction=snapshot.instruction,
                           generation=snapshot.generation,
                           convert_ms=(time.perf_counter() - start) * 1e3)
