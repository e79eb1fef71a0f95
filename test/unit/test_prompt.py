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

"""State bins and prompt text: the edge values verified against LeRobot (facts §2)."""

import numpy as np
from pi0fast_ros.core.policy.prompt import build_prompt, clean_task, discretize_state, pad_state
import pytest


@pytest.mark.parametrize('value,expected', [
    (-1.5, -1),          # below the first edge: LeRobot prints "-1"
    (-1.0, 0),
    (-0.9921875, 1),     # exactly the second edge (-1 + 2/256)
    (-0.99, 1),
    (-1e-9, 127),
    (0.0, 128),          # so the zero padding prints as "128"
    (0.0078125, 129),    # 2/256
    (0.9921875, 255),    # the last edge
    (0.99, 254),
    (1.0, 255),
    (7.0, 255),
    (np.nan, 255),       # NaN sorts after every edge
    (-np.inf, -1),
    (np.inf, 255),
])
def test_bin_edges(value, expected):
    bins = discretize_state(np.array([value], np.float32), max_state_dim=1)
    assert bins.tolist() == [expected]


def test_every_bin_edge_maps_to_its_bin():
    edges = (-1 + 2 * np.arange(256) / 256).astype(np.float32)  # exact in float32
    assert discretize_state(edges, max_state_dim=1).tolist() == list(range(256))


def test_padding_to_max_state_dim():
    state = np.array([0.5, -0.25], np.float32)
    bins = discretize_state(state, max_state_dim=32)
    assert bins.shape == (32,)
    assert bins[:2].tolist() == [192, 96] and (bins[2:] == 128).all()
    # longer vectors are not truncated (pad_vector leaves them alone)
    long_state = np.zeros(40, np.float32)
    assert discretize_state(long_state, 32).shape == (40,)
    assert pad_state(np.ones((2, 3), np.float32), 5).tolist() == [[1, 1, 1, 0, 0]] * 2


def test_task_cleaning_strips_and_replaces_but_keeps_case():
    assert clean_task('  Pick_up\nthe RED cube \n') == 'Pick up the RED cube'
    assert clean_task('a__b') == 'a  b'


def test_prompt_text_is_lerobot_format():
    bins = discretize_state(np.array([0.5, -2.0], np.float32), max_state_dim=4)
    prompt = build_prompt(' stack_blocks\n', bins)
    assert prompt == 'Task: stack blocks, State: 192 -1 128 128;\n'
