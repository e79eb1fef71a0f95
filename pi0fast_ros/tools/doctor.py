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
pi0fast-doctor CHECKPOINT [--device cuda] [--config so100] [--json]: check a computer for a model.

Run on the robot's own computer. Reports the environment (torch, CUDA, GPU, bf16, SCHED_FIFO,
ROS 2 middleware settings), the load time (progress on stderr), the self-check of every
engine mode against 'exact' (core/model/selfcheck.py) and the path the node would run, the
per-stage latency over --runs chunks of --tokens tokens (prefill, decode ms/token, chunk
p50/p99, the per-token cost of checking for the stop at '|'), peak memory, the
weight-streaming bound with decode as a multiple of it, and settings for the config's rates
(doctor_advice.py). Readable text, or one JSON document with --json.
Exit status: 0 all checks passed; 1 an engine mode failed its self-check (the node would
fall back to 'exact'); 2 the device, checkpoint or config could not be used.
"""

import argparse
import json
import resource
import statistics
import sys
import time

import numpy as np
import torch

from .doctor_advice import advise
from .doctor_env import environment
from .doctor_report import render
from ..core.model import Pi0FastEngine
from ..core.model.perf import decode_weight_bytes, sync_now, weight_stream_bound
from ..core.model.selfcheck import compare
from ..nodes.executor.params import TABLE as EXECUTOR_TABLE
from ..nodes.params import defaults
from ..nodes.policy.config import TABLE as POLICY_TABLE

# Where the config file says nothing: the nodes' defaults (their parameter tables), and the
# SCHED_FIFO priority to probe (the executor's in the shipped configs; the node's default, 0,
# asks for none).
_NODE_DEFAULTS = {**defaults(POLICY_TABLE), **defaults(EXECUTOR_TABLE)}
DEFAULT_SETTINGS = {**{key: _NODE_DEFAULTS[key] for key in (
    'action_rate_hz', 'control_rate_hz', 'inference_period_s', 'blend_steps', 'blend_max_steps',
    'watchdog_timeout_s')}, 'realtime_priority': 50}


def read_settings(config):
    """Return the rates and blend settings of a graph config file (defaults when None)."""
    settings = dict(DEFAULT_SETTINGS, config=None)
    if not config:
        return settings
    import yaml
    from .bringup import resolve_config
    path = resolve_config(config)
    with open(path, encoding='utf-8') as f:
        doc = yaml.safe_load(f) or {}
    settings['config'] = path
    for section in ('/**', '/**/policy_node', '/**/executor_node'):
        params = (doc.get(section) or {}).get('ros__parameters') or {}
        for key in DEFAULT_SETTINGS:
            if key in params and not (key == 'realtime_priority' and 'policy' in section):
                settings[key] = params[key]
    return settings


def synthetic_observation(policy, seed=0):
    """Noise frames at VGA size for every camera, a zero state and an instruction."""
    rng = np.random.default_rng(seed)
    images = {s: rng.integers(0, 256, (480, 640, 3), dtype=np.uint8)
              for s in policy.camera_slots}
    return images, np.zeros(policy.state_dim, np.float32), 'pick up the cube'


def engine_inputs(prepared):
    return prepared.images, prepared.img_masks, prepared.tokens, prepared.masks


def check_modes(policy, prepared, steps):
    """Self-check every engine mode this device runs against 'exact' -> list of dicts."""
    modes = [('compact', False), ('static', False)]
    if policy.device.type == 'cuda':
        modes.append(('static', True))
    stop = policy.text_tokenizer.end_marker_id if policy.stop_at_end_marker else None
    out = []
    for mode, graph in modes:
        engine = Pi0FastEngine(policy.engine.model, bos_token_id=policy.engine.bos_token_id,
                               max_action_tokens=policy.engine.max_action_tokens, mode=mode,
                               cuda_graph=graph)
        result = compare(engine, engine_inputs(prepared), steps, stop_token_id=stop,
                         **policy._constraint)
        out.append({'path': result.path, 'ok': result.ok, 'reason': result.reason,
                    'tokens_compared': result.steps, 'max_logit_diff': result.max_logit_diff,
                    'tolerance': result.tolerance})
        del engine
    return out


def measure(policy, runs, tokens):
    """Chunks of `tokens` tokens (no stop) on the production path: per-stage p50/p99 (ms)."""
    obs, device, engine = synthetic_observation(policy), policy.device, policy.engine
    first = engine.generate(*engine_inputs(policy.prepare(*obs)), tokens)  # untimed
    never = _absent_token(engine.model.arch.vocab_size, first.tokens)
    rows, stop_rows = [], []
    for _ in range(runs):
        t0 = sync_now(device)
        prepared = policy.prepare(*obs)
        pre_ms = (sync_now(device) - t0) * 1e3
        gen = engine.generate(*engine_inputs(prepared), tokens)
        # The same with a stop id that never comes: only the per-token check for it differs.
        stopped = engine.generate(*engine_inputs(prepared), tokens, stop_token_id=never)
        t = gen.timings
        rows.append((pre_ms, t['prefill_ms'], t['decode_ms_per_token'], pre_ms + t['total_ms']))
        stop_rows.append(stopped.timings['decode_ms_per_token'])
    cols = list(zip(*rows))
    out = {'runs': runs, 'tokens': tokens, 'path': engine.path}
    for name, values in zip(('preprocess_ms', 'prefill_ms', 'decode_ms_per_token', 'chunk_ms'),
                            cols):
        out[name] = {'p50': float(np.percentile(values, 50)),
                     'p99': float(np.percentile(values, 99))}
    out['stop_check_us_per_token'] = 1e3 * (statistics.median(stop_rows) -
                                            statistics.median(cols[2]))
    out['host_sync_us'] = _host_sync_us(first.tokens[:, :1], never)
    return out


def _host_sync_us(token, stop_id, n=1000):
    """Microseconds of the engine's per-token stop test alone (a device -> host read)."""
    t0 = time.perf_counter()
    for _ in range(n):
        bool((token[:, 0] == stop_id).all())
    return (time.perf_counter() - t0) * 1e6 / n


