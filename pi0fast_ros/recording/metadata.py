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
The metadata stored with every rollout, and where rollouts go on disk.

The same {key: str} map goes into metadata.yaml's custom_data (what `ros2 bag info`-style tools
and rosbags' Reader.custom_data see) and, as JSON, into the bag itself on the topic
`<ns>/rollout_recorder/metadata` (std_msgs/String), so it survives a bag conversion.
"""

import datetime
import hashlib
import importlib.metadata
import json
import os
import pathlib
import socket

PREFIX = 'pi0fast.'


def package_version():
    """Return the installed pi0fast_ros version (package.xml's, via setup.py), or 'unknown'."""
    try:
        return importlib.metadata.version('pi0fast_ros')
    except importlib.metadata.PackageNotFoundError:
        return 'unknown'


def _sha256(path):
    try:
        return hashlib.sha256(pathlib.Path(path).read_bytes()).hexdigest()
    except OSError:
        return ''


def _read_text(path):
    try:
        return pathlib.Path(path).read_text(encoding='utf-8')
    except OSError as exc:
        return f'<could not read {path}: {exc.strerror}>'


def rollout_metadata(*, instruction, checkpoint, config_file, namespace, rollout_index,
                     weights_sha256='', now=None):
    """
    Build the metadata map (keys prefixed 'pi0fast.'; every value a string).

    The checkpoint is identified by its path, the sha256 of its config.json and weights_sha256
    (core.checkpoint_hash.hash_weights, computed once by the caller: streaming GBs of weights
    per rollout would be wasteful); the config file by its path and full text (a rollout
    stays interpretable after the file changes).
    """
    now = now or datetime.datetime.now(datetime.timezone.utc)
    values = {
        'instruction': instruction or '',
        'checkpoint': checkpoint or '',
        'checkpoint_config_sha256': _sha256(os.path.join(checkpoint, 'config.json'))
        if checkpoint else '',
        'checkpoint_weights_sha256': weights_sha256,
        'config_file': config_file or '',
        'config': _read_text(config_file) if config_file else '',
        'package_version': package_version(),
        'started': now.isoformat(timespec='milliseconds'),
        'namespace': namespace or '/',
        'host': socket.gethostname(),
        'rollout_index': str(rollout_index),
    }
    return {PREFIX + k: str(v) for k, v in values.items()}


def metadata_json(metadata):
    """Render the metadata as the JSON of the in-bag metadata message (keys without prefix)."""
    return json.dumps({k[len(PREFIX):] if k.startswith(PREFIX) else k: v
                       for k, v in metadata.items()}, sort_keys=True)


def new_rollout_dir(output_dir, prefix='rollout', now=None):
    """Return a new (not yet existing) directory path under output_dir, named by local time."""
    now = now or datetime.datetime.now()
    root = pathlib.Path(os.path.expanduser(str(output_dir)))
    stem = f'{prefix}_{now:%Y%m%d_%H%M%S}'
    candidate, n = root / stem, 1
    while candidate.exists():
        n += 1
        candidate = root / f'{stem}_{n}'
    return candidate
