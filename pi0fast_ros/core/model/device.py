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

"""Check a torch device before loading anything onto it, so that its problem is named as such."""

import os

import torch


class DeviceError(ValueError):
    """The torch device cannot be used on this machine; the message says why."""


def check_device(device):
    """
    Return torch.device(device) if this machine can run on it, else raise DeviceError.

    Checked: the name parses; for CUDA, that this torch build has CUDA, that a GPU is visible
    and that the index exists; for MPS, that it is available. Other device types are passed
    through to torch.
    """
    try:
        dev = torch.device(device)
    except (RuntimeError, TypeError) as exc:
        raise DeviceError(f'device {device!r} is not a torch device name ({exc}); use cpu, '
                          f'cuda, cuda:N or mps') from None
    if dev.type == 'cuda':
        _check_cuda(device, dev)
    elif dev.type == 'mps' and not torch.backends.mps.is_available():
        raise DeviceError(f'device {device!r}: MPS is not available on this machine '
                          f'(torch {torch.__version__}); use cpu')
    return dev


def _check_cuda(device, dev):
    if not torch.backends.cuda.is_built():
        raise DeviceError(f'device {device!r}: this torch ({torch.__version__}) was built '
                          f'without CUDA; use cpu, or install a CUDA build of torch')
    if not torch.cuda.is_available():
        raise DeviceError(f'device {device!r}: torch has CUDA but sees no usable GPU (no '
                          f'driver or no visible device; CUDA_VISIBLE_DEVICES='
                          f'{os.environ.get("CUDA_VISIBLE_DEVICES", "<unset>")!r})')
    count = torch.cuda.device_count()
    if dev.index is not None and dev.index >= count:
        raise DeviceError(f'device {device!r}: this machine has {count} CUDA device(s), '
                          f'cuda:0 to cuda:{count - 1}')