def _absent_token(vocab_size, tokens):
    """Return the largest token id not among `tokens` (greedy runs repeat them exactly)."""
    used = set(tokens.flatten().tolist())
    return next(i for i in range(vocab_size - 1, -1, -1) if i not in used)


def memory(device, model):
    """Weights and peak memory in GiB (peak: allocated on CUDA, the process's RSS on CPU)."""
    weights = sum(p.numel() * p.element_size() for p in model.parameters()) / 2**30
    if device.type == 'cuda':
        return {'weights_gib': weights, 'peak_gib': torch.cuda.max_memory_allocated(device)
                / 2**30, 'peak_kind': 'torch.cuda.max_memory_allocated'}
    rss = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 2**20   # kB -> GiB
    return {'weights_gib': weights, 'peak_gib': rss, 'peak_kind': 'process peak RSS'}


def progress_printer():
    """progress(fraction, message) for from_pretrained: one stderr line per 5 %."""
    last = [-1]

    def progress(fraction, message):
        step = int(fraction * 20)
        if step != last[0]:
            last[0] = step
            print(f'  loading {fraction * 100:5.1f}%  {message}', file=sys.stderr, flush=True)

    return progress


def run(args):
    """Everything but the output -> (report dict, exit status)."""
    from ..core.policy.facade import Pi0FastPolicy
    device = torch.device(args.device)
    settings = read_settings(args.config)
    report = {'checkpoint': args.checkpoint, 'device': str(device), 'settings': settings,
              'environment': environment(args.device, settings['realtime_priority'])}
    start = time.perf_counter()
    policy = Pi0FastPolicy.from_pretrained(
        args.checkpoint, device=args.device, dtype=None if args.dtype == 'auto' else args.dtype,
        progress=progress_printer(), allow_download=False)
    report['load_s'] = time.perf_counter() - start
    report['model'] = {'dtype': str(policy.dtype), 'parameters_m': policy.engine.model
                       .num_parameters() / 1e6, 'horizon': policy.horizon,
                       'action_dim': policy.action_dim, 'cameras': list(policy.camera_slots)}
    print('  self-checking every engine mode against exact ...', file=sys.stderr, flush=True)
    prepared = policy.prepare(*synthetic_observation(policy))
    report['self_check'] = check_modes(policy, prepared, args.tokens)
    policy.warmup(iterations=0)          # the node's own check of its production path
    report['engine_path'] = policy.engine_path
    if device.type == 'cuda':
        torch.cuda.reset_peak_memory_stats(device)
    print(f'  timing {args.runs} chunks of {args.tokens} tokens ...', file=sys.stderr,
          flush=True)
    report['latency'] = measure(policy, args.runs, args.tokens)
    report['memory'] = memory(device, policy.engine.model)
    megabytes, bound_ms = weight_stream_bound(policy.engine.model, device)
    decode = report['latency']['decode_ms_per_token']['p50']
    report['bound'] = {'decode_weights_mb': decode_weight_bytes(policy.engine.model) / 1e6,
                       'stream_ms': bound_ms, 'gb_per_s': megabytes / bound_ms,
                       'decode_x_bound': decode / bound_ms}
    advice = advise(report['latency']['chunk_ms']['p99'] / 1e3, policy.horizon,
                    settings['action_rate_hz'], settings['control_rate_hz'],
                    settings['blend_steps'], settings['blend_max_steps'],
                    settings['inference_period_s'], settings['watchdog_timeout_s'])
    report['advice'] = vars(advice)
    ok = all(c['ok'] for c in report['self_check'])
    report['ok'] = ok
    return report, 0 if ok else 1


