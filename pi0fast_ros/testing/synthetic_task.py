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
A synthetic SO-100 task whose expert is a closed-loop controller on joint positions.

Every instruction names a skill that maps the CURRENT joint positions to the next commanded
positions (a Markov controller, 30 Hz). An action chunk is that controller rolled forward
`horizon` steps from the observed state, which is exactly what a demonstration recorded at
30 Hz with absolute joint targets looks like. Because the expert is closed loop, a policy
that imitates it keeps working when the arm is somewhere the data never started from, and
re-planning from the measured (lagging) state is consistent with the data.

Demonstration chunks can be band-limited (`bandwidth`): the rollout is projected onto its first
K DCT-II frequencies along time, i.e. smoothed the way a human demonstration is smooth. FAST
then encodes every chunk as a short block of 6 K coefficients followed by an all-zero tail,
which is what lets a tiny model learn to end its chunks with exactly H x D coefficients (the
strict decoder refuses anything else); with the raw rollouts the zero tail starts anywhere.

Units are LeRobot's SO-100 units, as config/so100.yaml's fake_robot uses them: the five arm
joints in -100..100 (drawn as degrees), the gripper in 0..100 (closed..open).

Skills (joint order = SO100_JOINT_NAMES):
- 'go home', 'reach left', 'reach right': approach a fixed pose with a first-order
  (exponential) approach whose speed is capped per joint, so the motion is smooth and
  bounded from anywhere.
- 'wave': raise the arm, open the hand and circle the hand: wrist_flex and wrist_roll
  follow a stable limit cycle (radius WAVE_AMPLITUDE around 0, period WAVE_PERIOD_S). The
  phase is the angle of (wrist_flex, wrist_roll), so the next point depends on the joint
  positions alone (no hidden state), the field is smooth everywhere but the centre, and a
  policy that gets the radius a little wrong still keeps circling: wrist_flex oscillates.
"""

from dataclasses import dataclass

import numpy as np
from scipy.fft import dct, idct

SO100_JOINT_NAMES = ('shoulder_pan', 'shoulder_lift', 'elbow_flex', 'wrist_flex',
                     'wrist_roll', 'gripper')
RATE_HZ = 30.0
DT = 1.0 / RATE_HZ

# The region the data covers (inside config/so100.yaml's fake_robot limits, -100..100 and
# 0..100). States outside it still get sensible chunks from the expert, but the learned
# policy has not seen them.
WORKSPACE_LOW = np.array([-90.0, -90.0, -90.0, -90.0, -70.0, 0.0])
WORKSPACE_HIGH = np.array([90.0, 90.0, 90.0, 90.0, 70.0, 100.0])

# Where the fake robot starts: the middle of its ranges (fake_arm.FakeArm without `initial`).
REST_POSE = np.array([0.0, 0.0, 0.0, 0.0, 0.0, 50.0])

# Per-joint speed caps (units/s; the fake arm allows 200) and the approach time constant (s).
MAX_SPEED = np.array([60.0, 60.0, 60.0, 80.0, 80.0, 120.0])
APPROACH_TAU = 0.35

# Wave parameters: (wrist_flex, wrist_roll) circle counter-clockwise at WAVE_AMPLITUDE with
# period WAVE_PERIOD_S; the radius converges with APPROACH_TAU, capped at MAX_SPEED.
WAVE_AMPLITUDE = 35.0
WAVE_PERIOD_S = 2.4
WRIST_FLEX = SO100_JOINT_NAMES.index('wrist_flex')
WRIST_ROLL = SO100_JOINT_NAMES.index('wrist_roll')
SHOULDER_PAN = SO100_JOINT_NAMES.index('shoulder_pan')


@dataclass(frozen=True)
class Skill:
    """One instruction: the pose it approaches and whether it waves."""

    instruction: str
    target: tuple
    wave: bool = False


SKILLS = (
    Skill('go home', (0.0, -60.0, 60.0, 30.0, 0.0, 10.0)),
    Skill('reach left', (50.0, 30.0, -20.0, 10.0, 0.0, 60.0)),
    Skill('reach right', (-50.0, 30.0, -20.0, 10.0, 0.0, 60.0)),
    # The wave pose: arm raised, elbow bent, hand open; wrist_flex / wrist_roll are driven
    # by the limit cycle, their entries here are unused.
    Skill('wave', (0.0, -20.0, -40.0, 0.0, 0.0, 70.0), wave=True),
)
INSTRUCTIONS = tuple(s.instruction for s in SKILLS)


def skill(instruction):
    """Return the Skill for an instruction (exact text), or raise KeyError naming the choices."""
    for s in SKILLS:
        if s.instruction == instruction:
            return s
    raise KeyError(f'unknown instruction {instruction!r}; the synthetic task knows '
                   f'{list(INSTRUCTIONS)}')


def _approach(q, target, max_speed):
    """One 30 Hz step of a speed-capped exponential approach. q, target: [N, J]."""
    gain = 1.0 - np.exp(-DT / APPROACH_TAU)
    step = np.clip(gain * (target - q), -max_speed * DT, max_speed * DT)
    return q + step


def _wave_step(q):
    """Next wrist_flex and wrist_roll on the wave's limit cycle, from positions only. q: [N, 6]."""
    w, r = q[:, WRIST_FLEX], q[:, WRIST_ROLL]
    radius, phase = np.hypot(w, r), np.arctan2(r, w)    # atan2(0, 0) = 0: start towards +w
    gain = 1.0 - np.exp(-DT / APPROACH_TAU)
    radius = radius + np.clip(gain * (WAVE_AMPLITUDE - radius), -MAX_SPEED[WRIST_FLEX] * DT,
                              MAX_SPEED[WRIST_FLEX] * DT)
    phase = phase + 2 * np.pi * DT / WAVE_PERIOD_S
    return radius * np.cos(phase), radius * np.sin(phase)


