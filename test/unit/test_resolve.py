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

"""Where the facade finds checkpoints and tokenizers: explicit, subdir, config, HF cache."""

import json
import shutil

from pi0fast_ros.core.policy.facade import Pi0FastPolicy
from pi0fast_ros.core.policy.resolve import (cached_snapshot, resolve_checkpoint,
                                             resolve_component, ResolveError)
from pi0fast_ros.testing.random_checkpoint import make_random_checkpoint
import pytest


@pytest.fixture(scope='module')
def source(tmp_path_factory):
    return make_random_checkpoint(tmp_path_factory.mktemp('src'), seed=2, cameras=('top',))


def _fake_hub_cache(root, repo_id, files_from):
    """Lay out a HF hub cache entry (models--org--name/{refs/main, snapshots/<hash>})."""
    repo = root / ('models--' + repo_id.replace('/', '--'))
    snap = repo / 'snapshots' / 'abc123'
    shutil.copytree(files_from, snap)
    (repo / 'refs').mkdir(parents=True)
    (repo / 'refs' / 'main').write_text('abc123')
    return snap


def _with_hub_names(src, dst):
    """Copy a checkpoint without its tokenizer subdirs, naming hub ids in config.json."""
    shutil.copytree(src, dst, ignore=shutil.ignore_patterns('fast_tokenizer', 'text_tokenizer'))
    config = json.loads((dst / 'config.json').read_text())
    config['action_tokenizer_name'] = 'acme/fast-test'
    config['text_tokenizer_name'] = 'acme/paligemma-test'
    (dst / 'config.json').write_text(json.dumps(config))
    return dst


def test_subdirectory_convention_is_the_default(source):
    policy = Pi0FastPolicy.from_pretrained(source, allow_download=False)
    assert policy.text_tokenizer.source == str(source / 'text_tokenizer')


def test_explicit_paths_win(source, tmp_path):
    bare = _with_hub_names(source, tmp_path / 'bare')
    policy = Pi0FastPolicy.from_pretrained(
        bare, fast_tokenizer=source / 'fast_tokenizer', text_tokenizer=source / 'text_tokenizer',
        allow_download=False)
    assert policy.fast_tokenizer.vocab_size == 256
    with pytest.raises(ResolveError, match='has no tokenizer.json'):
        Pi0FastPolicy.from_pretrained(bare, fast_tokenizer=source / 'fast_tokenizer',
                                      text_tokenizer=tmp_path, allow_download=False)


def test_hf_cache_snapshots_are_found(source, tmp_path, monkeypatch):
    cache = tmp_path / 'hub'
    monkeypatch.setenv('HF_HUB_CACHE', str(cache))
    bare = _with_hub_names(source, tmp_path / 'bare')
    with pytest.raises(ResolveError) as err:
        Pi0FastPolicy.from_pretrained(bare, allow_download=False)
    message = str(err.value)
    assert 'FAST tokenizer not found' in message and 'fast_tokenizer' in message
    assert str(bare / 'fast_tokenizer') in message and 'HF cache' in message
    _fake_hub_cache(cache, 'acme/fast-test', source / 'fast_tokenizer')
    text_snap = _fake_hub_cache(cache, 'acme/paligemma-test', source / 'text_tokenizer')
    policy = Pi0FastPolicy.from_pretrained(bare, allow_download=False)
    assert policy.text_tokenizer.source == str(text_snap)
    # the checkpoint itself by hub id, from the cache
    ckpt_snap = _fake_hub_cache(cache, 'acme/pi0fast-test', source)
    assert resolve_checkpoint('acme/pi0fast-test', allow_download=False) == ckpt_snap
    assert cached_snapshot('acme/absent', 'config.json') is None


def test_offline_flag_blocks_downloads(tmp_path, monkeypatch):
    monkeypatch.setenv('HF_HUB_CACHE', str(tmp_path / 'hub'))
    monkeypatch.setenv('HF_HUB_OFFLINE', '1')
    with pytest.raises(ResolveError, match='text tokenizer not found'):
        resolve_component('text tokenizer', None, tmp_path, 'text_tokenizer',
                          'google/paligemma-3b-pt-224', 'tokenizer.json', ['tokenizer.json'])
    with pytest.raises(ResolveError, match='no such directory'):
        resolve_checkpoint(tmp_path / 'missing')


def test_a_mistyped_relative_path_is_not_taken_for_a_hub_id(tmp_path, monkeypatch):
    # Before: 'runs/ckpt_typo' looked like org/name and went to the hub (a download attempt).
    monkeypatch.setenv('HF_HUB_CACHE', str(tmp_path / 'hub'))
    monkeypatch.chdir(tmp_path)
    (tmp_path / 'runs' / 'ckpt').mkdir(parents=True)
    with pytest.raises(ResolveError, match='mistyped local path, not a hub id'):
        resolve_checkpoint('runs/ckpt_typo', allow_download=True)
