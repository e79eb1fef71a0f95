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
pi0fast-train-demo: train the tiny demo PI0-FAST on the synthetic SO-100 task (CPU, minutes).

    pi0fast-train-demo --out demo/so100_synthetic

writes a LeRobot-format pi0_fast checkpoint directory (see testing/demo_training.py) plus
training_summary.json (recipe, timings, loss curve) and a README.md with the exact command.
Deterministic for a given seed and thread count.
"""

import argparse
import dataclasses
import json
import os
import pathlib
import platform
import shlex
import sys
import time


def _parser(defaults):
    p = argparse.ArgumentParser(prog='pi0fast-train-demo', description=__doc__.split('\n')[1])
    p.add_argument('--out', required=True, help='output checkpoint directory')
    p.add_argument('--seed', type=int, default=defaults.seed)
    p.add_argument('--steps', type=int, default=defaults.steps)
    p.add_argument('--batch-size', type=int, default=defaults.batch_size)
    p.add_argument('--samples', type=int, default=defaults.samples,
                   help='number of generated demonstrations')
    p.add_argument('--lr', type=float, default=defaults.lr, help='peak learning rate')
    p.add_argument('--threads', type=int, default=2,
                   help='torch CPU threads (results are deterministic per thread count)')
    p.add_argument('--log-every', type=int, default=50, help='progress line every N steps')
    p.add_argument('--force', action='store_true', help='overwrite a non-empty --out')
    p.add_argument('--cameras', type=parse_cameras, default=defaults.cameras,
                   help='camera slots and the fake robot view each one sees, SLOT:VIEW,... '
                        '(default front:side,wrist:wrist, as config/so100.yaml; views: '
                        'side, front, top, wrist)')
    return p


def parse_cameras(text):
    """Parse SLOT:VIEW,... into (('slot', 'view'), ...), naming what is wrong."""
    from pi0fast_ros.sim.arm_render import VIEWS
    pairs = []
    for item in text.split(','):
        slot, sep, view = item.strip().partition(':')
        if not sep or not slot or view not in VIEWS:
            raise argparse.ArgumentTypeError(
                f'{item.strip()!r}: want SLOT:VIEW with VIEW one of {", ".join(VIEWS)}')
        pairs.append((slot, view))
    slots = [slot for slot, _ in pairs]
    if len(set(slots)) != len(slots):
        raise argparse.ArgumentTypeError(f'camera slots repeat: {slots}')
    return tuple(pairs)


def _readme(out, command, summary):
    recipe = summary['recipe']
    last = summary['history'][-1]
    text = f"""# Demo checkpoint: tiny PI0-FAST on the synthetic SO-100 task

A LeRobot 0.4.4 `pi0_fast` checkpoint directory trained from scratch by
`pi0fast-train-demo` on demonstrations of `pi0fast_ros.testing.synthetic_task`
(instructions: "go home", "reach left", "reach right", "wave"; SO-100 joints in LeRobot units,
-100..100 and gripper 0..100; 30 Hz, 1 s chunks). It drives the fake robot of
`config/so100.yaml`; it knows nothing about a real arm.

Produced by:

    {command}

- cameras (slot: the fake robot's view): {', '.join(f'{c}: {v}' for c, v in recipe['cameras'])}
- seed {recipe['seed']}, {summary['torch_threads']} torch threads, {recipe['steps']} steps of
  {recipe['batch_size']}, peak lr {recipe['lr']}
- wall time {summary['seconds_total']:.0f} s (data {summary['seconds_data']:.0f} s) on
  {summary['machine']}; load average at start {summary['load_at_start']}
- final training loss (smoothed) {last['smoothed_loss']:.3f}; {summary['parameters']}
  parameters
- contents: config.json, model.safetensors (fp32), policy_preprocessor.json /
  policy_postprocessor.json + normalizer stats, fast_tokenizer/, text_tokenizer/,
  training_summary.json (recipe and loss curve)
"""
    (out / 'README.md').write_text(text)


def main(argv=None):
    # Spinning OpenMP threads starve each other on a shared 2-core machine; this must be set
    # before torch loads, hence the imports below.
    os.environ.setdefault('OMP_WAIT_POLICY', 'PASSIVE')
    import torch
    from pi0fast_ros.testing.demo_training import DemoRecipe, train_demo_checkpoint

    args = _parser(DemoRecipe()).parse_args(argv)
    out = pathlib.Path(args.out)
    if out.exists() and any(out.iterdir()) and not args.force:
        sys.stderr.write(f'pi0fast-train-demo: {out} is not empty (use --force)\n')
        return 2
    torch.set_num_threads(args.threads)
    recipe = dataclasses.replace(DemoRecipe(), seed=args.seed, steps=args.steps,
                                 batch_size=args.batch_size, samples=args.samples, lr=args.lr,
                                 cameras=args.cameras)
    load = os.getloadavg()[0] if hasattr(os, 'getloadavg') else float('nan')
    start = time.monotonic()

    def progress(message):
        print(f'[train-demo {time.monotonic() - start:6.0f}s] {message}', flush=True)

    summary = train_demo_checkpoint(out, recipe, progress, log_every=args.log_every)
    summary.update(load_at_start=round(load, 2), machine=f'{platform.machine()} '
                   f'{os.cpu_count()} CPUs, torch {torch.__version__}')
    command = 'pi0fast-train-demo ' + ' '.join(shlex.quote(a) for a in (argv or sys.argv[1:]))
    summary['command'] = command
    (out / 'training_summary.json').write_text(json.dumps(summary, indent=2) + '\n')
    _readme(out, command, summary)
    print(f'checkpoint written to {out} in {summary["seconds_total"]:.0f} s')
    return 0


if __name__ == '__main__':
    sys.exit(main())
