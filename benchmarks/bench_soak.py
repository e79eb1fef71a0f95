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
Soak: the demo graph for --minutes, the RSS of every node sampled; target < 2 % per 30 min.

The graph is the one pi0fast-bringup starts (graph.graph_nodes: fake_robot, rollout_recorder,
executor_node, policy_node with the demo checkpoint demo/so100_synthetic, config/so100.yaml).
After --settle-s (start-up and the first allocations), each node's RSS (/proc/<pid>/status
VmRSS) is sampled every --interval-s; the slope of a least-squares line through the samples
is printed per node in MB/min and as % of the settled RSS per 30 min, with PASS / FAIL
against the target, and the slope of each half of the run (growth that levels off slows).
A figure, not a test: it depends on the machine and on how long it runs.

    python benchmarks/bench_soak.py [--minutes 30] [--trace policy_node]

--trace NODE runs that node under tracemalloc and writes, every --interval-s, the Python
allocation sites that grew most since the settled snapshot to <out>/<node>_tracemalloc.txt:
what to look at when a node's RSS grows.

Measured 2026-12 on the 2-core machine, 10 min after 60 s of settling: policy_node +0.006
MB/min (0.04 % per 30 min: PASS), executor_node +0.02, fake_robot 0.00, rollout_recorder +0.18
MB/min (6.2 %: FAIL, see below); over 25 min: policy_node +0.001, rollout_recorder +0.13 (4.4
%: FAIL; about +0.17 in the first 15 min, +0.09 in the last 10). Before the fix policy_node
grew +1.0 to +2.0 MB/min (7.5 to 11.7 % per 30 min): `tokenizers`' BPE word cache kept every
prompt (each holds a new state; core/policy/text_tokenizer.py,
benchmarks/bench_text_tokenizer.py). tracemalloc does not see native growth like that one;
jemalloc's heap profiles did (LD_PRELOAD=libjemalloc.so.2
MALLOC_CONF=prof:true,lg_prof_interval:33, then jeprof --base=<early> <late>). The recorder's
Python objects do not grow (tracemalloc), and under jemalloc its live heap stayed flat over 4
minutes of profiles while RSS rose ~0.25 MB/min: freed pages the allocator keeps, as far as
measured; a soak of hours would show whether it levels off.
"""

import argparse
import os
import pathlib
import runpy
import signal
import subprocess
import sys
import tempfile
import threading
import time

REPO = pathlib.Path(__file__).resolve().parents[1]
TARGET_PCT_PER_30_MIN = 2.0


def rss_mb(pid):
    """Resident set size of pid in MB (None once it has exited)."""
    try:
        for line in pathlib.Path(f'/proc/{pid}/status').read_text().splitlines():
            if line.startswith('VmRSS:'):
                return int(line.split()[1]) / 1024.0
    except OSError:
        return None
    return None


def slope_per_min(samples):
    """Least-squares slope of [(t_s, mb)] in MB/min."""
    n = len(samples)
    mean_t = sum(t for t, _ in samples) / n
    mean_m = sum(m for _, m in samples) / n
    var = sum((t - mean_t) ** 2 for t, _ in samples)
    cov = sum((t - mean_t) * (m - mean_m) for t, m in samples)
    return cov / var * 60.0 if var else 0.0


def start_graph(args, out):
    """Start the demo graph's nodes (as bringup does); return {name: Popen}."""
    from pi0fast_ros.graph import graph_nodes, GraphOptions, ros_args, write_overrides
    options = GraphOptions(config_file=str(REPO / 'config' / 'so100.yaml'),
                           checkpoint=args.checkpoint, instruction=args.instruction,
                           fake_hardware=True, record=True, record_dir=str(out / 'rollouts'),
                           namespace=f'/soak_{os.getpid()}')
    procs = {}
    for spec in graph_nodes(options):
        tail = ros_args(spec, options, write_overrides(spec, str(out)))
        if spec.name == args.trace:
            head = [sys.executable, '-u', __file__, '--trace-child', spec.module,
                    str(out / f'{spec.name}_tracemalloc.txt'), str(args.settle_s),
                    str(args.interval_s)]
        else:
            head = [sys.executable, '-u', '-m', spec.module]
        log = open(out / f'{spec.name}.log', 'wb')
        procs[spec.name] = subprocess.Popen(head + tail, stdout=log, stderr=subprocess.STDOUT,
                                            start_new_session=True)
    return procs


