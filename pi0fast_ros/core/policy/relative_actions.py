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
LeRobot >= 0.5.1 relative actions: the model predicts action - state; we publish absolute.

LeRobot (processor/relative_action_processor.py, 0.5.1 and 0.6.1): the preprocessor step
`relative_actions_processor` (0.5.1: `delta_actions_processor`) runs before the normalizer and
keeps the raw `observation.state`; the postprocessor step `absolute_actions_processor` runs after
the unnormalizer and adds `state[..., :D] * mask` to the actions (D = action dim, float32). The
mask is True for every action dim except those whose name (from `action_names`, lower-cased)
contains one of `exclude_joints` (lower-cased); names missing at the end count as True. With no
`action_names`, or an empty exclusion list, every dim is relative (gripper included): that is
what LeRobot's saved pipeline does and what the model was trained with.

The step config saved in policy_preprocessor.json is what LeRobot runs, so it is the source of
truth; config.json's fields must agree with it, or loading is refused.
"""

import dataclasses

import numpy as np

from .lerobot_config import CheckpointError
from .lerobot_versions import ABSOLUTE_STEP, RELATIVE_STEPS


class RelativeActionsError(CheckpointError):
    """Relative-action settings that are contradictory or cannot be applied as LeRobot does."""


def lerobot_mask(exclude_joints, action_names, action_dim):
    """Return the mask of RelativeActionsProcessorStep._build_mask (True = state added)."""
    tokens = [str(name).lower() for name in (exclude_joints or []) if name]
    if action_names is None or not tokens:
        return (True,) * action_dim
    mask = [not any(t in str(name).lower() for t in tokens) for name in action_names[:action_dim]]
    return tuple(mask + [True] * (action_dim - len(mask)))


@dataclasses.dataclass(frozen=True)
class RelativeActions:
    """How to turn the model's relative chunk into absolute actions."""

    mask: tuple             # per action dim: True = the state is added
    exclude_joints: tuple
    action_names: tuple     # None when the checkpoint saved none

    def to_absolute(self, actions, state):
        """Add the state on relative dims: actions [H, D] unnormalized, state [>= D] -> [H, D]."""
        actions = np.asarray(actions, dtype=np.float32)
        dim = actions.shape[-1]
        offset = np.asarray(state, dtype=np.float32)[:dim] * np.asarray(self.mask, np.float32)
        return actions + offset

    def describe(self):
        """One log line naming the relative and absolute joints."""
        names = self.action_names or [f'dim {i}' for i in range(len(self.mask))]
        rel = [n for n, m in zip(names, self.mask) if m]
        kept = [n for n, m in zip(names, self.mask) if not m]
        note = '' if self.action_names else (
            ' (no action_feature_names saved: relative_exclude_joints cannot match any name, '
            'so every dim is relative, as in LeRobot)')
        return f'relative actions: state added to {rel}; absolute: {kept}{note}'


def _relative_step(preprocessor):
    steps = [] if preprocessor is None else preprocessor.config.get('steps', [])
    found = [s for s in steps if isinstance(s, dict) and s.get('registry_name') in RELATIVE_STEPS]
    if len(found) > 1:
        raise RelativeActionsError(f'{preprocessor.json_path}: {len(found)} relative actions '
                                   'steps; LeRobot saves one')
    return found[0].get('config') or {} if found else None


def _absolute_enabled(postprocessor):
    steps = [] if postprocessor is None else postprocessor.config.get('steps', [])
    found = [s for s in steps if isinstance(s, dict) and s.get('registry_name') == ABSOLUTE_STEP]
    return any((s.get('config') or {}).get('enabled', False) for s in found), bool(found)


def _names(value, what, source):
    if value is None:
        return None
    if not isinstance(value, (list, tuple)) or not all(isinstance(v, str) for v in value):
        raise RelativeActionsError(f'{source}: {what} must be a list of strings, got {value!r}')
    return tuple(value)


def read_relative_actions(raw_config, preprocessor, postprocessor, action_dim, state_dim,
                          source):
    """
    Return the RelativeActions of a checkpoint, or None when its actions are absolute.

    Refuses (RelativeActionsError) whenever LeRobot's meaning cannot be reproduced: config.json
    and the processor step disagree, relative actions without the postprocessor step that
    makes them absolute (or the reverse), or a state shorter than the actions.
    """
    step = _relative_step(preprocessor)
    abs_on, abs_present = _absolute_enabled(postprocessor)
    cfg_on = raw_config.get('use_relative_actions', False)
    if not isinstance(cfg_on, bool):
        raise RelativeActionsError(f'{source}: use_relative_actions must be true/false, got '
                                   f'{cfg_on!r}')
    step_on = bool(step and step.get('enabled', False))
    if step is None and (cfg_on or abs_on):
        raise RelativeActionsError(
            f'{source}: use_relative_actions is {cfg_on} and the absolute step is '
            f'{"on" if abs_on else "off"}, but policy_preprocessor.json has no relative actions '
            'step: the state the actions are relative to cannot be determined; refusing')
    if step is None:
        return None
    if cfg_on != step_on or step_on != abs_on:
        raise RelativeActionsError(
            f'{source}: relative actions disagree: config.json use_relative_actions '
            f'{cfg_on}, preprocessor step enabled {step_on}, postprocessor {ABSOLUTE_STEP} '
            f'{"enabled" if abs_on else "present but disabled" if abs_present else "absent"}; '
            'refusing to guess whether the actions are deltas')
    if not step_on:
        return None
    exclude = _names(step.get('exclude_joints', []), 'exclude_joints', source) or ()
    names = _names(step.get('action_names'), 'action_names', source)
    _agree(raw_config, 'relative_exclude_joints', exclude, source)
    _agree(raw_config, 'action_feature_names', names, source)
    if state_dim < action_dim:
        raise RelativeActionsError(f'{source}: relative actions add state[:{action_dim}] to the '
                                   f'actions, but the state has only {state_dim} dims')
    return RelativeActions(lerobot_mask(exclude, names, action_dim), exclude, names)


def _agree(raw_config, field, step_value, source):
    if field not in raw_config or raw_config[field] is None:
        return
    value = _names(raw_config[field], field, source)
    if step_value is not None and tuple(value) != tuple(step_value):
        raise RelativeActionsError(f'{source}: config.json {field} {list(value)} differs from '
                                   f"the relative actions step's {list(step_value)}; refusing")
    if step_value is None and field == 'action_feature_names':
        raise RelativeActionsError(
            f'{source}: config.json has action_feature_names {list(value)} but the relative '
            "actions step saved none: LeRobot's pipeline would make every dim relative, its "
            'RTC rollout would use the names; refusing to guess')
