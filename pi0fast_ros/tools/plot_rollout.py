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
pi0fast-plot-rollout BAG [-o PNG]: one picture of a recorded rollout.

Top: one panel per joint, commanded (executor_node/status, robot space) vs measured
(joint_states), with blend windows shaded blue, holds red and disabled ticks grey; where the
config's adapters are the identity, each chunk's predicted trajectory is drawn faintly too.
Bottom: chunk arrivals against their delay (arrival - stamp, i.e. the part of the chunk already
in the past when it arrived) and the policy's inference time, then the executor state and blend
weight per tick. Time is seconds since the first recorded message.
"""

import argparse
import pathlib
import sys

import numpy as np

from ..core.status import ChunkInfo
from ..recording.rollout import load_rollout

STATE_COLOURS = {'blending': '#9ecae1', 'holding': '#fc9272', 'disabled': '#bdbdbd'}
STATE_LEVELS = {'waiting': 0, 'disabled': 1, 'holding': 2, 'tracking': 3, 'blending': 4}


def _spans(times, flags):
    """Contiguous [start, end) time spans where flags is True (times [N] seconds)."""
    spans, start = [], None
    for t, on in zip(times, flags):
        if on and start is None:
            start = t
        elif not on and start is not None:
            spans.append((start, t))
            start = None
    if start is not None and len(times):
        spans.append((start, times[-1]))
    return spans


def _identity_adapters(metadata):
    import yaml
    try:
        doc = yaml.safe_load(metadata.get('pi0fast.config', '') or '{}') or {}
        chain = doc['/**']['ros__parameters'].get('adapters', {}).get('chain', [])
    except (yaml.YAMLError, KeyError, TypeError, AttributeError):
        return False
    return not chain


def _joint_names(rollout):
    for record in rollout.ticks.records:
        if record.joint_names:
            return list(record.joint_names)
    return list(rollout.commands.names or rollout.joint_states.names)


def _shade(ax, times, states):
    for state, colour in STATE_COLOURS.items():
        for a, b in _spans(times, [s == state for s in states]):
            ax.axvspan(a, b, color=colour, alpha=0.35, lw=0)


def _plot_joint(ax, rollout, j, name, t0, identity):
    ticks, js = rollout.ticks, rollout.joint_states
    tt = (ticks.stamp_ns - t0) * 1e-9
    _shade(ax, tt, ticks.state)
    if identity:
        for chunk in rollout.chunks:
            if name in chunk.joint_names:
                k = chunk.joint_names.index(name)
                ax.plot((chunk.stamp_ns - t0) * 1e-9 + chunk.times_s, chunk.positions[:, k],
                        color='0.6', lw=0.5, alpha=0.5)
    if name in js.names:
        k = js.names.index(name)
        ax.plot((js.stamp_ns - t0) * 1e-9, js.values[:, k], color='tab:orange', lw=1.2,
                label='measured')
    if j < ticks.command.shape[1]:
        ax.plot(tt, ticks.command[:, j], color='tab:blue', lw=1.0, label='commanded')
    ax.set_ylabel(name, fontsize=8)
    ax.tick_params(labelsize=7)
    ax.grid(alpha=0.3)


def _plot_chunks(ax, rollout, t0):
    if not rollout.chunks:
        ax.text(0.5, 0.5, 'no chunks recorded', ha='center', transform=ax.transAxes)
        return
    arrival = np.array([(c.t_ns - t0) * 1e-9 for c in rollout.chunks])
    delay = np.array([c.delay_s * 1e3 for c in rollout.chunks])
    ax.vlines(arrival, 0, delay, color='tab:green', lw=0.8, alpha=0.6)
    ax.plot(arrival, delay, '.', color='tab:green', ms=3, label='chunk delay (arrival - stamp)')
    infos = {stamp: ChunkInfo.decode(values) for stamp, values in rollout.chunk_info.items()}
    pts = [((c.t_ns - t0) * 1e-9, infos[c.stamp_ns].inference_ms) for c in rollout.chunks
           if c.stamp_ns in infos and not np.isnan(infos[c.stamp_ns].inference_ms)]
    if pts:
        ax.plot(*zip(*pts), 'x', color='tab:purple', ms=3, label='inference time')
    ax.set_ylabel('ms', fontsize=8)
    ax.tick_params(labelsize=7)
    ax.set_title(f'{len(rollout.chunks)} chunks, median delay {np.median(delay):.0f} ms',
                 fontsize=9, loc='left')
    ax.legend(fontsize=7, loc='upper right')
    ax.grid(alpha=0.3)


def _plot_states(ax, rollout, t0):
    ticks = rollout.ticks
    tt = (ticks.stamp_ns - t0) * 1e-9
    level = [STATE_LEVELS.get(s, 0) for s in ticks.state]
    ax.step(tt, level, where='post', color='k', lw=0.8)
    ax.set_yticks(list(STATE_LEVELS.values()), list(STATE_LEVELS), fontsize=7)
    ax2 = ax.twinx()
    ax2.plot(tt, ticks.blend_weight, color='tab:blue', lw=0.6, alpha=0.7)
    ax2.set_ylabel('blend weight', fontsize=7, color='tab:blue')
    ax2.set_ylim(-0.05, 1.05)
    ax2.tick_params(labelsize=7)
    reasons = sorted({r for r in ticks.hold_reason if r})
    held = f' (holds: {", ".join(reasons)})' if reasons else ''
    ax.set_title('executor state per tick' + held, fontsize=9, loc='left')
    ax.set_xlabel('time since start of the rollout (s)', fontsize=8)
    ax.tick_params(axis='x', labelsize=7)
    ax.grid(alpha=0.3)


def plot_rollout(bag, out_png, rollout=None):
    """Render the rollout at bag (or the one already loaded from it) into out_png."""
    import matplotlib
    matplotlib.use('Agg')
    from matplotlib import pyplot as plt
    rollout = rollout or load_rollout(bag)
    if not len(rollout.ticks) and not len(rollout.joint_states):
        raise ValueError(f'{bag} has no executor_node/status and no joint_states to plot')
    names = _joint_names(rollout)
    t0 = rollout.start_ns
    cols = 2 if len(names) > 4 else 1
    rows = -(-len(names) // cols)
    fig = plt.figure(figsize=(13, 2.0 * rows + 4.6), constrained_layout=True)
    grid = fig.add_gridspec(rows + 2, cols, height_ratios=[1.0] * rows + [1.1, 0.9])
    identity = _identity_adapters(rollout.metadata)
    axes = []
    for j, name in enumerate(names):
        ax = fig.add_subplot(grid[j // cols, j % cols], sharex=axes[0] if axes else None)
        _plot_joint(ax, rollout, j, name, t0, identity)
        axes.append(ax)
    axes[0].legend(fontsize=7, loc='upper right')
    _plot_chunks(fig.add_subplot(grid[rows, :], sharex=axes[0]), rollout, t0)
    _plot_states(fig.add_subplot(grid[rows + 1, :], sharex=axes[0]), rollout, t0)
    meta = rollout.metadata
    fig.suptitle(f'{pathlib.Path(bag).name}: "{meta.get("pi0fast.instruction", "")}"  '
                 f'(blue band: blending, red: holding, grey: disabled; grey lines: chunks)',
                 fontsize=10)
    fig.savefig(out_png, dpi=110)
    plt.close(fig)
    return pathlib.Path(out_png)


def main(argv=None):
    ap = argparse.ArgumentParser(prog='pi0fast-plot-rollout', description=__doc__.split('\n')[1])
    ap.add_argument('bag', help='rollout bag directory (with metadata.yaml)')
    ap.add_argument('-o', '--output', help='PNG path (default: <bag>.png next to the bag)')
    args = ap.parse_args(argv)
    bag = pathlib.Path(args.bag)
    out = pathlib.Path(args.output) if args.output else bag.with_suffix('.png')
    try:
        rollout = load_rollout(bag)
        if rollout.unreadable:
            print(f'pi0fast-plot-rollout: {rollout.unreadable_summary()}', file=sys.stderr)
        path = plot_rollout(bag, out, rollout)
    except (FileNotFoundError, ValueError) as exc:
        print(f'pi0fast-plot-rollout: {exc}', file=sys.stderr)
        return 2
    print(path)
    return 0


if __name__ == '__main__':
    sys.exit(main())
