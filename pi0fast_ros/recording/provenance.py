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
Provenance of an executed command in a rollout bag (docs/architecture.md, provenance chain).

    joint_commands[k] -> executor_node/status of the same tick (state, blend weight, hold,
    active chunk stamp) -> action_chunk with that header.stamp -> policy_node/chunk_info with
    that stamp -> the joint_states message and the camera frames (by header stamp) it names.

A Float64MultiArray command has no header: its tick is the status whose command has the same
values, nearest in reception time (a JointState / JointTrajectory command is matched by its
stamp). A camera slot's frame is looked up on every recorded image topic, preferring the one
named after the slot (the recorder may keep the compressed twin of the topic the policy read;
the fake robot and image_transport stamp both alike).
"""

import dataclasses

import numpy as np

from ..core.status import ChunkInfo

IMAGE_PREFIX = 'observation.images.'


@dataclasses.dataclass
class Provenance:
    """Where one command came from; `problems` lists every link that could not be followed."""

    command_index: int
    command_t_ns: int
    command: np.ndarray
    tick_index: int = -1
    tick_stamp_ns: int = 0
    state: str = ''
    hold_reason: str = ''
    blend_weight: float = 0.0
    chunk_stamp_ns: int = 0
    previous_chunk_stamp_ns: int = 0
    chunk_found: bool = False
    chunk_delay_s: float = float('nan')
    chunk_info: dict = dataclasses.field(default_factory=dict)   # its {key: value}
    joint_state_t_ns: int = 0             # reception time of the joint state used, 0 = absent
    frames: dict = dataclasses.field(default_factory=dict)   # slot -> (topic, t_ns) or None
    problems: list = dataclasses.field(default_factory=list)

    @property
    def blended(self):
        return self.state == 'blending'

    @property
    def held(self):
        return self.state == 'holding'

    @property
    def complete(self):
        return not self.problems


def find_tick(rollout, index, window_s=1.0, rtol=1e-6):
    """Index of the status tick that produced command `index`, or -1."""
    cmds, ticks = rollout.commands, rollout.ticks
    if cmds.stamp_ns[index]:
        hits = np.flatnonzero(ticks.stamp_ns == cmds.stamp_ns[index])
        return int(hits[0]) if hits.size else -1
    values = cmds.values[index]
    if ticks.command.shape[1] != values.size:
        return -1
    near = np.abs(ticks.t_ns - cmds.t_ns[index]) <= window_s * 1e9
    tol = rtol * np.maximum(1.0, np.abs(values))
    same = near & np.all(np.abs(ticks.command - values) <= tol, axis=1)
    candidates = np.flatnonzero(same)
    if not candidates.size:
        return -1
    return int(candidates[np.argmin(np.abs(ticks.t_ns[candidates] - cmds.t_ns[index]))])


def _frame(rollout, slot, stamp):
    short = slot[len(IMAGE_PREFIX):] if slot.startswith(IMAGE_PREFIX) else slot
    hits = []
    for topic, series in rollout.images.items():
        match = np.flatnonzero(series.stamp_ns == stamp)
        if match.size:
            hits.append((f'/{short}/' not in f'{topic}/', topic, int(series.t_ns[match[0]])))
    return min(hits)[1:] if hits else None


def _follow_info(rollout, prov):
    info = rollout.chunk_info.get(prov.chunk_stamp_ns)
    if info is None:
        prov.problems.append(f'no policy_node/chunk_info for chunk {prov.chunk_stamp_ns}')
        return
    prov.chunk_info = info
    record = ChunkInfo.decode(info)
    js = record.joint_state_stamp_ns
    hits = np.flatnonzero(rollout.joint_states.stamp_ns == js)
    if hits.size:
        prov.joint_state_t_ns = int(rollout.joint_states.t_ns[hits[0]])
    else:
        prov.problems.append(f'joint state {js} named by chunk_info is not in the bag')
    for slot, stamp in record.frame_stamps_ns.items():
        prov.frames[slot] = _frame(rollout, slot, stamp)
        if prov.frames[slot] is None:
            prov.problems.append(f'frame {stamp} of camera slot {slot} is not in the bag')


def trace_command(rollout, index):
    """Follow command `index` (into rollout.commands) back to its observation."""
    prov = Provenance(index, int(rollout.commands.t_ns[index]),
                      rollout.commands.values[index].copy())
    tick = find_tick(rollout, index)
    if tick < 0:
        prov.problems.append('no executor_node/status tick matches this command')
        return prov
    ticks = rollout.ticks
    prov.tick_index, prov.tick_stamp_ns = tick, int(ticks.stamp_ns[tick])
    prov.state, prov.hold_reason = ticks.state[tick], ticks.hold_reason[tick]
    prov.blend_weight = float(ticks.blend_weight[tick])
    prov.chunk_stamp_ns = int(ticks.active_ns[tick])
    prov.previous_chunk_stamp_ns = int(ticks.previous_ns[tick])
    chunk = rollout.chunk(prov.chunk_stamp_ns)
    if chunk is None:
        prov.problems.append(f'action_chunk {prov.chunk_stamp_ns} is not in the bag')
    else:
        prov.chunk_found, prov.chunk_delay_s = True, chunk.delay_s
    _follow_info(rollout, prov)
    return prov


def sample_indices(n, count, seed=0):
    """Return a seeded, sorted sample of `count` command indices out of n (all if fewer)."""
    if n <= count:
        return list(range(n))
    return sorted(np.random.default_rng(seed).choice(n, size=count, replace=False).tolist())


def moving_indices(rollout, count):
    """
    Return `count` command indices spread evenly inside the time the arm moved.

    Moving: the command's tick was tracking or blending. A demo's last command is usually a hold
    at the end; these are the ones the policy drove.
    """
    moving = [i for i in range(len(rollout.commands))
              if (tick := find_tick(rollout, i)) >= 0
              and rollout.ticks.state[tick] in ('tracking', 'blending')]
    if len(moving) <= count:
        return moving
    # At 1/(count+1), 2/(count+1), ...: the middle, away from the start-up and the final hold.
    return [moving[(k + 1) * len(moving) // (count + 1)] for k in range(count)]
