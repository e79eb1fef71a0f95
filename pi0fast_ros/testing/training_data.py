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

r"""
Demonstrations -> PI0-FAST training batches, exactly as LeRobot's preprocessor would feed them.

Per sample (LeRobot 0.4.4 processor_pi0_fast.py:295-326): normalize state and action with the
checkpoint's statistics; state -> 32 bins -> "Task: ..., State: ...;\\n" -> BOS + ids
(TokenizerProcessorStep); normalized action chunk -> FAST ids -> the target of
training.action_target_ids (ActionTokenizerProcessorStep). Camera frames are rendered from the
sample's joint positions by the fake robot's own renderer (sim/arm_render.py), at the fake
robot's resolution, and preprocessed like the facade does, so the policy trains on the images it
will see when it drives the fake arm.
"""

import numpy as np
import torch

from .training import action_target_ids, pad_batch, TrainingBatch
from ..core.policy.images import to_model_image
from ..core.policy.normalize import FeatureNormalizer
from ..core.policy.prompt import build_prompt, discretize_state
from ..sim.arm_render import ArmLayout, ArmRenderer

STATE_KEY = 'observation.state'
ACTION_KEY = 'action'


def dataset_stats(states, actions):
    """
    LeRobot-style dataset statistics: {feature: {stat: float32 array [D]}}.

    states: [N, D]; actions: [N, H, D] (every row of every chunk counts, as a LeRobot dataset
    holds one action per frame). Stats: mean, std, min, max, q01, q99, count.
    """
    def stats(x):
        x = np.asarray(x, dtype=np.float64)
        return {'mean': x.mean(0), 'std': x.std(0), 'min': x.min(0), 'max': x.max(0),
                'q01': np.quantile(x, 0.01, axis=0), 'q99': np.quantile(x, 0.99, axis=0),
                'count': np.array([len(x)])}

    flat_actions = np.reshape(actions, (-1, actions.shape[-1]))
    out = {STATE_KEY: stats(states), ACTION_KEY: stats(flat_actions)}
    return {k: {s: v.astype(np.float32) if s != 'count' else v.astype(np.int64)
                for s, v in d.items()} for k, d in out.items()}


class SampleEncoder:
    """
    Token ids of one demonstration sample, as LeRobot's pi0_fast preprocessor makes them.

    norm_modes: {'STATE': mode, 'ACTION': mode}; stats: dataset_stats(); text_tokenizer:
    core.text_tokenizer.TextTokenizer; fast_tokenizer: core.fast_tokenizer.FastActionTokenizer.
    """

    def __init__(self, stats, norm_modes, text_tokenizer, fast_tokenizer, *, max_state_dim=32,
                 tokenizer_max_length=200, max_action_tokens=256):
        self.state_norm = FeatureNormalizer(STATE_KEY, norm_modes['STATE'], stats[STATE_KEY])
        self.action_norm = FeatureNormalizer(ACTION_KEY, norm_modes['ACTION'], stats[ACTION_KEY])
        self.text, self.fast = text_tokenizer, fast_tokenizer
        self.max_state_dim = max_state_dim
        self.tokenizer_max_length = tokenizer_max_length
        self.max_action_tokens = max_action_tokens

    def prompt_ids(self, state, instruction):
        """BOS + prompt ids (no padding). Raises ValueError if the prompt would be truncated."""
        bins = discretize_state(self.state_norm.forward(state).numpy(), self.max_state_dim)
        ids, mask, n_full = self.text.tokenize_prompt(build_prompt(instruction, bins),
                                                      self.tokenizer_max_length)
        if n_full > self.tokenizer_max_length:
            raise ValueError(f'prompt of {n_full} tokens exceeds tokenizer_max_length '
                             f'{self.tokenizer_max_length}: {instruction!r}')
        return ids[mask].tolist()

    def target_ids(self, fast_ids):
        """Return the training target of one chunk's FAST ids (training.action_target_ids)."""
        return action_target_ids(fast_ids, bos_id=self.text.bos_id,
                                 action_prefix_ids=self.text.action_prefix_ids,
                                 end_ids=[self.text.end_marker_id, self.text.eos_id],
                                 pg_of_fast=lambda f: int(self.text.fast_to_text_ids(f)),
                                 max_len=self.max_action_tokens)


class FrameRenderer:
    """
    Camera frames of the fake robot for a joint state, preprocessed for the model.

    cameras: ((slot, view), ...), e.g. (('front', 'side'), ('wrist', 'wrist')) as in
    config/so100.yaml; joint_names: the state's joint order.
    """

    def __init__(self, cameras, joint_names, width=320, height=240, layout=None):
        layout = layout or ArmLayout()
        self.slots = tuple(slot for slot, _ in cameras)
        self.joint_names = tuple(joint_names)
        self.renderers = [ArmRenderer(layout, view, width, height) for _, view in cameras]

    def frames(self, state):
        """Raw uint8 HxWx3 RGB frames, one per camera, for one state [D]."""
        joints = dict(zip(self.joint_names, np.asarray(state, dtype=np.float64).tolist()))
        return [r.render(joints) for r in self.renderers]

    def batch(self, states):
        """Model images for states [B, D]: one [B, 3, 224, 224] tensor per camera."""
        out = [torch.empty((len(states), 3, 224, 224)) for _ in self.renderers]
        for i, state in enumerate(states):
            for cam, frame in zip(out, self.frames(state)):
                to_model_image(frame, out=cam[i:i + 1])
        return out


def make_batch(indices, states, prompt_ids, target_ids, renderer):
    """
    Assemble a TrainingBatch from encoded samples.

    indices: sample indices; states: [N, D] raw joint positions (rendered into the frames);
    prompt_ids / target_ids: per-sample id lists (SampleEncoder).
    """
    tokens, masks = pad_batch([prompt_ids[i] for i in indices])
    targets, target_masks = pad_batch([target_ids[i] for i in indices])
    images = renderer.batch(states[indices])
    img_masks = [torch.ones(len(indices), dtype=torch.bool) for _ in images]
    return TrainingBatch(images, img_masks, tokens, masks, targets, target_masks)
