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
The split graph across two network namespaces: what the link costs the control loop.

"robot" runs `pi0fast-bringup --role robot --fake-hardware --record`, "gpu" runs
`pi0fast-bringup --role gpu` (test/support/netns.py builds the namespaces; needs root). Per
configuration (cameras raw Image or JPEG CompressedImage; link rate limited by tbf, or not)
it prints the bytes per second on the veth (each direction), the chunk delay p50/p99 (arrival
at the robot minus the chunk's observation stamp, both robot clock: inference + transport),
the fraction of control ticks held and the largest seam step over the chunks' own largest step
(read back from the recorded rollout bag), also with late ticks' steps scaled to one period
(testing/seams.py: the executor samples the chunks when a tick really runs). "local" is the
same graph in one namespace (no link). netem delay/loss is used when the kernel has it
(--netem), else reported as absent; '+<p>%loss' after a configuration loses p % of the packets
each way with nftables instead (netns.TwoHosts.try_loss), and '+<d>ms<j>ms' sends every frame
through a delay line of d +/- j ms (test/support/delay_line.py, in a third namespace between
the hosts); the table gives the hold times the line achieved. Both work where netem does not,
e.g. 'jpeg+5ms2ms+1%loss'.

    sudo python benchmarks/bench_two_host.py [--duration 45] [--configs local,jpeg,raw,jpeg@20mbit]
        [--checkpoint demo/so100_synthetic|scripted] [--config config/so100.yaml|aloha.yaml]
        [--netem 'delay 5ms 2ms loss 1%'] [--keep]
"""

import argparse
import pathlib
import re
import shutil
import signal
import subprocess
import sys
import tempfile
import time

import numpy as np
from pi0fast_ros.recording.rollout import load_rollout
from pi0fast_ros.testing.seams import seam_report
from pi0fast_ros.tools.train_demo import parse_cameras
import yaml

REPO = pathlib.Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO / 'test' / 'support'))
import netns  # noqa: E402, I100  (test/support/netns.py)


def set_cameras(doc, cameras):
    """Give policy, fake robot and recorder these ((slot, view), ...) cameras instead."""
    policy = doc['/**/policy_node']['ros__parameters']
    robot = doc['/**/fake_robot']['ros__parameters']
    recorder = doc['/**/rollout_recorder']['ros__parameters']
    slots = [slot for slot, _ in cameras]
    # separate lists: yaml would write one shared list as an alias, which rcl cannot read
    policy['camera_slots'] = list(slots)
    policy['camera_topics'] = [f'cameras/{slot}/image_raw' for slot in slots]
    robot['cameras'], robot['camera_views'] = list(slots), [view for _, view in cameras]
    recorder['topics'] = [t for t in recorder['topics'] if not t.startswith('cameras/')] + [
        f'cameras/{slot}/image_raw/compressed' for slot in slots]


def write_config(base, transport, out_dir, cameras=None):
    """Write the base config with the policy on raw or JPEG camera topics; return its path."""
    doc = yaml.safe_load(pathlib.Path(base).read_text())
    if cameras:
        set_cameras(doc, cameras)
    policy = doc['/**/policy_node']['ros__parameters']
    topics = [t.removesuffix('/compressed') for t in policy['camera_topics']]
    if transport == 'jpeg':
        topics = [t + '/compressed' for t in topics]
    policy['camera_topics'] = topics
    policy['camera_transports'] = ['compressed' if transport == 'jpeg' else 'raw'] * len(topics)
    path = pathlib.Path(out_dir) / f'{transport}.yaml'
    path.write_text(yaml.safe_dump(doc))
    return path


def start(bed, side, role, args, log_path):
    log = open(log_path, 'wb')
    cmd = [sys.executable, '-u', '-m', 'pi0fast_ros.tools.bringup', '--role', role, *args]
    return bed.popen(side, cmd, env=bed.env(side), stdout=log, stderr=log,
                     start_new_session=True), log


def stop(proc_log):
    proc, log = proc_log
    if proc.poll() is None:
        proc.send_signal(signal.SIGINT)
    try:
        proc.wait(90)
    except subprocess.TimeoutExpired:
        proc.kill()
        proc.wait(10)
    log.close()


def wait_text(path, text, timeout, procs=()):
    """Wait for text in the log at path; False on timeout or when one of procs has exited."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if text in path.read_text(errors='replace'):
            return True
        if any(proc.poll() is not None for proc, _ in procs):
            return False
        time.sleep(0.5)
    return False


def run_config(name, args, work):
    """Run one configuration; return the figures (dict) or raise RuntimeError."""
    name, *extras = name.split('+')
    loss = next((float(e.removesuffix('loss').removesuffix('%')) for e in extras
                 if e.endswith('loss')), 0.0)
    delay = next(([float(x) for x in m.groups(default='0')] for m in
                  (re.fullmatch(r'([0-9.]+)ms(?:([0-9.]+)ms)?', e) for e in extras) if m), None)
    transport, _, rate = name.partition('@')
    local = transport == 'local'
    config = write_config(args.config, 'jpeg' if local else transport, work, args.cameras)
    common = ['--config', config, '--instruction', args.instruction]
    checkpoint = args.checkpoint
    if checkpoint == 'scripted':
        from graph_checks import make_test_checkpoint     # test/support/graph_checks.py
        checkpoint = make_test_checkpoint(work / 'checkpoint', config)
    rollouts = work / f'rollouts_{name.replace("@", "_")}'
    with netns.TwoHosts(f'b{abs(hash(name)) % 10000}', wire=delay is not None) as bed:
        if rate:
            bed.limit_rate(rate)
        netem = bool(args.netem) and bed.try_netem(*args.netem.split())
        if loss:
            why = bed.try_loss(loss)
            if why:
                raise RuntimeError(f'{name}: no loss emulation: {why}')
        if delay is not None:
            bed.start_delay_line(*delay, work / 'delay_line.json')
        robot_args = common + ['--fake-hardware', '--record', rollouts]
        if local:
            robot_args += ['--checkpoint', checkpoint]
        robot = start(bed, 'robot', 'all' if local else 'robot', robot_args, work / 'robot.log')
        gpu = None if local else start(bed, 'gpu', 'gpu', common + ['--checkpoint', checkpoint],
                                       work / 'gpu.log')
        try:
            if not wait_text(work / 'robot.log', 'action envelope:', 600,
                             [p for p in (robot, gpu) if p]):
                tail = (work / 'robot.log').read_text(errors='replace').strip()[-300:]
                raise RuntimeError(f'{name}: the policy never reached the executor ({tail})')
            time.sleep(3.0)                    # settle: the first chunks, the first blend
            before, t0, wall0 = bed.link_bytes(), time.monotonic(), time.time_ns()
            time.sleep(args.duration)
            after, t1, wall1 = bed.link_bytes(), time.monotonic(), time.time_ns()
            dropped = bed.dropped()
        finally:
            if gpu:
                stop(gpu)
            stop(robot)
    figures = rollout_figures(rollouts, (wall0, wall1), blended_joints(config),
                              control_period_ns(config))
    figures.update({k: (after[k] - before[k]) / (t1 - t0) for k in after})
    link = [bed.qdisc] if (rate or netem) else []
    if delay is not None:
        held = bed.delay_stats.get('held_ms', {})
        p50, p99 = (held.get(k, float('nan')) for k in ('p50', 'p99'))
        link.append(f'delay line {delay[0]:g} ms +/- {delay[1]:g} ms (held p50 {p50:.1f} / '
                    f'p99 {p99:.1f} ms)')
    if loss:
        link.append(f'nft loss {loss:g} % ({sum(dropped.values())} packets dropped)')
    figures['link'] = ', '.join(link) or 'unlimited'
    if args.netem and not netem:
        figures['link'] += ' (netem not in this kernel)'
    return figures


def control_period_ns(config):
    """Return the executor's control period in ns, from the config file."""
    doc = yaml.safe_load(pathlib.Path(config).read_text())
    return 1e9 / float(doc['/**/executor_node']['ros__parameters']['control_rate_hz'])


def blended_joints(config):
    """Bool mask over the action joints: True where the executor blends (not hard-switched)."""
    doc = yaml.safe_load(pathlib.Path(config).read_text())
    names = doc['/**']['ros__parameters']['action_joint_names']
    hard = set(doc['/**/executor_node']['ros__parameters'].get('hard_switch_joints', []))
    return np.array([n not in hard for n in names])


def rollout_figures(rollouts, window_ns, blended, period_ns):
    """
    Chunk delay, held fraction and seams of the one bag under rollouts, inside window_ns.

    The seam ratio is over the blended joints: a hard-switched joint (a gripper) takes the new
    chunk's value at once by design, and its largest seam jump is reported apart.
    """
    (bag,) = [p for p in rollouts.iterdir() if p.is_dir()]
    rollout = load_rollout(bag)
    lo, hi = window_ns
    chunks = [c for c in rollout.chunks if lo <= c.t_ns <= hi]
    delays = np.array([c.delay_s for c in chunks])
    ticks = rollout.ticks
    live = (ticks.t_ns >= lo) & (ticks.t_ns <= hi)
    states = np.array(ticks.state)
    sent = live & ~np.isnan(ticks.command).any(axis=1) & (ticks.active_ns != 0)
    held = float(np.mean(states[live] == 'holding')) if live.any() else float('nan')
    if not chunks:       # the policy published nothing usable in the window: all held
        return {'chunks': 0, 'delay_p50_ms': float('nan'), 'delay_p99_ms': float('nan'),
                'held': held, 'seam_step': float('nan'), 'hard_step': float('nan'),
                'seam_ratio': float('nan'), 'seam_ratio_on_time': float('nan'), 'seams': 0}
    # the chunks' own largest per-tick step (chunk points are at the control rate here)
    own = np.max([np.abs(np.diff(c.positions, axis=0)).max(axis=0) for c in chunks], axis=0)
    blending = states[sent] == 'blending'
    runs = np.diff(np.flatnonzero(np.diff(np.r_[0, blending.astype(int), 0])))[::2]
    window = max(1, int(runs.max()) if len(runs) else 1)
    report = seam_report(ticks.command[sent], ticks.active_ns[sent], window, own)
    # the same with a late tick's step scaled to one period (it samples the chunks later)
    on_time = seam_report(ticks.command[sent], ticks.active_ns[sent], window, own,
                          tick_times_ns=ticks.stamp_ns[sent], period_ns=period_ns)
    jumps = report.seam_jumps
    nan = float('nan')
    worst = float(jumps[:, blended].max()) if jumps.size and blended.any() else nan
    hard = float(jumps[:, ~blended].max()) if jumps.size and (~blended).any() else nan
    moving = (own > 0) & blended   # a joint the chunks never move has no step to compare with

    def ratio(r):
        return float((r.seam_jumps[:, moving] / own[moving]).max()) \
            if r.seam_jumps.size and moving.any() else nan

    return {'chunks': len(delays), 'delay_p50_ms': 1e3 * np.percentile(delays, 50),
            'delay_p99_ms': 1e3 * np.percentile(delays, 99),
            'held': held, 'seam_step': worst, 'hard_step': hard,
            'seam_ratio': ratio(report), 'seam_ratio_on_time': ratio(on_time),
            'seams': len(report.seam_ticks)}


def main(argv=None):
    ap = argparse.ArgumentParser(description=__doc__.split('\n\n')[0])
    ap.add_argument('--duration', type=float, default=45.0)
    ap.add_argument('--configs', default='local,jpeg,raw,jpeg@20mbit')
    ap.add_argument('--checkpoint', default=str(REPO / 'demo' / 'so100_synthetic'),
                    help="checkpoint directory, or 'scripted': the tests' tiny scripted one "
                    '(transport without the cost of a real model)')
    ap.add_argument('--config', default=str(REPO / 'config' / 'so100.yaml'))
    ap.add_argument('--instruction', default='pick up the cube')
    ap.add_argument('--netem', default='', help="e.g. 'delay 5ms 2ms loss 1%%' (if the kernel "
                    'has netem)')
    ap.add_argument('--cameras', type=parse_cameras, default=None,
                    help="SLOT:VIEW,... instead of the config's cameras (the checkpoint must "
                    'have these slots: pi0fast-train-demo --cameras)')
    ap.add_argument('--keep', action='store_true',
                    help="keep each configuration's logs and bag (their folder is printed)")
    args = ap.parse_args(argv)
    reason = netns.unavailable_reason()
    if reason:
        sys.exit(f'bench_two_host: {reason}')
    print('| config | link | robot->gpu MB/s | gpu->robot kB/s | chunks | delay p50 ms | '
          'delay p99 ms | ticks held | largest seam step, blended joints (x chunk step) | '
          'the same, late ticks scaled to one period | largest seam step, hard-switched '
          'joints |')
    print('|---|---|---|---|---|---|---|---|---|---|---|')
    for name in args.configs.split(','):
        work = pathlib.Path(tempfile.mkdtemp(prefix='bench_two_host_'))
        try:
            f = run_config(name, args, work)
        except (RuntimeError, ValueError) as exc:
            print(f'| {name} | failed: {exc} (logs and bag kept in {work}) |', flush=True)
            continue
        if args.keep:
            print(f'{name}: logs and bag kept in {work}', file=sys.stderr, flush=True)
        else:
            shutil.rmtree(work, ignore_errors=True)
        print(f"| {name} | {f['link']} | {f['robot_tx'] / 1e6:.2f} | {f['gpu_tx'] / 1e3:.1f} | "
              f"{f['chunks']} | {f['delay_p50_ms']:.0f} | {f['delay_p99_ms']:.0f} | "
              f"{100 * f['held']:.1f} % | {f['seam_step']:.2f} ({f['seam_ratio']:.2f}x, "
              f"{f['seams']} seams) | {f['seam_ratio_on_time']:.2f}x | {f['hard_step']:.2f} |",
              flush=True)


if __name__ == '__main__':
    main()
