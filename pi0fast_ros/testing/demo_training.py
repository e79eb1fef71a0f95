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
The demo checkpoint recipe: a tiny PI0-FAST trained on the synthetic SO-100 task on a CPU.

`train_demo_checkpoint(out_dir, DemoRecipe())` generates the demonstrations, fits the FAST
tokenizer, builds the text tokenizer, trains, and writes a complete LeRobot-format pi0_fast
directory (config.json, model.safetensors, pre/post-processor json + normalizer stats,
fast_tokenizer/, text_tokenizer/) that core.policy.Pi0FastPolicy.from_pretrained opens.

Choices (why):
- Two cameras, 'front' (side view) and 'wrist', as config/so100.yaml's fake robot publishes
  them (``cameras``; ``pi0fast-train-demo --cameras`` trains others, e.g. a third 'top');
  frames are rendered by the fake robot's renderer from each sample's joints. SigLIP is 16
  wide with 56 px patches (16 tokens per camera instead of 256; the state text carries
  what the task needs): the sizes are read from the weights, the 224 px input and LeRobot's
  preprocessing are unchanged.
- STATE normalization MIN_MAX: LeRobot's default MEAN_STD puts a third of the states outside
  [-1, 1], where the 256 state bins saturate (facts section 8.11); MIN_MAX over the data keeps
  every state of the workspace distinguishable. ACTION stays MEAN_STD (LeRobot's default).
- The text tokenizer has one piece per state bin ("0".."255") and per instruction word, so a
  state value is one token (real Gemma splits digits); the prompt is ~42 tokens, so
  tokenizer_max_length is 64 instead of 200 (a config field LeRobot reads for the tokenizer
  step, serialized in policy_preprocessor.json as max_length).
- Demonstrations band-limited to 2 DCT frequencies (synthetic_task.band_limit), FAST scale 4
  and a FAST vocabulary of the byte symbols the fit starts from + 7 merges (which all go to
  zero runs; ~156 tokens): every coefficient of the 12-value block is one ASCII character and
  (but for adjacent zeros) one token, and the 168-zero tail is always the same three tokens,
  so a tiny model can learn to emit exactly H x D = 180 coefficients (the strict decoder
  refuses anything else). ~14 FAST tokens per 1 s chunk; quantisation error ~1 unit of the
  -100..100 range. With raw rollouts, scale 10 and 1024 tokens, a model trained for ten CPU
  minutes got the coefficient count wrong in most chunks; with 3 frequencies and 256 tokens
  in a quarter of them.
"""

import dataclasses
import logging
import pathlib
import time

import numpy as np
import torch

from . import synthetic_task as task
from . import training as tr
from .random_checkpoint import write_processors
from .text_tokenizer_build import build_text_tokenizer
from .training_data import (ACTION_KEY, dataset_stats, FrameRenderer, make_batch,
                            SampleEncoder, STATE_KEY)
from ..core.fast import fit as fast_fit
from ..core.fast.bpe import ByteLevelBpe
from ..core.fast.codes import codes_to_text, quantise
from ..core.fast.tokenizer import FastActionTokenizer
from ..core.model import ArchConfig, PaliGemma
from ..core.policy.checkpoint import lerobot_state_dict, save_checkpoint
from ..core.policy.lerobot_config import default_config_dict
from ..core.policy.normalize import FeatureNormalizer
from ..core.policy.text_tokenizer import TextTokenizer

_log = logging.getLogger(__name__)

# Words of the task's instructions the builder does not have, and the state bins.
EXTRA_WORDS = ('wave', 'go', 'home', '-1', *(str(i) for i in range(256)))


@dataclasses.dataclass(frozen=True)
class DemoRecipe:
    """Everything that determines the demo checkpoint (with the seed and the thread count)."""

    seed: int = 0
    samples: int = 20000
    horizon: int = 30                      # 1 s of actions at 30 Hz
    bandwidth: int = 2                     # DCT frequencies kept in a demonstration chunk
    steps: int = 2200
    batch_size: int = 16
    lr: float = 3e-3
    warmup_steps: int = 50
    final_lr: float = 1.5e-4
    grad_clip_norm: float = 1.0
    fast_scale: float = 4.0
    fast_merges: int = 7                   # FAST vocabulary = its byte alphabet + 7
    tokenizer_max_length: int = 64
    cameras: tuple = (('front', 'side'), ('wrist', 'wrist'))
    image_size: tuple = (320, 240)         # fake_robot image_width x image_height
    norm_map: tuple = (('VISUAL', 'IDENTITY'), ('STATE', 'MIN_MAX'), ('ACTION', 'MEAN_STD'))
    width: int = 128
    depth: int = 4
    num_heads: int = 4
    vision_width: int = 16
    vision_depth: int = 1
    patch_size: int = 56

    def arch(self, vocab_size):
        """Return the PaliGemma sizes (one KV head as every PI0-FAST; MLP 4x width)."""
        return ArchConfig(width=self.width, depth=self.depth, mlp_dim=4 * self.width,
                          num_heads=self.num_heads, num_kv_heads=1,
                          head_dim=self.width // self.num_heads, vocab_size=vocab_size,
                          vision_width=self.vision_width, vision_depth=self.vision_depth,
                          vision_mlp_dim=2 * self.vision_width, vision_heads=2,
                          patch_size=self.patch_size)


@dataclasses.dataclass
class Prepared:
    """Encoded demonstrations and the tokenizers/normalizers that produced them."""

    states: np.ndarray        # float32 [N, 6] raw joint positions
    prompt_ids: list          # N x (BOS + prompt ids)
    target_ids: list          # N x training target ids
    stats: dict
    text: TextTokenizer
    fast: FastActionTokenizer
    renderer: FrameRenderer


def prepare(recipe, out_dir, progress):
    """Generate and encode the data; write fast_tokenizer/ and text_tokenizer/ into out_dir."""
    out = pathlib.Path(out_dir)
    states, instructions, actions = task.generate_dataset(
        recipe.seed, recipe.samples, recipe.horizon, bandwidth=recipe.bandwidth)
    progress(f'generated {len(states)} demonstrations of {list(task.INSTRUCTIONS)}')
    stats = dataset_stats(states, actions)
    norm = dict(recipe.norm_map)
    action_norm = FeatureNormalizer(ACTION_KEY, norm['ACTION'], stats[ACTION_KEY])
    normalized = action_norm.forward(actions).double().numpy()     # [N, H, 6]
    fast = fit_fast(normalized, recipe.fast_scale, recipe.fast_merges)
    fast.save_pretrained(out / 'fast_tokenizer')   # records H and D, as LeRobot's trainer
    text = TextTokenizer.from_pretrained(build_text_tokenizer(
        out / 'text_tokenizer', n_loc=fast.vocab_size, extra_words=EXTRA_WORDS))
    text.check_fast_vocab(fast.vocab_size)
    encoder = SampleEncoder(stats, norm, text, fast,
                            tokenizer_max_length=recipe.tokenizer_max_length)
    fast_ids = fast.encode(normalized)
    prompts = [encoder.prompt_ids(s, i) for s, i in zip(states, instructions)]
    targets = [encoder.target_ids(f) for f in fast_ids]
    progress(f'tokenized: prompt {np.mean([len(p) for p in prompts]):.1f} tokens, target '
             f'{np.mean([len(t) for t in targets]):.1f} tokens on average; text vocab '
             f'{text.vocab_size}, FAST vocab {fast.vocab_size}')
    renderer = FrameRenderer(recipe.cameras, task.SO100_JOINT_NAMES, *recipe.image_size)
    return Prepared(states, prompts, targets, stats, text, fast, renderer)


def fit_fast(normalized, scale, merges):
    """
    Fit FAST on normalized chunks [N, H, D] with its initial byte alphabet + `merges` merges.

    FAST's byte-level BPE starts from a data-dependent alphabet (the coefficient range plus the
    byte symbols it maps), so the vocabulary size is derived from the data rather than fixed:
    what the recipe fixes is the number of merges.
    """
    codes = [quantise(chunk, scale) for chunk in normalized]
    lo = min(int(c.min()) for c in codes)
    hi = max(int(c.max()) for c in codes)
    texts = [codes_to_text((c - lo).astype(np.int64)) for c in codes]
    alphabet = ByteLevelBpe.train(texts, alphabet_size=hi - lo + 1, vocab_size=1).size
    # fast_fit warns that so few merges leave "almost no room": here that is the point.
    fit_log = logging.getLogger(fast_fit.__name__)
    level = fit_log.level
    fit_log.setLevel(logging.ERROR)
    try:
        return FastActionTokenizer.fit(normalized, scale=scale, vocab_size=alphabet + merges)
    finally:
        fit_log.setLevel(level)


def train(recipe, data, progress, log_every=50):
    """Train from scratch; returns (model in eval mode, history list of dicts)."""
    torch.manual_seed(recipe.seed)
    model = tr.init_training_weights(PaliGemma(recipe.arch(data.text.vocab_size)),
                                     recipe.seed)
    optimizer = tr.make_optimizer(model, recipe.lr)
    rng = np.random.default_rng(recipe.seed + 1)
    history, start, smoothed = [], time.monotonic(), None
    progress(f'model: {model.num_parameters() / 1e6:.2f} M parameters; '
             f'{recipe.steps} steps of {recipe.batch_size}')
    for step in range(recipe.steps):
        batch = make_batch(rng.integers(0, len(data.states), recipe.batch_size), data.states,
                           data.prompt_ids, data.target_ids, data.renderer)
        lr = tr.cosine_lr(step, recipe.lr, recipe.warmup_steps, recipe.steps, recipe.final_lr)
        loss, grad_norm = tr.train_step(model, optimizer, batch, lr, recipe.grad_clip_norm)
        if not np.isfinite(loss):
            raise FloatingPointError(f'loss became {loss} at step {step}')
        smoothed = loss if smoothed is None else 0.9 * smoothed + 0.1 * loss
        if step % log_every == 0 or step == recipe.steps - 1:
            elapsed = time.monotonic() - start
            history.append({'step': step, 'loss': loss, 'smoothed_loss': smoothed,
                            'grad_norm': grad_norm, 'lr': lr, 'elapsed_s': elapsed})
            eta = elapsed / (step + 1) * (recipe.steps - step - 1)
            progress(f'step {step + 1}/{recipe.steps} loss {smoothed:.3f} '
                     f'lr {lr:.1e} {elapsed:.0f} s elapsed, ~{eta:.0f} s left')
    return model.eval(), history


def save(out_dir, recipe, data, model):
    """Write config.json, model.safetensors and the processor files next to the tokenizers."""
    out = pathlib.Path(out_dir)
    dim = len(task.SO100_JOINT_NAMES)
    width, height = recipe.image_size
    inputs = {f'observation.images.{slot}': ('VISUAL', [3, height, width])
              for slot, _ in recipe.cameras}
    inputs[STATE_KEY] = ('STATE', [dim])
    outputs = {ACTION_KEY: ('ACTION', [dim])}
    norm_map = dict(recipe.norm_map)
    config = default_config_dict(
        inputs, outputs, chunk_size=recipe.horizon, n_action_steps=recipe.horizon,
        tokenizer_max_length=recipe.tokenizer_max_length, device='cpu',
        text_tokenizer_name='text_tokenizer', action_tokenizer_name='fast_tokenizer',
        normalization_mapping=norm_map, optimizer_lr=recipe.lr,
        scheduler_warmup_steps=recipe.warmup_steps, scheduler_decay_steps=recipe.steps,
        scheduler_decay_lr=recipe.final_lr)
    save_checkpoint(out, config, lerobot_state_dict(model), arch=model.arch)
    stats = {k: {s: torch.as_tensor(v) for s, v in d.items()} for k, d in data.stats.items()}
    write_processors(out, inputs, outputs, stats, norm_map, text_tokenizer_name='text_tokenizer',
                     action_tokenizer_name='fast_tokenizer',
                     max_length=recipe.tokenizer_max_length)
    return out


def train_demo_checkpoint(out_dir, recipe=DemoRecipe(), progress=None, log_every=50):
    """Run the whole recipe into out_dir; returns a summary dict (also logged)."""
    progress = progress or _log.info
    start = time.monotonic()
    out = pathlib.Path(out_dir)
    out.mkdir(parents=True, exist_ok=True)
    data = prepare(recipe, out, progress)
    prepared_s = time.monotonic() - start
    model, history = train(recipe, data, progress, log_every)
    save(out, recipe, data, model)
    total = time.monotonic() - start
    progress(f'saved {out} after {total:.0f} s (data {prepared_s:.0f} s)')
    return {'recipe': dataclasses.asdict(recipe), 'seconds_total': total,
            'seconds_data': prepared_s, 'history': history,
            'parameters': model.num_parameters(), 'torch_threads': torch.get_num_threads()}
