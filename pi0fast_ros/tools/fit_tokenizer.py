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
pi0fast-fit-tokenizer: fit a FAST action tokenizer on action chunks (.npy / .npz / a dataset).

Input, already in the policy's normalised action space (as LeRobot's trainer normalises
before fitting):
  .npy [N, H, D]   ready-made chunks
  .npy [T, D]      one trajectory, cut into sliding windows of --horizon steps
  .npz             --key picks one array (as above); without --key, a single array is used,
                   or, with --horizon, every array is one episode [T_i, D]
  a directory      a LeRobot v3.0 dataset (pi0fast-export-dataset): its action column per
                   episode, normalized with meta/stats.json as a checkpoint trained on it
                   would (--norm-mode, default MEAN_STD as pi0_fast), cut at --horizon
Writes the FAST directory (processor_config.json, tokenizer.json, ...) and metadata.json.
"""

import argparse
import json
import pathlib
import sys
import time

import numpy as np
from pi0fast_ros.core.fast.tokenizer import FastActionTokenizer, FastTokenizerError
from pi0fast_ros.recording.dataset_actions import DatasetActionsError, episode_actions
from pi0fast_ros.recording.dataset_actions import is_dataset

STATS_SAMPLE = 1000     # chunks used for the compression figures (as LeRobot's trainer)


class UsageError(Exception):
    """Bad arguments or input data; reported as one line and exit status 2."""


def _parser():
    p = argparse.ArgumentParser(prog='pi0fast-fit-tokenizer', description=__doc__.split('\n')[1])
    p.add_argument('chunks', type=pathlib.Path,
                   help='.npy or .npz file with action data, or a LeRobot dataset directory')
    p.add_argument('--norm-mode', default='MEAN_STD',
                   help="normalization of a dataset's actions (default MEAN_STD)")
    p.add_argument('-o', '--output', type=pathlib.Path, required=True,
                   help='directory to write the tokenizer to')
    p.add_argument('--key', help='array name inside a .npz file')
    p.add_argument('--horizon', type=int, help='cut [T, D] trajectories into H-step windows')
    p.add_argument('--stride', type=int, default=1, help='window step (default 1)')
    p.add_argument('--dims', help='action dims to keep, LeRobot style, e.g. "0:6,7:13"')
    p.add_argument('--vocab-size', type=int, default=1024, help='BPE vocabulary (default 1024)')
    p.add_argument('--scale', type=float, default=10.0, help='DCT scale (default 10)')
    p.add_argument('--max-chunks', type=int, help='fit on a random subset of this many chunks')
    p.add_argument('--seed', type=int, default=0, help='seed for --max-chunks (default 0)')
    p.add_argument('--force', action='store_true', help='overwrite a non-empty output dir')
    return p


def _load_arrays(path, key, norm_mode='MEAN_STD', horizon=None):
    """Return a list of arrays: one for .npy or --key, every array of a .npz otherwise."""
    if path.is_dir() and is_dataset(path):
        if horizon is None:
            raise UsageError(f'{path} is a dataset: pass --horizon (the chunk length)')
        try:
            return episode_actions(path, norm_mode)
        except DatasetActionsError as err:
            raise UsageError(str(err)) from err
    if not path.is_file():
        raise UsageError(f'{path}: no such file')
    try:
        data = np.load(path, allow_pickle=False)    # never unpickle
    except (OSError, ValueError) as err:
        raise UsageError(f'{path}: not a readable .npy/.npz file ({err})') from err
    if isinstance(data, np.ndarray):
        return [data]
    with data:
        if key is not None:
            if key not in data.files:
                raise UsageError(f'{path}: no array {key!r}; it has {", ".join(data.files)}')
            return [data[key]]
        return [data[name] for name in data.files]


def _windows(trajectory, horizon, stride):
    """[T, D] -> [N, horizon, D] sliding windows (none when T < horizon)."""
    if trajectory.shape[0] < horizon:
        return np.zeros((0, horizon, trajectory.shape[1]))
    view = np.lib.stride_tricks.sliding_window_view(trajectory, horizon, axis=0)
    return np.moveaxis(view[::stride], -1, 1)


def _chunks(arrays, horizon, stride):
    if len(arrays) > 1 and horizon is None:
        raise UsageError(f'the .npz file holds {len(arrays)} arrays: pick one with --key, or '
                         'pass --horizon to treat each as an episode')
    if horizon is None:
        if arrays[0].ndim != 3:
            raise UsageError(f'expected chunks [N, H, D], got shape {arrays[0].shape}; '
                             'pass --horizon to cut a [T, D] trajectory into chunks')
        return arrays[0]
    if horizon < 1 or stride < 1:
        raise UsageError('--horizon and --stride must be >= 1')
    bad = [a.shape for a in arrays if a.ndim != 2]
    if bad:
        raise UsageError(f'--horizon expects [T, D] trajectories, got shape {bad[0]}')
    windows = [_windows(a, horizon, stride) for a in arrays]
    skipped = sum(1 for w in windows if len(w) == 0)
    if skipped:
        print(f'skipped {skipped} episode(s) shorter than {horizon} steps')
    if {a.shape[1] for a in arrays} != {arrays[0].shape[1]}:
        raise UsageError('episodes have different action dims')
    return np.concatenate(windows)


def _select_dims(chunks, spec):
    if spec is None:
        return chunks
    try:
        ranges = [tuple(int(v) for v in part.split(':')) for part in spec.split(',')]
        index = np.concatenate([np.arange(lo, hi) for lo, hi in ranges])
    except ValueError as err:
        raise UsageError(f'--dims {spec!r}: expected ranges like "0:6,7:13"') from err
    if index.size == 0 or index.min() < 0 or index.max() >= chunks.shape[2]:
        raise UsageError(f'--dims {spec!r} does not fit action dim {chunks.shape[2]}')
    return chunks[:, :, index]


def _subsample(chunks, max_chunks, seed):
    if max_chunks is None or max_chunks >= len(chunks):
        return chunks
    pick = np.random.default_rng(seed).choice(len(chunks), size=max_chunks, replace=False)
    return chunks[np.sort(pick)]


def _compression(tok, chunks, seed):
    sample = _subsample(chunks, STATS_SAMPLE, seed)
    lengths = np.array([len(ids) for ids in tok.encode(sample)])
    values = chunks.shape[1] * chunks.shape[2]
    return {
        'compression_ratio': float(values / lengths.mean()),
        'mean_token_length': float(lengths.mean()),
        'p99_token_length': float(np.percentile(lengths, 99)),
        'min_token_length': int(lengths.min()),
        'max_token_length': int(lengths.max()),
        'values_per_chunk': int(values),
    }


def run(args):
    """Fit and save; returns the metadata dict written next to the tokenizer."""
    if args.output.exists() and any(args.output.iterdir()) and not args.force:
        raise UsageError(f'{args.output} is not empty (use --force to overwrite)')
    arrays = _load_arrays(args.chunks, args.key, args.norm_mode, args.horizon)
    chunks = _chunks(arrays, args.horizon, args.stride)
    chunks = _subsample(_select_dims(chunks, args.dims), args.max_chunks, args.seed)
    if len(chunks) == 0:
        raise UsageError('no chunks to fit on')
    print(f'{len(chunks)} chunks of shape {tuple(chunks.shape[1:])} from {args.chunks}')
    start = time.monotonic()
    tok = FastActionTokenizer.fit(chunks, scale=args.scale, vocab_size=args.vocab_size,
                                  progress=print)
    print(f'fitted in {time.monotonic() - start:.1f} s: {tok}')
    stats = _compression(tok, chunks, args.seed)
    print(f'compression: {stats["mean_token_length"]:.1f} tokens per chunk of '
          f'{stats["values_per_chunk"]} values ({stats["compression_ratio"]:.2f}x), '
          f'p99 {stats["p99_token_length"]:.0f}, max {stats["max_token_length"]}')
    tok.save_pretrained(args.output)
    meta = {'source': str(args.chunks), 'key': args.key, 'horizon': args.horizon,
            'norm_mode': args.norm_mode if is_dataset(args.chunks) else None,
            'stride': args.stride, 'dims': args.dims, 'num_chunks': int(len(chunks)),
            'vocab_size': args.vocab_size, 'scale': args.scale, 'compression_stats': stats}
    (args.output / 'metadata.json').write_text(json.dumps(meta, indent=2) + '\n')
    print(f'wrote {args.output}')
    return meta


def main(argv=None):
    args = _parser().parse_args(argv)
    try:
        run(args)
    except (UsageError, FastTokenizerError) as err:
        sys.stderr.write(f'pi0fast-fit-tokenizer: error: {err}\n')
        return 2
    return 0


if __name__ == '__main__':
    sys.exit(main())
