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
Seam evaluation: how much chunk switches jerk the command, with and without blending.

A smooth moving target (two sinusoids per joint, 0.2-0.6 Hz) stands in for the task. Every
``period`` a "policy" observes the commanded pose at time s and returns a smooth chunk: it
starts at that pose and eases (smoothstep over half the horizon) onto a constant-acceleration
extrapolation of the target from s. The chunk reaches the executor ``delay`` later, stamped s.
Consecutive chunks disagree (different start poses, extrapolation errors growing with the
horizon), which is what makes seams.

For every chunk switch we take the largest per-tick command step (per joint) from the tick
before the switch to the end of its blend, divided by the largest per-tick step inside the
chunks themselves (all chunks sampled at the control rate); the worst joint counts. The table
gives the worst and the median seam for each executor setting and delay (0..70 % of the chunk
horizon). A ratio <= 1.0 means the seams add no discontinuity that the chunks do not contain.

    python benchmarks/seam_eval.py [--duration 60] [--seed 0]
"""

import argparse
import pathlib
import sys

import numpy as np
from pi0fast_ros.core.control.chunks import NS
from pi0fast_ros.core.control.executor import ExecutorCore
from pi0fast_ros.nodes.executor.params import validate
from pi0fast_ros.testing.seams import seam_report
import yaml

REPO = pathlib.Path(__file__).resolve().parents[1]
# name: (control Hz, action Hz, horizon H); rates and blending as in config/<name>.yaml
SCENARIOS = {'so100': (30.0, 30.0, 10), 'aloha': (50.0, 50.0, 50)}
BLEND_KEYS = ('blend_schedule', 'blend_steps', 'blend_step_budget', 'blend_max_steps')
DELAYS = (0.0, 0.1, 0.2, 0.3, 0.4, 0.5, 0.6, 0.7)
DIM = 6


def settings(scenario):
    """Executor settings compared: hard switch, fixed schedules, and the shipped config."""
    doc = yaml.safe_load((REPO / 'config' / f'{scenario}.yaml').read_text())
    shipped = {k: doc['/**/executor_node']['ros__parameters'][k] for k in BLEND_KEYS}
    steps = shipped['blend_steps']
    fixed = {'blend_step_budget': 0.0}   # a fixed schedule, whatever the node's default
    return {'hard': {'blend_schedule': 'hard', 'blend_steps': 0, **fixed},
            f'linear{steps}': {'blend_schedule': 'linear', 'blend_steps': steps, **fixed},
            f'exp{steps}': {'blend_schedule': 'exponential', 'blend_steps': steps, **fixed},
            'shipped config': shipped}


class MovingTarget:
    """Two sinusoids per joint: smooth, with velocity and acceleration that keep changing."""

    def __init__(self, rng):
        self.amp = rng.uniform(0.2, 0.8, (2, DIM))
        self.freq = rng.uniform(0.2, 0.6, (2, DIM)) * 2 * np.pi
        self.phase = rng.uniform(0, 2 * np.pi, (2, DIM))

    def derivatives(self, t):
        """Position, velocity and acceleration [D] at time t (s)."""
        arg = self.freq * t + self.phase
        pos = (self.amp * np.sin(arg)).sum(0)
        vel = (self.amp * self.freq * np.cos(arg)).sum(0)
        acc = (-self.amp * self.freq ** 2 * np.sin(arg)).sum(0)
        return pos, vel, acc


def make_chunk(target, s, pose, horizon, rate):
    """Return the policy's chunk [H, D] for an observation at time s of ``pose``."""
    tau = np.arange(horizon)[:, None] / rate
    pos, vel, acc = target.derivatives(s)
    predicted = pos + vel * tau + 0.5 * acc * tau ** 2
    u = np.clip(tau / (0.5 * horizon / rate), 0.0, 1.0)
    ease = u * u * (3 - 2 * u)
    return (1 - ease) * (pose + vel * tau) + ease * predicted


