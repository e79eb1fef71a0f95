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

"""The pi0fast-fit-tokenizer command line."""

import json
import pathlib
import subprocess

from fast_tokenizer_testlib import reference_codes, smooth_chunks
import numpy as np
from pi0fast_ros.core.fast.tokenizer import FastActionTokenizer
from pi0fast_ros.tools.fit_tokenizer import main
import pytest


def test_fits_npy_chunks_and_prints_progress(tmp_path, capsys):
    chunks = smooth_chunks(seed=30, n=150, horizon=10, dim=6)
    np.save(tmp_path / 'chunks.npy', chunks)
    assert main([str(tmp_path / 'chunks.npy'), '-o', str(tmp_path / 'tok'),
                 '--vocab-size', '400']) == 0
    out = capsys.readouterr().out
    assert '150 chunks of shape (10, 6)' in out
    assert 'training byte-level BPE' in out and 'tokens per chunk' in out
    tok = FastActionTokenizer.from_pretrained(tmp_path / 'tok')
    assert (tok.time_horizon, tok.action_dim, tok.vocab_size) == (10, 6, 400)
    # the CLI fits exactly what the library fits
    direct = FastActionTokenizer.fit(chunks, vocab_size=400)
    assert tok.encode(chunks[:5]) == direct.encode(chunks[:5])
    meta = json.loads((tmp_path / 'tok' / 'metadata.json').read_text())
    lengths = [len(ids) for ids in tok.encode(chunks)]
    assert meta['num_chunks'] == 150
    assert meta['compression_stats']['mean_token_length'] == pytest.approx(np.mean(lengths))


def test_fits_npz_episodes_cut_into_windows(tmp_path):
    rng = np.random.default_rng(31)
    episodes = {f'ep{i}': np.cumsum(rng.normal(0, 0.02, (n, 8)), axis=0)
                for i, n in enumerate([40, 25, 5])}
    np.savez(tmp_path / 'eps.npz', **episodes)
    assert main([str(tmp_path / 'eps.npz'), '-o', str(tmp_path / 'tok'), '--horizon', '10',
                 '--stride', '2', '--dims', '0:3,5:7', '--vocab-size', '300']) == 0
    tok = FastActionTokenizer.from_pretrained(tmp_path / 'tok')
    assert (tok.time_horizon, tok.action_dim) == (10, 5)
    meta = json.loads((tmp_path / 'tok' / 'metadata.json').read_text())
    # windows: ceil((40 - 10 + 1) / 2) + ceil((25 - 10 + 1) / 2); the 5-step episode is skipped
    assert meta['num_chunks'] == 16 + 8
    # the first window is the first 10 steps of ep0, restricted to the chosen dims
    first = episodes['ep0'][:10][:, [0, 1, 2, 5, 6]]
    codes = tok.decode_coefficients(tok.encode(first), mode='strict')
    np.testing.assert_array_equal(codes.reshape(-1), reference_codes(first, 10.0))


@pytest.mark.parametrize('setup, args, message', [
    (None, [], 'no such file'),
    ('npz2', [], 'pick one with --key'),
    ('npz2', ['--key', 'zzz'], "no array 'zzz'"),
    ('traj', [], 'expected chunks [N, H, D]'),
    ('chunks', ['--dims', '0:99'], 'does not fit action dim'),
    ('chunks', ['--dims', 'a:b'], 'expected ranges'),
    ('chunks', ['--vocab-size', '5'], 'smaller than the coefficient range'),
    ('nan', [], 'NaN'),
])
def test_bad_input_is_a_one_line_error(tmp_path, capsys, setup, args, message):
    src = tmp_path / 'in.npy'
    chunks = smooth_chunks(seed=32, n=30, horizon=10, dim=4)
    if setup == 'npz2':
        src = tmp_path / 'in.npz'
        np.savez(src, a=chunks, b=chunks)
    elif setup == 'traj':
        np.save(src, chunks[0])
    elif setup == 'chunks':
        np.save(src, chunks)
    elif setup == 'nan':
        chunks[3, 2, 1] = np.nan
        np.save(src, chunks)
    assert main([str(src), '-o', str(tmp_path / 'out'), *args]) == 2
    err = capsys.readouterr().err
    assert 'error' in err and message in err
    assert not (tmp_path / 'out' / 'tokenizer.json').exists()


def test_refuses_to_overwrite_without_force(tmp_path, capsys):
    np.save(tmp_path / 'c.npy', smooth_chunks(seed=33, n=40, horizon=10, dim=4))
    (tmp_path / 'out').mkdir()
    (tmp_path / 'out' / 'keep.txt').write_text('x')
    assert main([str(tmp_path / 'c.npy'), '-o', str(tmp_path / 'out')]) == 2
    assert 'not empty' in capsys.readouterr().err
    assert main([str(tmp_path / 'c.npy'), '-o', str(tmp_path / 'out'), '--force',
                 '--vocab-size', '300']) == 0


def test_console_script_is_installed_and_runs(tmp_path):
    # scripts/test.sh colcon-builds install/ first; the entry point must be the real tool
    from ament_index_python.packages import get_package_prefix
    exe = pathlib.Path(get_package_prefix('pi0fast_ros')) / 'lib' / 'pi0fast_ros' / \
        'pi0fast-fit-tokenizer'
    np.save(tmp_path / 'c.npy', smooth_chunks(seed=34, n=40, horizon=10, dim=4))
    proc = subprocess.run([str(exe), str(tmp_path / 'c.npy'), '-o', str(tmp_path / 'o'),
                           '--vocab-size', '300'], capture_output=True, text=True, timeout=120)
    assert proc.returncode == 0, proc.stderr
    assert 'wrote' in proc.stdout
    assert (tmp_path / 'o' / 'tokenizer.json').is_file()