def soak(args):
    out = pathlib.Path(tempfile.mkdtemp(prefix='pi0fast_soak_'))
    procs = start_graph(args, out)
    print(f'[soak] graph started (logs in {out}); settling {args.settle_s:g} s', flush=True)
    samples = {name: [] for name in procs}
    start = time.monotonic()
    end = start + args.settle_s + args.minutes * 60.0
    try:
        time.sleep(args.settle_s)
        while time.monotonic() < end:
            for name, proc in procs.items():
                mb = rss_mb(proc.pid)
                if mb is None:
                    raise SystemExit(f'[soak] {name} exited ({proc.poll()}): see {out}')
                samples[name].append((time.monotonic() - start, mb))
            time.sleep(args.interval_s)
    finally:
        for proc in reversed(list(procs.values())):
            if proc.poll() is None:
                proc.send_signal(signal.SIGINT)
        for proc in procs.values():
            try:
                proc.wait(30)
            except subprocess.TimeoutExpired:
                proc.kill()
    report(samples, args)


def report(samples, args):
    print(f'[soak] {args.minutes:g} min after {args.settle_s:g} s of settling, a sample every '
          f'{args.interval_s:g} s; target < {TARGET_PCT_PER_30_MIN:g} % per 30 min')
    print(f'{"node":18s} {"first MB":>9s} {"last MB":>9s} {"MB/min":>8s} {"%/30min":>8s} '
          f'{"MB/min, 1st half":>17s} {"2nd half":>9s}')
    for name, points in samples.items():
        if len(points) < 4:
            print(f'{name:18s} too few samples')
            continue
        slope = slope_per_min(points)
        pct = slope * 30.0 / points[0][1] * 100.0
        verdict = 'PASS' if pct < TARGET_PCT_PER_30_MIN else 'FAIL'
        # growth that levels off has a smaller slope in the second half than in the first
        half = len(points) // 2
        first, second = slope_per_min(points[:half]), slope_per_min(points[half:])
        print(f'{name:18s} {points[0][1]:9.1f} {points[-1][1]:9.1f} {slope:8.3f} {pct:8.2f} '
              f'{first:17.3f} {second:9.3f} {verdict}')


def trace_child(module, path, settle_s, interval_s, argv):
    """Run module as __main__ under tracemalloc, writing the growth since settle_s to path."""
    import tracemalloc

    def watch():
        # Tracing from the start would slow the imports and the model load many times over:
        # it starts once the node has settled, the baseline one interval later.
        time.sleep(settle_s)
        tracemalloc.start(12)
        time.sleep(interval_s)
        base = tracemalloc.take_snapshot()
        while True:
            time.sleep(interval_s)
            stats = tracemalloc.take_snapshot().compare_to(base, 'traceback')
            with open(path, 'w') as f:
                f.write(f'traced now {tracemalloc.get_traced_memory()[0] / 1e6:.1f} MB\n')
                for stat in stats[:15]:
                    f.write(f'{stat.size_diff / 1e6:+.3f} MB {stat.count_diff:+d} blocks\n')
                    f.write('\n'.join(stat.traceback.format()[-8:]) + '\n\n')

    threading.Thread(target=watch, daemon=True).start()
    sys.argv = [module] + argv
    runpy.run_module(module, run_name='__main__', alter_sys=True)


def main(argv=None):
    argv = sys.argv[1:] if argv is None else argv
    if argv and argv[0] == '--trace-child':
        module, path, settle_s, interval_s = argv[1:5]
        return trace_child(module, path, float(settle_s), float(interval_s), argv[5:])
    ap = argparse.ArgumentParser(description=__doc__.split('\n\n')[0])
    ap.add_argument('--minutes', type=float, default=30.0)
    ap.add_argument('--interval-s', type=float, default=10.0)
    ap.add_argument('--settle-s', type=float, default=60.0)
    ap.add_argument('--checkpoint', default=str(REPO / 'demo' / 'so100_synthetic'))
    ap.add_argument('--instruction', default='wave')
    ap.add_argument('--trace', default='', help='node to run under tracemalloc')
    soak(ap.parse_args(argv))
    return 0


if __name__ == '__main__':
    sys.exit(main())
