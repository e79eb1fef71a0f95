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
Measurement helpers: the weight-streaming bound of a decode step, device-synchronised clocks.

Shared by benchmarks/bench_engine.py, benchmarks/gpu_check.py and pi0fast-doctor.
"""

import statistics
import time

import torch


def sync_now(device):
    """perf_counter() after the device's queued work is done (CUDA); plain on CPU."""
    if torch.device(device).type == 'cuda':
        torch.cuda.synchronize(device)
    return time.perf_counter()


def decode_weight_bytes(model):
    """
    Bytes of the weights one decode step reads: every parameter but the vision tower's.

    That is the Gemma decoder and the LM head (the tied embedding table, or an untied head),
    each tensor counted once.
    """
    vision = {id(p) for m in (model.vision, model.projector) for p in m.parameters()}
    return sum(p.numel() * p.element_size() for p in model.parameters() if id(p) not in vision)


def weight_stream_bound(model, device, repeats=5):
    """
    Time one streaming read of as many bytes as a decode step reads -> (MB, ms).

    The bound times a sum over a float32 buffer of decode_weight_bytes(model) on the same
    threads/device: a streaming read no kernel can beat by much, hence the hardware limit for
    a memory-bound decode step. Median of `repeats` reads after one untimed read.
    """
    nbytes = decode_weight_bytes(model)
    buf = torch.ones(nbytes // 4, dtype=torch.float32, device=device)
    times = []
    for _ in range(repeats + 1):
        t0 = sync_now(device)
        buf.sum()
        times.append(sync_now(device) - t0)
    del buf
    return nbytes / 1e6, statistics.median(times[1:]) * 1e3
