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

"""The bit-exactness claims the decode step relies on, and the patched-Gemma formulas."""

import math

from model_helpers import single_torch_thread  # noqa: F401
from pi0fast_ros.core.model.layers import (
    additive_mask, expand_kv, MASK_VALUE, repeat_kv, RMSNorm, rope_cos_sin, rope_inv_freq,
    rope_table, sdpa)
import pytest
import torch


@pytest.mark.parametrize('dtype', [torch.float32, torch.bfloat16])
def test_expanded_kv_view_gives_the_same_sdpa_bits_as_repeat_kv(dtype):
    gen = torch.Generator().manual_seed(0)
    batch, heads, hd, total = 2, 8, 64, 300
    cache = torch.randn(2, batch, 1, total, hd, generator=gen).to(dtype)
    for length in (1, 17, 255, 300):
        q = torch.randn(batch, heads, 1, hd, generator=gen).to(dtype)
        valid = torch.rand(batch, length, generator=gen) > 0.2
        mask = additive_mask(valid[:, None, None, :], dtype)
        k, v = cache[0, :, :, :length], cache[1, :, :, :length]
        copied = sdpa(q, repeat_kv(k, heads).contiguous(), repeat_kv(v, heads).contiguous(),
                      mask, hd ** -0.5)
        viewed = sdpa(q, expand_kv(k, heads), expand_kv(v, heads), mask, hd ** -0.5)
        assert torch.equal(copied, viewed), length


@pytest.mark.parametrize('dtype', [torch.float32, torch.bfloat16])
def test_rope_table_rows_equal_the_one_token_step_computation(dtype):
    inv = rope_inv_freq(256, 10000.0)
    cos_t, sin_t = rope_table(inv, 1300, dtype)
    for p in (0, 1, 63, 64, 511, 968, 1299):
        cos, sin = rope_cos_sin(inv, torch.tensor([[p]]), dtype)
        assert torch.equal(cos_t[p], cos[0, 0]) and torch.equal(sin_t[p], sin[0, 0]), p
    # and the formula itself: cos(p * theta^(-2i/d)) on duplicated halves
    expected = math.cos(1299 * 10000.0 ** (-2 * 5 / 256))
    assert cos_t[1299, 5].item() == pytest.approx(expected, abs=1e-2)
    assert torch.equal(cos_t[:, :128], cos_t[:, 128:])


def test_rms_norm_is_the_patched_gemma_formula():
    norm = RMSNorm(8, 1e-6)
    with torch.no_grad():
        norm.weight.copy_(torch.linspace(-0.5, 0.5, 8))
    x = torch.randn(3, 8, generator=torch.Generator().manual_seed(1))
    expected = x / torch.sqrt((x ** 2).mean(-1, keepdim=True) + 1e-6) * (1 + norm.weight)
    assert torch.allclose(norm(x), expected, atol=1e-6)
    # bf16 input: computed in fp32, cast back once
    assert norm(x.bfloat16()).dtype == torch.bfloat16


def test_additive_mask_uses_lerobots_value_cast_to_the_model_dtype():
    allowed = torch.tensor([[True, False]])
    fp32 = additive_mask(allowed, torch.float32)
    assert fp32[0, 0] == 0 and fp32[0, 1] == torch.tensor(MASK_VALUE, dtype=torch.float32)
    bf = additive_mask(allowed, torch.bfloat16)
    assert bf.dtype == torch.bfloat16 and bf[0, 1] == torch.tensor(MASK_VALUE).bfloat16()
    assert torch.isfinite(bf).all()


def test_rotary_frequencies_are_rounded_to_the_model_dtype_like_lerobots_buffer():
    exact = rope_inv_freq(256, 10000.0)
    bf16 = rope_inv_freq(256, 10000.0, dtype=torch.bfloat16)
    assert exact.dtype == torch.float32 and bf16.dtype == torch.bfloat16
    assert torch.equal(bf16, exact.bfloat16()) and not torch.equal(bf16.float(), exact)
    # rope_cos_sin widens the buffer to fp32 before the matmul, as transformers does
    cos16, _ = rope_cos_sin(bf16, torch.tensor([[900]]), torch.float32)
    cos32, _ = rope_cos_sin(exact, torch.tensor([[900]]), torch.float32)
    assert not torch.equal(cos16, cos32)
