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
Which LeRobot wrote a checkpoint, and which inference semantics follow from it.

Two semantics (docs: lerobot-versions.md, read from the 0.4.4 .. 0.6.1 wheels):

- '0.4' (LeRobot 0.4.x): the state zero-padded to max_state_dim in the prompt, the
  resize-with-pad border -3, bf16 keeps only the patch/position embeddings and the Gemma norms
  in fp32, the LM head tied to the embedding table.
- '0.5' (LeRobot 0.5.0 .. 0.6.x): only the real state dims in the prompt, border -1, the whole
  vision tower and projector in fp32 under bf16, the embedding scale rounded to the table dtype,
  the LM head untied (a tied one still works), and relative actions (0.5.1+).

What the files prove: `pretrained_revision` in config.json -> >= 0.6.0; `use_relative_actions`,
`relative_exclude_joints` or `action_feature_names` -> >= 0.5.1 (draccus writes every field, so
every 0.5.1+ config has them); a relative/absolute actions processor step -> >= 0.5.1; a saved
`lm_head` that differs from `embed_tokens` -> >= 0.5.0 (0.4.4 ties them). A 0.5.0 checkpoint has
none of these (its files look like 0.4.4's), so `lerobot_version` '0.5' must be chosen for it.
"""

import dataclasses

from .lerobot_config import CheckpointError

VERSION_CHOICES = ('auto', '0.4', '0.5')
FIELDS_051 = ('use_relative_actions', 'relative_exclude_joints', 'action_feature_names')
FIELDS_060 = ('pretrained_revision',)
RELATIVE_STEPS = ('relative_actions_processor',   # 0.6.x registry name
                  'delta_actions_processor')      # 0.5.1 registry name of the same step
ABSOLUTE_STEP = 'absolute_actions_processor'


class VersionError(CheckpointError):
    """The requested LeRobot semantics contradict the files, or the request is invalid."""


@dataclasses.dataclass(frozen=True)
class Semantics:
    """The LeRobot inference semantics a checkpoint is served with, and why."""

    version: str   # '0.4' or '0.5'
    reason: str

    @property
    def pads_state_in_prompt(self):
        """Whether the prompt lists the state zero-padded to max_state_dim (0.4.4)."""
        return self.version == '0.4'

    @property
    def image_pad_value(self):
        """Value of the resize-with-pad border in the model image ([-1, 1] space)."""
        return -3.0 if self.version == '0.4' else -1.0

    @property
    def numerics(self):
        """Return the PaliGemma numerics / bf16 rule: '0.4' or '0.5' (model.paligemma)."""
        return self.version

    def describe(self):
        """One log line: which semantics and why."""
        if self.version == '0.4':
            what = ('LeRobot 0.4.4 semantics (state padded to max_state_dim in the prompt, '
                    'image pad -3, tied lm_head)')
        else:
            what = ('LeRobot 0.5+ semantics (unpadded state prompt, image pad -1, fp32 vision '
                    'tower under bf16, untied lm_head when saved)')
        return f'{what}: {self.reason}'


def _step_names(processor):
    if processor is None:
        return []
    return [s.get('registry_name') for s in processor.config.get('steps', [])
            if isinstance(s, dict)]


def version_evidence(raw_config, preprocessor=None, postprocessor=None, head_differs=False):
    """List what in the files proves LeRobot >= 0.5 (empty: nothing does)."""
    proofs = [f'config.json has {name} (LeRobot >= 0.6.0)' for name in FIELDS_060
              if name in raw_config]
    proofs += [f'config.json has {name} (LeRobot >= 0.5.1)' for name in FIELDS_051
               if name in raw_config]
    pre, post = _step_names(preprocessor), _step_names(postprocessor)
    proofs += [f'policy_preprocessor.json has a {name} step (LeRobot >= 0.5.1)'
               for name in RELATIVE_STEPS if name in pre]
    if ABSOLUTE_STEP in post:
        proofs.append(f'policy_postprocessor.json has an {ABSOLUTE_STEP} step (LeRobot >= 0.5.1)')
    if head_differs:
        proofs.append('lm_head.weight is saved apart from embed_tokens.weight and differs from '
                      'it (untied: LeRobot >= 0.5.0; 0.4.4 ties them)')
    return proofs


def choose_semantics(requested, proofs, source):
    """Pick the Semantics for `requested` ('auto', '0.4', '0.5') given version_evidence()."""
    requested = 'auto' if requested is None else str(requested)
    if requested not in VERSION_CHOICES:
        raise VersionError(f'lerobot_version {requested!r} is not one of {VERSION_CHOICES}')
    if requested == '0.4':
        if proofs:
            raise VersionError(f'{source}: lerobot_version 0.4 was asked for, but the files '
                               f'were written by LeRobot >= 0.5: {"; ".join(proofs)}')
        return Semantics('0.4', 'lerobot_version 0.4 was asked for')
    if requested == '0.5':
        agree = f' (the files agree: {"; ".join(proofs)})' if proofs else ''
        return Semantics('0.5', 'lerobot_version 0.5 was asked for' + agree)
    if proofs:
        return Semantics('0.5', 'auto: ' + '; '.join(proofs))
    return Semantics('0.4', 'auto: nothing in the files proves LeRobot >= 0.5 (no '
                     'pretrained_revision, no relative-action fields or steps, tied lm_head); '
                     'a LeRobot 0.5.0 checkpoint looks the same, set lerobot_version 0.5 '
                     'for one')


# Every processor step a LeRobot 0.4.4 .. 0.6.1 pi0_fast checkpoint saves. Anything else may
# change what the state or the actions mean, so it is refused rather than skipped.
KNOWN_PRE_STEPS = frozenset([
    'rename_observations_processor', 'to_batch_processor', 'normalizer_processor',
    'pi0_fast_prepare_state_tokenizer_processor_step', 'tokenizer_processor',
    'action_tokenizer_processor', 'device_processor', *RELATIVE_STEPS])
KNOWN_POST_STEPS = frozenset(['unnormalizer_processor', ABSOLUTE_STEP, 'device_processor'])


def check_processor_steps(preprocessor, postprocessor):
    """Refuse unknown steps and relative/absolute steps in an order LeRobot does not use."""
    for processor, known in ((preprocessor, KNOWN_PRE_STEPS), (postprocessor, KNOWN_POST_STEPS)):
        names = _step_names(processor)
        unknown = [n for n in names if n not in known]
        if unknown:
            raise VersionError(f'{processor.json_path}: processor steps {unknown} are not '
                               'implemented here and may change what the state or the actions '
                               f'mean; refusing to load (known: {sorted(known)})')
    _check_before(preprocessor, RELATIVE_STEPS, 'normalizer_processor',
                  'the relative step must see the raw state, before normalization')
    _check_before(postprocessor, ('unnormalizer_processor',), ABSOLUTE_STEP,
                  'the state must be added to unnormalized actions')


def _check_before(processor, first, then, why):
    names = _step_names(processor)
    firsts = [i for i, n in enumerate(names) if n in first]
    thens = [i for i, n in enumerate(names) if n == then]
    if firsts and thens and min(thens) < max(firsts):
        raise VersionError(f'{processor.json_path}: step {then} comes before '
                           f'{names[max(firsts)]}, which LeRobot never does ({why})')
