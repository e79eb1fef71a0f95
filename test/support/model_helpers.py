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

"""Tiny random PI0-FAST checkpoints and LeRobot-convention inputs for the model tests."""

import dataclasses

from pi0fast_ros.core.model.config import TINY
from pi0fast_ros.core.policy.checkpoint import (init_random_weights, load_checkpoint,
                                                save_checkpoint)
from pi0fast_ros.core.policy.lerobot_config import default_config_dict
import pytest
import torch

# TINY with 56 px images (16 tokens per camera): the same code paths, a shorter prefix, so the
# full-recompute reference stays fast. TINY itself (224 px, 256 tokens) is used where the real
# layout matters.
SMALL = dataclasses.replace(TINY, image_size=56)


@pytest.fixture(autouse=True)
def single_torch_thread():
    """
    Run model tests on one intra-op thread.

    On a shared 2-core CI machine, OpenMP workers of tiny ops wait for CPU time at every
    parallel region: decode steps run ~20x slower with 2 threads than with 1. Results are
    compared within a test, so the thread count does not affect what is asserted.
    """
    threads = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(threads)


def make_checkpoint(out_dir, arch=SMALL, seed=0, dtype='float32', cameras=2):
    """Write a tiny LeRobot-format checkpoint (config.json + model.safetensors)."""
    features = {f'observation.images.cam{i}': ('VISUAL', (3, arch.image_size, arch.image_size))
                for i in range(cameras)}
    features['observation.state'] = ('STATE', (6,))
    config = default_config_dict(features, {'action': ('ACTION', (6,))}, dtype=dtype,
                                 image_resolution=[arch.image_size, arch.image_size])
    weights = init_random_weights(arch, seed=seed, dtype=dtype)
    save_checkpoint(out_dir, config, weights, arch=arch)
    return weights


def load_tiny(tmp_path, arch=SMALL, seed=0, dtype='float32', **kwargs):
    """make_checkpoint + load_checkpoint -> (Checkpoint, LeRobot-named weights)."""
    weights = make_checkpoint(tmp_path, arch, seed, dtype)
    return load_checkpoint(tmp_path, **kwargs), weights


def make_inputs(arch, batch=1, cameras=2, prompt_lengths=(30,), seed=0, img_masks=None,
                length=200):
    """
    Build LeRobot-convention inputs.

    images N x [B, 3, S, S] in [-1, 1], img_masks N x [B] bool, tokens [B, length] (BOS 2
    first, right-padded with 0) and masks [B, length] bool.
    """
    gen = torch.Generator().manual_seed(seed)
    size = arch.image_size
    images = [torch.rand(batch, 3, size, size, generator=gen) * 2 - 1 for _ in range(cameras)]
    if img_masks is None:
        img_masks = [[True] * batch] * cameras
    img_masks = [torch.tensor(m, dtype=torch.bool) for m in img_masks]
    tokens = torch.zeros(batch, length, dtype=torch.long)
    masks = torch.zeros(batch, length, dtype=torch.bool)
    for row in range(batch):
        n = prompt_lengths[row % len(prompt_lengths)]
        tokens[row, :n] = torch.randint(3, arch.vocab_size, (n,), generator=gen)
        tokens[row, 0] = 2
        masks[row, :n] = True
    return images, img_masks, tokens, masks


def common_stop_token(full):
    """Find an id both rows emit, first at different steps (both before the last column)."""
    first = [{}, {}]
    for row in range(2):
        for step, tok in enumerate(full[row, :-1].tolist()):
            first[row].setdefault(tok, step)
    for tok, step0 in first[0].items():
        if tok in first[1] and first[1][tok] != step0:
            return tok, step0, first[1][tok]
    raise AssertionError('fixture no longer emits a shared token; choose another seed')
