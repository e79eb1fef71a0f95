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
Replay recorded rollouts through the executor: seams and lag under other blend settings.

Each bag's action chunks go to the executor core (``ExecutorCore``) at the time the recorder
received them, and the core ticks at the recorded tick times (``executor_node/status``), with
the executor settings of the config file recorded in the bag (or ``--config``) and any
``--set name=value``. For every bag it prints, per blend rule:

- the largest command step over the chunks' own largest per-tick step (blended joints, any
  tick from the first chunk switch on, a late tick's step scaled to one period);
- how many ticks stepped further than the chunks' own largest step;
- the lag: |command - the newest chunk at that instant| on the blended joints, mean and p99
  (what a slower blend costs: the arm follows an older plan for longer).

Rules: ``per-joint`` is the executor's (each joint fades at its own pace; a blend is forced
forward only after the grace of blend_rule.py); ``one-weight`` is the baseline it replaced,
in the same run (one blend position for all joints, forced forward from the first tick).
Use it on your own rollouts to choose blend settings before you run them on the robot:

    python benchmarks/seam_replay.py ~/pi0fast_rollouts/rollout_*/ --set blend_max_steps=120
"""

import argparse
import pathlib
import sys

import numpy as np
from pi0fast_ros.core.control.blend_rule import BlendRule
from pi0fast_ros.core.control.chunks import ChunkError
from pi0fast_ros.core.control.executor import ExecutorCore
from pi0fast_ros.nodes.executor.params import validate
from pi0fast_ros.recording.rollout import load_rollout
import yaml

RULES = ('per-joint', 'one-weight')


class OneWeightRule(BlendRule):
    """The baseline: one blend position for every joint, forced forward from the first tick."""

    def advance(self, p, prev, old, new, budget, mask, ticks):
        """Return the next positions [D] (all equal) under the former rule."""
        p = float(np.max(p))
        hi = min(p + 1.0, self.end)
        if self.step_budget <= 0 or prev is None or not np.any(mask):
            return np.full(len(mask), hi)
        lo = min(p + self.min_progress, self.end)
        gap, base, allowed = (old - new)[mask], (new - prev)[mask], budget[mask]

        def ok(q):
            return bool(np.all(np.abs(base + self.weight(q) * gap) <= allowed + 1e-12))

        if ok(hi):
            q = hi
        elif not ok(lo):
            q = lo
        else:
            for _ in range(16):
                mid = 0.5 * (lo + hi)
                lo, hi = (mid, hi) if ok(mid) else (lo, mid)
            q = lo
        return np.full(len(mask), q)


def flatten(params, prefix=''):
    """Return ROS-style flat parameter names ({'a': {'b': 1}} -> {'a.b': 1}); adapters stay."""
    flat = {}
    for key, value in params.items():
        name = prefix + key
        if isinstance(value, dict) and name != 'adapters':
            flat.update(flatten(value, name + '.'))
        else:
            flat[name] = value
    return flat


def executor_values(config_text, overrides):
    """Return the executor's parameter values from a config file's text and overrides."""
    doc = yaml.safe_load(config_text) or {}
    values = {}
    for section in ('/**', '/**/executor_node'):
        values.update(flatten((doc.get(section) or {}).get('ros__parameters') or {}))
    values.pop('realtime_priority', None)   # the node's thread, not the core
    values.update(overrides)
    return values


def replay(rollout, values, rule='per-joint'):
    """Run the recorded chunks through an ExecutorCore; return (commands, stamps, times, core)."""
    config, adapters, _ = validate(values)
    core = ExecutorCore(config, adapters)
    if rule == 'one-weight':
        r = core.scheduler.rule
        core.scheduler.rule = OneWeightRule(r.schedule, r.steps, r.step_budget, r.min_progress,
                                            r.tick_ns, r.interpolation)
    chunks = sorted(rollout.chunks, key=lambda c: c.t_ns)
    ticks = rollout.ticks
    sent = np.flatnonzero(~np.isnan(ticks.command).any(axis=1))
    if not len(sent):
        raise ValueError(f'{rollout.path}: no tick sent a command')
    first = sent[0]
    core.observe_robot(start_pose(rollout, core, ticks.stamp_ns[first], ticks.command[first]))
    commands, stamps, times, i = [], [], [], 0
    for t in ticks.stamp_ns[sent[0]:]:
        t = int(t)
        while i < len(chunks) and chunks[i].t_ns <= t:
            c = chunks[i]
            i += 1
            try:
                core.submit(c.stamp_ns, list(c.joint_names), c.times_s, c.positions, t)
            except ChunkError:
                pass   # refused as the node would (stale, out of order): counted by the node
        tick = core.tick(t)
        if tick.command is not None and tick.active_stamp_ns:
            commands.append(tick.command)
            stamps.append(tick.active_stamp_ns)
            times.append(t)
    return np.array(commands), np.array(stamps), np.array(times), core


def start_pose(rollout, core, t_ns, first_command):
    """Return the measured pose the recorded executor started from (else its first command)."""
    js = rollout.joint_states
    before = np.flatnonzero(js.t_ns <= t_ns) if len(js) else []
    if len(before) and set(core.command_names) <= set(js.names):
        row = js.values[before[-1]]
        return np.array([row[list(js.names).index(n)] for n in core.command_names])
    return first_command


def figures(rollout, commands, stamps, times, blended, period_ns):
    """Return the seam ratio, the ticks over the chunks' own step and the lag."""
    own = np.max([np.abs(np.diff(c.positions, axis=0)).max(axis=0) for c in rollout.chunks],
                 axis=0)
    moving = (own > 0) & blended
    # per-tick steps, a late tick's scaled to one period (as testing/seams.py does)
    steps = np.abs(np.diff(commands, axis=0))
    steps = steps / np.maximum(1.0, np.diff(times) / period_ns)[:, None]
    over = int(np.sum(np.any(steps[:, moving] > own[moving] * (1 + 1e-6), axis=1)))
    switches = np.flatnonzero(stamps[1:] != stamps[:-1])   # steps into a new chunk
    by_stamp = {c.stamp_ns: c for c in rollout.chunks}
    lag = []
    for command, stamp, t in zip(commands, stamps, times):
        chunk = by_stamp[int(stamp)]
        tau = (t - chunk.stamp_ns) / 1e9
        plan = [np.interp(tau, chunk.times_s, chunk.positions[:, j])
                for j in range(chunk.positions.shape[1])]
        lag.append(np.abs(np.asarray(plan) - command)[blended].max())
    # the largest step from the tick before the first switch on (every later tick is in or
    # after a seam; seam_report with an unbounded window gives the same, seam by seam)
    ratio = float((steps[switches[0]:, moving].max(axis=0) / own[moving]).max()) \
        if len(switches) and moving.any() else float('nan')   # no switch, or nothing moves
    return {'ratio': ratio, 'over': over, 'ticks': len(steps),
            'lag_mean': float(np.mean(lag)), 'lag_p99': float(np.percentile(lag, 99))}


