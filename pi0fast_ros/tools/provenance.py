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
pi0fast-provenance BAG [--index I ...] [--sample N] [--moving N]: trace commands to their source.

For each selected joint_commands message: its executor tick (state, blend weight, hold
reason), the chunk it came from (stamp, arrival delay), the policy's chunk_info (status,
tokens, inference time) and the joint state and camera frames the chunk was computed from.
First line: the checkpoint and the sha256 of its weights and config.json (bag metadata).
Exit status 1 if any link is missing (see recording/provenance.py), or if a chunk_info names
weights other than the bag's.
"""

import argparse
import re
import sys

from ..core.status import ChunkInfo
from ..recording.provenance import moving_indices, sample_indices, trace_command
from ..recording.rollout import load_rollout

SHA256 = re.compile(r'^[0-9a-f]{64}$')


def checkpoint_line(metadata):
    """Name the checkpoint of the rollout and the sha256 of its weights and config.json."""
    get = metadata.get
    return (f'checkpoint {get("pi0fast.checkpoint") or "?"}: weights sha256 '
            f'{get("pi0fast.checkpoint_weights_sha256") or "not recorded"}, config.json sha256 '
            f'{get("pi0fast.checkpoint_config_sha256") or "not recorded"}')


def weights_problem(metadata, info):
    """Return a problem text if the chunk was computed by weights other than the bag's."""
    bag = metadata.get('pi0fast.checkpoint_weights_sha256', '')
    chunk = ChunkInfo.decode(info or {}).weights_sha256
    if SHA256.match(bag) and SHA256.match(chunk) and bag != chunk:
        return f'the chunk was computed by weights {chunk}, the bag names {bag}'
    return None


def describe(rollout, prov):
    """Render one Provenance as a few readable lines."""
    t0 = rollout.start_ns
    lines = [f'command #{prov.command_index} at {(prov.command_t_ns - t0) * 1e-9:.3f} s: '
             f'{[round(v, 4) for v in prov.command.tolist()]}']
    if prov.tick_index >= 0:
        extra = (f' weight {prov.blend_weight:.3f} of chunk {prov.previous_chunk_stamp_ns}'
                 if prov.blended else f' ({prov.hold_reason})' if prov.held else '')
        lines.append(f'  tick {prov.tick_stamp_ns}: {prov.state}{extra}')
        lines.append(f'  chunk {prov.chunk_stamp_ns}: '
                     + (f'arrived {prov.chunk_delay_s * 1e3:.0f} ms after its observation'
                        if prov.chunk_found else 'not recorded'))
    info = prov.chunk_info
    if info:
        record = ChunkInfo.decode(info)
        lines.append(f'  chunk_info: status {record.status}, {record.tokens} tokens, '
                     f'inference {record.inference_ms:.2f} ms, instruction '
                     f'{record.instruction!r}')
        lines.append(f'  joint state {record.joint_state_stamp_ns}: '
                     + ('recorded' if prov.joint_state_t_ns else 'missing'))
        for slot, found in prov.frames.items():
            lines.append(f'  {slot}: ' + (f'{found[0]}' if found else 'missing'))
    problems = list(prov.problems)
    mismatch = weights_problem(rollout.metadata, info)
    if mismatch:
        problems.append(mismatch)
    lines += [f'  PROBLEM: {p}' for p in problems]
    return '\n'.join(lines)


def main(argv=None):
    ap = argparse.ArgumentParser(prog='pi0fast-provenance', description=__doc__.split('\n')[1])
    ap.add_argument('bag', help='rollout bag directory')
    ap.add_argument('--index', type=int, nargs='*', default=[],
                    help='joint_commands message indices (negative counts from the end)')
    ap.add_argument('--sample', type=int, default=0, help='also trace N seeded random commands')
    ap.add_argument('--moving', type=int, default=0,
                    help='also trace N commands spread over the rollout while the arm moved '
                    '(executor tracking or blending, not holding)')
    args = ap.parse_args(argv)
    try:
        rollout = load_rollout(args.bag)
    except FileNotFoundError as exc:
        print(f'pi0fast-provenance: {exc}', file=sys.stderr)
        return 2
    if rollout.unreadable:
        print(f'pi0fast-provenance: {rollout.unreadable_summary()}', file=sys.stderr)
    n = len(rollout.commands)
    if not n:
        print(f'pi0fast-provenance: {args.bag} has no joint_commands', file=sys.stderr)
        return 2
    indices = [i % n for i in args.index] + sample_indices(n, args.sample) + \
        moving_indices(rollout, args.moving)
    if not indices:
        indices = [n - 1]
    traced = [trace_command(rollout, i) for i in sorted(set(indices))]
    print(checkpoint_line(rollout.metadata))
    for prov in traced:
        print(describe(rollout, prov))
    broken = sum(not p.complete or bool(weights_problem(rollout.metadata, p.chunk_info))
                 for p in traced)
    print(f'{len(traced) - broken}/{len(traced)} commands traced to their observation')
    return 1 if broken else 0


if __name__ == '__main__':
    sys.exit(main())
