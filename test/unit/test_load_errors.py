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

"""A newcomer's first load errors name the real problem: the device, or config.json."""

import pathlib
import shutil

from pi0fast_ros.core.model.device import check_device, DeviceError
from pi0fast_ros.core.model.engine import Pi0FastEngine
from pi0fast_ros.core.policy.checkpoint import read_config
from pi0fast_ros.core.policy.facade import Pi0FastPolicy
from pi0fast_ros.core.policy.lerobot_config import CheckpointError
import pytest
import torch

DEMO = pathlib.Path(__file__).resolve().parents[2] / 'demo' / 'so100_synthetic'


def _unusable_cuda():
    # A CUDA device this machine cannot use: any on a CPU build, else one past the last GPU.
    if not torch.cuda.is_available():
        return 'cuda'
    return f'cuda:{torch.cuda.device_count()}'


@pytest.mark.parametrize('load', [
    lambda device: Pi0FastPolicy.from_pretrained(DEMO, device=device),
    lambda device: Pi0FastEngine.from_checkpoint(DEMO, device=device),
], ids=['policy', 'engine'])
def test_an_unusable_device_is_named_as_a_device_problem(load):
    device = _unusable_cuda()
    with pytest.raises(DeviceError) as info:
        load(device)
    message = str(info.value)
    assert message.startswith(f'device {device!r}: ')
    assert 'safetensors' not in message and 'weights' not in message


def test_device_names_are_checked_before_use():
    assert check_device('cpu') == torch.device('cpu')
    with pytest.raises(DeviceError, match=r"device 'gpu' is not a torch device name"):
        check_device('gpu')
    if not torch.backends.mps.is_available():
        with pytest.raises(DeviceError, match=r"device 'mps': MPS is not available"):
            check_device('mps')


def test_a_checkpoint_without_config_json_says_so(tmp_path):
    ckpt = tmp_path / 'ckpt'
    shutil.copytree(DEMO, ckpt)
    (ckpt / 'config.json').unlink()
    for load in (Pi0FastPolicy.from_pretrained, Pi0FastEngine.from_checkpoint, read_config):
        with pytest.raises(CheckpointError, match=r'config\.json is missing in .*ckpt'):
            load(ckpt)


def test_lerobot_training_output_points_to_pretrained_model(tmp_path):
    last = tmp_path / 'checkpoints' / 'last'
    shutil.copytree(DEMO, last / 'pretrained_model')
    with pytest.raises(CheckpointError, match=r'keeps the checkpoint in .*pretrained_model: '
                       r'pass that directory'):
        Pi0FastPolicy.from_pretrained(last)


def test_a_missing_checkpoint_directory_is_not_reported_as_a_missing_file(tmp_path):
    with pytest.raises(CheckpointError, match=r'checkpoint directory .*nowhere does not exist'):
        read_config(tmp_path / 'nowhere')