def simulate(scenario, setting, delay_frac, duration, seed, period_frac):
    """Run one executor setting; return (commands [T, D], stamps [T], blending [T], ref [D])."""
    ctrl, rate, horizon = SCENARIOS[scenario]
    target = MovingTarget(np.random.default_rng(seed))
    names = tuple(f'j{i}' for i in range(DIM))
    # blending only: the chunks are made up here, no action envelope bounds them
    # the executor node's defaults (its parameter table) for what the setting leaves out
    config, _, _ = validate({'action_joint_names': names, 'action_rate_hz': rate,
                             'control_rate_hz': ctrl, 'watchdog_timeout_s': 0.0,
                             'require_envelope': False, **setting})
    core = ExecutorCore(config)
    span = horizon / rate
    delay = delay_frac * span
    # period 0: back to back, one inference in flight: the next observation when a chunk lands
    period = period_frac * span if period_frac > 0 else max(delay, 1.0 / ctrl)
    in_flight, next_obs = [], 0.0
    reference = np.zeros(DIM)
    commands, stamps, blending, holds = [], [], [], 0
    times = np.arange(int(duration * ctrl)) / ctrl + 0.0037  # ticks, arbitrary phase
    for t in times:
        while next_obs <= t:  # the policy observes the pose commanded last and plans
            pose = commands[-1] if commands else target.derivatives(0.0)[0]
            chunk = make_chunk(target, next_obs, pose, horizon, rate)
            fine = np.arange(0.0, span, 1.0 / ctrl)  # the chunk's own steps at control rate
            sampled = np.array([[np.interp(f, np.arange(horizon) / rate, chunk[:, j])
                                 for j in range(DIM)] for f in fine])
            reference = np.maximum(reference, np.abs(np.diff(sampled, axis=0)).max(0))
            in_flight.append((next_obs + delay, next_obs, chunk))
            next_obs += period
        for item in [c for c in in_flight if c[0] <= t]:
            in_flight.remove(item)
            core.submit(int(item[1] * NS), list(names), np.arange(horizon) / rate, item[2],
                        int(item[0] * NS))
        tick = core.tick(int(t * NS))
        holds += tick.state == 'holding'
        if tick.command is not None:
            commands.append(tick.command)
            stamps.append(tick.active_stamp_ns)
            blending.append(tick.state == 'blending')
    return np.array(commands), np.array(stamps), np.array(blending), reference, holds


def seam_ratios(commands, stamps, blending, reference, warmup):
    """Worst and median seam ratio after ``warmup`` ticks, windows = the actual blends."""
    commands, stamps, blending = commands[warmup:], stamps[warmup:], blending[warmup:]
    # window: every seam spans its blend; a blend's length is measured on the ticks
    switch = np.nonzero(stamps[1:] != stamps[:-1])[0] + 1
    longest = 1
    for k in switch:
        n = 0
        while k + n < len(blending) and blending[k + n]:
            n += 1
        longest = max(longest, n)
    report = seam_report(commands, stamps, longest, reference)
    return report.max_ratio, float(np.median(report.ratios)), len(report.seam_ticks)


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.split('\n\n')[0])
    parser.add_argument('--duration', type=float, default=60.0, help='simulated seconds')
    parser.add_argument('--seed', type=int, default=0)
    parser.add_argument('--period', type=float, default=0.3,
                        help='chunk period as a fraction of the horizon (0.3: chunks overlap '
                             'at every delay up to 70 %%; 0: back to back, period = delay)')
    parser.add_argument('--scenarios', nargs='+', default=list(SCENARIOS))
    args = parser.parse_args(argv)
    print(f'seam ratio = largest command step at a switch / largest step inside the chunks '
          f'(worst joint); worst / median over all seams; {args.duration:.0f} s simulated, '
          f'seed {args.seed}, ' + (f'a chunk every {args.period:.2f} horizon' if args.period
                                   else 'back-to-back inference (period = delay)'))
    for scenario in args.scenarios:
        ctrl, rate, horizon = SCENARIOS[scenario]
        print(f'\n{scenario}: control {ctrl:.0f} Hz, actions {rate:.0f} Hz, horizon {horizon} '
              f'({horizon / rate * 1e3:.0f} ms)')
        compared = settings(scenario)
        shipped = compared['shipped config'].items()
        print('shipped config: ' + ', '.join(f'{k} {v}' for k, v in shipped))
        print('delay % | ' + ' | '.join(f'{s:>15}' for s in compared) + ' | seams | holds')
        for frac in DELAYS:
            cells, seams, holds = [], 0, 0
            for setting in compared.values():
                cmds, stamps, blend, ref, held = simulate(
                    scenario, setting, frac, args.duration, args.seed, args.period)
                worst, median, seams = seam_ratios(cmds, stamps, blend, ref, int(ctrl))
                cells.append(f'{worst:6.2f} / {median:5.2f}')
                holds = max(holds, held)
            print(f'{frac * 100:7.0f} | ' + ' | '.join(f'{c:>15}' for c in cells) +
                  f' | {seams:5d} | {holds:5d}')
    return 0


if __name__ == '__main__':
    sys.exit(main())
