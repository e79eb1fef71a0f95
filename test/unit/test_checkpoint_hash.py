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

"""The checkpoint's weights hash: streamed, equal to sha256 of the files, in the metadata."""

import hashlib
import pathlib

from pi0fast_ros.core.policy.checkpoint_hash import hash_weights
from pi0fast_ros.recording.metadata import rollout_metadata
import pytest

DEMO = pathlib.Path(__file__).resolve().parents[2] / 'demo' / 'so100_synthetic'


def test_streamed_hash_equals_sha256sum_of_the_weights_file():
    # a block size that does not divide the file: the last partial block counts too
    weights = hash_weights(DEMO, block_bytes=1000 * 1000 + 7)
    # the model weights and LeRobot's normalizer stats, in name order
    names = ('model.safetensors',
             'policy_postprocessor_step_0_unnormalizer_processor.safetensors',
             'policy_preprocessor_step_2_normalizer_processor.safetensors')
    data = b''.join((DEMO / name).read_bytes() for name in names)
    assert weights.sha256 == hashlib.sha256(data).hexdigest()
    assert weights.files == names and weights.nbytes == len(data)
    assert weights.seconds >= 0.0
    line = weights.describe()
    assert weights.sha256 in line and 'MB hashed in' in line and ' s, ' in line


def test_sharded_weights_are_hashed_in_name_order(tmp_path):
    (tmp_path / 'model-00002-of-00002.safetensors').write_bytes(b'second')
    (tmp_path / 'model-00001-of-00002.safetensors').write_bytes(b'first')
    (tmp_path / 'config.json').write_bytes(b'{}')      # not a weight file
    weights = hash_weights(tmp_path, block_bytes=3)
    assert weights.sha256 == hashlib.sha256(b'firstsecond').hexdigest()
    assert weights.files == ('model-00001-of-00002.safetensors',
                             'model-00002-of-00002.safetensors')


def test_no_weight_file_is_an_error_that_says_so(tmp_path):
    with pytest.raises(FileNotFoundError, match=r'no \*\.safetensors weight file in'):
        hash_weights(tmp_path)


def test_rollout_metadata_carries_config_and_weights_hashes():
    weights = hash_weights(DEMO)
    meta = rollout_metadata(instruction='wave', checkpoint=str(DEMO), config_file='',
                            namespace='/', rollout_index=1, weights_sha256=weights.sha256)
    assert meta['pi0fast.checkpoint_weights_sha256'] == weights.sha256
    config = (DEMO / 'config.json').read_bytes()
    assert meta['pi0fast.checkpoint_config_sha256'] == hashlib.sha256(config).hexdigest()


def test_provenance_flags_a_chunk_from_other_weights():
    from pi0fast_ros.tools.provenance import checkpoint_line, weights_problem
    meta = {'pi0fast.checkpoint': '/ckpt', 'pi0fast.checkpoint_weights_sha256': 'a' * 64,
            'pi0fast.checkpoint_config_sha256': 'c' * 64}
    assert weights_problem(meta, {'weights_sha256': 'a' * 64}) is None
    assert weights_problem(meta, {'weights_sha256': 'b' * 64}) == \
        f'the chunk was computed by weights {"b" * 64}, the bag names {"a" * 64}'
    assert weights_problem({}, {'weights_sha256': 'b' * 64}) is None    # older bag: unknown
    unhashed = {'pi0fast.checkpoint_weights_sha256': '<not hashed: no weight file>'}
    assert weights_problem(unhashed, {'weights_sha256': 'b' * 64}) is None
    assert checkpoint_line(meta) == (f'checkpoint /ckpt: weights sha256 {"a" * 64}, '
                                     f'config.json sha256 {"c" * 64}')
    assert 'weights sha256 not recorded' in checkpoint_line({})