def main(argv=None):
    ap = argparse.ArgumentParser(description=__doc__.split('\n\n')[0])
    ap.add_argument('bags', nargs='+', type=pathlib.Path, help='rollout bag directories')
    ap.add_argument('--config', type=pathlib.Path,
                    help="the executor's config file (default: the one recorded in the bag)")
    ap.add_argument('--set', action='append', default=[], metavar='NAME=VALUE',
                    help='an executor parameter for the replay (YAML value), repeatable')
    ap.add_argument('--rules', default=','.join(RULES))
    args = ap.parse_args(argv)
    overrides = {}
    for item in args.set:
        name, _, text = item.partition('=')
        overrides[name] = yaml.safe_load(text)
    rules = args.rules.split(',')
    unknown = sorted(set(rules) - set(RULES))
    if unknown:
        raise SystemExit(f'unknown rules {unknown}; choose from {list(RULES)}')
    replayed = 0
    print('| bag | rule | seam step / chunk step | ticks over the chunk step | '
          'lag mean / p99 |')
    print('|---|---|---|---|---|')
    for bag in args.bags:
        rollout = load_rollout(bag)
        sent = int(np.sum(~np.isnan(rollout.ticks.command).any(axis=1))) \
            if len(rollout.ticks) else 0
        if len(rollout.chunks) < 2 or sent < 2:
            print(f'| {bag.name} | skipped: {len(rollout.chunks)} chunks, {sent} commands '
                  'recorded (nothing to replay) | | | |')
            continue
        text = args.config.read_text() if args.config else \
            rollout.metadata.get('pi0fast.config', '')
        values = executor_values(text, overrides)
        values['require_envelope'] = False   # the recorded chunks were accepted already
        config, adapters, _ = validate(values)
        if len(adapters):
            raise SystemExit(f'{bag}: adapters in the config; the lag is computed in policy '
                             f'space, which needs the identity chain')
        blended = np.array([n not in config.hard_switch_joints for n in config.joint_names])
        period_ns = 1e9 / config.control_rate_hz
        for rule in rules:
            commands, stamps, times, _ = replay(rollout, values, rule)
            if len(commands) < 2:
                print(f'| {bag.name} | {rule} | sent {len(commands)} commands in the replay | '
                      '| |')
                continue
            f = figures(rollout, commands, stamps, times, blended, period_ns)
            print(f"| {bag.name} | {rule} | {f['ratio']:.3f}x | {f['over']} of {f['ticks']} | "
                  f"{f['lag_mean']:.2f} / {f['lag_p99']:.2f} |")
        replayed += 1
    if not replayed:
        print('seam_replay: no bag had chunks and commands to replay', file=sys.stderr)
        return 1
    return 0


if __name__ == '__main__':
    sys.exit(main())