def main(argv=None):
    ap = argparse.ArgumentParser(prog='pi0fast-doctor', description=__doc__.split('\n\n')[1])
    ap.add_argument('checkpoint', help='a LeRobot pi0_fast checkpoint directory')
    ap.add_argument('--device', default='cpu', help='cpu, cuda or cuda:N (default cpu)')
    ap.add_argument('--dtype', default='auto', choices=('auto', 'float32', 'bfloat16'))
    ap.add_argument('--config', default=None,
                    help='graph config (so100, aloha or a file) for the rates and blending')
    ap.add_argument('--runs', type=int, default=20, help='timed chunks (default 20)')
    ap.add_argument('--tokens', type=int, default=50,
                    help='tokens per timed chunk and per self-check (default 50; a FAST chunk '
                    'is ~20-80 tokens)')
    ap.add_argument('--threads', type=int, default=0,
                    help="torch intra-op threads (0 = torch default; the node's torch_threads)")
    ap.add_argument('--json', action='store_true', help='one JSON document on stdout')
    args = ap.parse_args(argv)
    if args.threads:
        torch.set_num_threads(args.threads)
    if args.runs < 1 or args.tokens < 2:
        ap.error('--runs must be >= 1 and --tokens >= 2')
    if torch.device(args.device).type == 'cuda' and not torch.cuda.is_available():
        print(f'pi0fast-doctor: --device {args.device} but torch {torch.__version__} sees no '
              f'CUDA device (torch.version.cuda={torch.version.cuda})', file=sys.stderr)
        return 2
    try:
        report, status = run(args)
    except Exception as exc:  # load / config failures: say which, exit 2
        print(f'pi0fast-doctor: {type(exc).__name__}: {exc}', file=sys.stderr)
        return 2
    print(json.dumps(report, indent=2, default=str) if args.json else render(report))
    return status


if __name__ == '__main__':
    sys.exit(main())
