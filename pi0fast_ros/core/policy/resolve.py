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
Find a checkpoint or tokenizer directory: local path, HF cache snapshot, then (maybe) the hub.

Order for a tokenizer (`resolve_component`): an explicit path; our convention, a subdirectory
of the checkpoint (`<ckpt>/fast_tokenizer/`, `<ckpt>/text_tokenizer/`); the name in
config.json when it is a local directory; the HF cache snapshot of that hub id; a hub download
of only the listed files, when allowed (allow_download and HF_HUB_OFFLINE unset) and
huggingface_hub is installed. Otherwise a ResolveError says what to pass.
"""

import logging
import os
import pathlib

_log = logging.getLogger(__name__)


class ResolveError(FileNotFoundError):
    """A checkpoint or tokenizer directory could not be found; the message says what to pass."""


def _hub_cache_dir():
    for var in ('HF_HUB_CACHE', 'HUGGINGFACE_HUB_CACHE'):
        if os.environ.get(var):
            return pathlib.Path(os.environ[var])
    home = os.environ.get('HF_HOME') or pathlib.Path.home() / '.cache' / 'huggingface'
    return pathlib.Path(home) / 'hub'


def looks_like_hub_id(name):
    """Tell whether `name` looks like an 'org/name' hub id rather than a local path."""
    parts = str(name).split('/')
    return len(parts) == 2 and all(parts) and not str(name).startswith(('.', '~'))


def cached_snapshot(repo_id, required_file):
    """
    Return the HF cache snapshot directory of a repo that holds `required_file`, or None.

    Reads the cache layout directly (models--org--name/refs/main -> snapshots/<hash>), so no
    huggingface_hub is needed on the robot.
    """
    repo = _hub_cache_dir() / ('models--' + str(repo_id).replace('/', '--'))
    snapshots = repo / 'snapshots'
    if not snapshots.is_dir():
        return None
    ref = repo / 'refs' / 'main'
    candidates = []
    if ref.is_file():
        candidates.append(snapshots / ref.read_text().strip())
    candidates += sorted(snapshots.iterdir(), key=lambda p: p.stat().st_mtime, reverse=True)
    for snap in candidates:
        if (snap / required_file).is_file():
            return snap
    return None


def download_allowed(allow_download):
    return allow_download and os.environ.get('HF_HUB_OFFLINE', '0') in ('', '0', 'false')


def hub_download(repo_id, patterns):
    """Download `patterns` of a hub repo; returns its directory or raises ResolveError."""
    try:
        from huggingface_hub import snapshot_download
    except ImportError as exc:
        raise ResolveError(f'{repo_id}: not found locally and huggingface_hub is not '
                           'installed to download it') from exc
    _log.info('downloading %s (%s) from the Hugging Face hub', repo_id, ', '.join(patterns))
    try:
        return pathlib.Path(snapshot_download(repo_id, allow_patterns=list(patterns)))
    except Exception as exc:  # network, auth (gated repos), missing repo: all the same here
        raise ResolveError(f'{repo_id}: hub download failed ({type(exc).__name__}: {exc})') \
            from exc


def resolve_component(what, explicit, checkpoint_dir, subdir, config_name, required_file,
                      patterns, allow_download=True, argument=None):
    """
    Return the directory of one checkpoint component (see the module docstring for the order).

    what: a label for messages ('FAST tokenizer'); explicit: a path or None; subdir: our
    convention inside the checkpoint; config_name: the name config.json gives (hub id or path);
    required_file: a file the directory must hold; patterns: files to download from the hub;
    argument: the facade argument to name in the error.
    """
    if explicit is not None:
        path = pathlib.Path(explicit).expanduser()
        if not (path / required_file).is_file():
            raise ResolveError(f'{what}: {path} has no {required_file}')
        return path
    tried = []
    local = [pathlib.Path(checkpoint_dir) / subdir]
    if config_name:
        local += [pathlib.Path(config_name).expanduser(), pathlib.Path(checkpoint_dir) /
                  config_name]
    for path in local:
        if (path / required_file).is_file():
            return path
        tried.append(str(path))
    if config_name and looks_like_hub_id(config_name):
        snap = cached_snapshot(config_name, required_file)
        if snap is not None:
            return snap
        tried.append(f'HF cache ({_hub_cache_dir()}) for {config_name}')
        if download_allowed(allow_download):
            try:
                return hub_download(config_name, patterns)
            except ResolveError as exc:
                tried.append(str(exc))
    raise ResolveError(f'{what} not found; tried: {"; ".join(tried)}. Pass {argument or what} '
                       f'= a directory holding {required_file}, or put one at '
                       f'{pathlib.Path(checkpoint_dir) / subdir}')


def resolve_checkpoint(name_or_path, allow_download=True):
    """Return a local checkpoint directory as is, else a hub id from the HF cache or the hub."""
    path = pathlib.Path(name_or_path).expanduser()
    if path.is_dir():
        return path
    if looks_like_hub_id(name_or_path):
        snap = cached_snapshot(name_or_path, 'config.json')
        if snap is not None:
            return snap
        if path.parent.is_dir():
            # 'runs/ckpt' beside a local runs/: a mistyped path, not a hub id to download
            raise ResolveError(
                f'checkpoint {name_or_path}: no such directory; {path.parent}/ exists here, so '
                'this is taken for a mistyped local path, not a hub id to download (a hub id '
                'must not name a local directory)')
        if download_allowed(allow_download):
            return hub_download(name_or_path, ['*.json', '*.safetensors', 'fast_tokenizer/*',
                                               'text_tokenizer/*'])
    raise ResolveError(f'checkpoint {name_or_path}: no such directory, and not in the HF cache '
                       f'({_hub_cache_dir()})')