def expert_step(q, instruction):
    """
    Return the next commanded positions of the expert.

    q: float [N, 6] current joint positions (radians, SO100_JOINT_NAMES order).
    Returns float [N, 6], one 30 Hz step later.
    """
    s = skill(instruction)
    q = np.asarray(q, dtype=np.float64)
    nxt = _approach(q, np.asarray(s.target), MAX_SPEED)
    if s.wave:
        nxt[:, WRIST_FLEX], nxt[:, WRIST_ROLL] = _wave_step(q)
    return nxt


def band_limit(chunks, bandwidth):
    """Keep the first `bandwidth` DCT-II (ortho) frequencies along time of [..., H, D]."""
    coeffs = dct(np.asarray(chunks, dtype=np.float64), axis=-2, norm='ortho')
    coeffs[..., bandwidth:, :] = 0.0
    return idct(coeffs, axis=-2, norm='ortho')


def expert_chunk(q, instruction, horizon, bandwidth=None):
    """
    Roll the expert forward from q: the action chunk a demonstration would contain.

    q: float [6] or [N, 6]. Returns float [horizon, 6] or [N, horizon, 6]. Row 0 is the
    next target (one expert step from q); in DESIGN section 3's convention row i is played at
    i / RATE_HZ after the chunk stamp, so the chunk always leads the measured state a little.
    bandwidth: if given, the chunk is band_limit-ed (see the module docstring).
    """
    q = np.asarray(q, dtype=np.float64)
    single = q.ndim == 1
    cur = q[None] if single else q
    rows = []
    for _ in range(horizon):
        cur = expert_step(cur, instruction)
        rows.append(cur)
    chunk = np.stack(rows, axis=1)
    if bandwidth:
        chunk = band_limit(chunk, bandwidth)
    return chunk[0] if single else chunk


def sample_states(rng, n):
    """Uniform joint positions in the workspace box: float [n, 6]."""
    return rng.uniform(WORKSPACE_LOW, WORKSPACE_HIGH, size=(n, len(SO100_JOINT_NAMES)))


def simulate(q0, instruction, seconds, horizon, replan_every, lag_tau=0.08, bandwidth=None):
    """
    Closed-loop rollout of the expert through a first-order-lag arm (like fake_robot).

    Every `replan_every` steps a chunk is planned from the MEASURED positions and its
    commands are executed at 30 Hz; the arm follows with time constant lag_tau.
    q0: float [6]. Returns the measured positions, float [steps, 6].
    """
    q = np.array(q0, dtype=np.float64)
    alpha = 1.0 - np.exp(-DT / lag_tau) if lag_tau > 0 else 1.0
    chunk, k, out = None, 0, []
    for t in range(int(round(seconds * RATE_HZ))):
        if t % replan_every == 0:
            chunk, k = expert_chunk(q, instruction, horizon, bandwidth), 0
        q = q + alpha * (chunk[min(k, horizon - 1)] - q)
        k += 1
        out.append(q.copy())
    return np.asarray(out)


def rollout_states(rng, n, horizon, seconds=4.0, replan_every=6, bandwidth=None,
                   rest_fraction=0.25):
    """
    Sample states visited by closed-loop rollouts from random starts.

    A rest_fraction of the rollouts starts near REST_POSE, where the fake arm wakes up (an
    arm that is stuck at its start pose never gets anywhere else). Returns float [n, 6] and
    the instruction of each: what the policy sees when it runs the task on the fake arm.
    """
    states, instructions = [], []
    steps = int(round(seconds * RATE_HZ))
    while len(states) < n:
        instruction = INSTRUCTIONS[rng.integers(len(INSTRUCTIONS))]
        start = sample_states(rng, 1)[0]
        if rng.random() < rest_fraction:
            start = np.clip(REST_POSE + rng.normal(0.0, 3.0, 6), WORKSPACE_LOW, WORKSPACE_HIGH)
        traj = simulate(start, instruction, seconds, horizon, replan_every,
                        lag_tau=rng.uniform(0.03, 0.2), bandwidth=bandwidth)
        picks = rng.choice(steps, size=min(steps // 4, n - len(states)), replace=False)
        states.extend(traj[picks])
        instructions.extend([instruction] * len(picks))
    return np.asarray(states), instructions


def generate_dataset(seed, n, horizon, rollout_fraction=0.5, bandwidth=None):
    """
    Generate a demonstration set for the synthetic task.

    Half uniform states in the workspace (coverage), half states from closed-loop rollouts
    (the distribution met at run time); chunks band-limited when `bandwidth` is given.
    Returns (states float32 [n, 6], instructions list[str],
    actions float32 [n, horizon, 6]).
    """
    rng = np.random.default_rng(seed)
    n_roll = int(n * rollout_fraction)
    roll_states, roll_instr = rollout_states(rng, n_roll, horizon, bandwidth=bandwidth)
    uni_states = sample_states(rng, n - n_roll)
    uni_instr = [INSTRUCTIONS[i] for i in rng.integers(len(INSTRUCTIONS), size=n - n_roll)]
    states = np.concatenate([roll_states, uni_states])
    instructions = list(roll_instr) + uni_instr
    actions = np.empty((n, horizon, len(SO100_JOINT_NAMES)))
    for instruction in INSTRUCTIONS:
        idx = np.array([i for i, s in enumerate(instructions) if s == instruction], dtype=int)
        if len(idx):
            actions[idx] = expert_chunk(states[idx], instruction, horizon, bandwidth)
    order = rng.permutation(n)
    return (states[order].astype(np.float32), [instructions[i] for i in order],
            actions[order].astype(np.float32))
