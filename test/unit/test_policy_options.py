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

"""PolicyOptions, the engine mode and the token budget: each decided in one place."""

import dataclasses

import numpy as np
from pi0fast_ros.core.model.engine import decoding_budget, Pi0FastEngine, resolve_mode
from pi0fast_ros.core.policy.facade import Pi0FastPolicy
from pi0fast_ros.core.policy.options import PolicyOptions
from pi0fast_ros.testing.random_checkpoint import make_random_checkpoint
import pytest
import torch


@pytest.fixture(scope='module')
def scripted_dir(tmp_path_factory):
    return make_random_checkpoint(tmp_path_factory.mktemp('scripted'), cameras=('top',),
                                  seed=3, scripted=True)


@pytest.mark.parametrize('mode, device, expected', [
    ('auto', 'cpu', 'compact'), ('auto', 'cuda', 'static'), ('auto', 'cuda:1', 'static'),
    ('auto', 'mps', 'exact'), (None, 'cpu', 'exact'), (None, 'cuda', 'static'),
    ('exact', 'cuda', 'exact'), ('compact', 'cpu', 'compact'), ('static', 'cpu', 'static'),
])
def test_resolve_mode(mode, device, expected):
    assert resolve_mode(mode, torch.device(device)) == expected


def test_an_unknown_mode_names_the_choices():
    with pytest.raises(ValueError, match=r"one of \('auto', 'exact', 'compact', 'static'\), "
                                         r"got 'fastest'"):
        resolve_mode('fastest', 'cpu')


@pytest.mark.parametrize('requested, expected', [(None, 256), (0, 256), (12, 12),
                                                 (np.int64(7), 7)])
def test_decoding_budget(requested, expected):
    assert decoding_budget(requested, 256) == expected


@pytest.mark.parametrize('requested', [-1, True, 1.5, '12'])
def test_a_bad_budget_is_refused(requested):
    with pytest.raises(ValueError, match='max_decoding_steps must be an integer >= 0'):
        decoding_budget(requested, 256)


def test_options_are_frozen_and_checked_when_built():
    options = PolicyOptions()
    with pytest.raises(dataclasses.FrozenInstanceError):
        options.device = 'cuda'
    assert PolicyOptions(engine_mode=None).engine_mode == 'auto'
    for field, value in (('engine_mode', 'fastest'), ('detokenize', 'loose'),
                         ('max_decoding_steps', -3), ('temperature', -0.5)):
        with pytest.raises(ValueError, match=field):
            PolicyOptions(**{field: value})


def test_an_unknown_option_is_a_type_error_before_any_loading(tmp_path):
    # The directory does not exist: the option is refused before the checkpoint is looked at.
    with pytest.raises(TypeError, match="'devcie'"):
        Pi0FastPolicy.from_pretrained(tmp_path / 'absent', devcie='cpu')
    with pytest.raises(TypeError, match='PolicyOptions'):
        Pi0FastPolicy.from_pretrained(tmp_path / 'absent', options={'device': 'cpu'})


def test_overrides_replace_fields_of_the_given_options(scripted_dir):
    base = PolicyOptions(max_decoding_steps=9, engine_mode='exact')
    policy = Pi0FastPolicy.from_pretrained(scripted_dir, base, stop_at_end_marker=False)
    assert policy.options == dataclasses.replace(base, stop_at_end_marker=False)
    assert (policy.max_decoding_steps, policy.engine.mode) == (9, 'exact')
    assert not policy.stop_at_end_marker
    default = Pi0FastPolicy.from_pretrained(scripted_dir, max_decoding_steps=0)
    assert default.max_decoding_steps == default.config.max_decoding_steps
    assert default.engine.mode == 'compact'                   # 'auto' on CPU
    assert Pi0FastEngine(default.engine.model).mode == 'exact'  # a bare engine's default
