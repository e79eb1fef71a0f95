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
Pi0FastPolicy: one observation (camera frames, state, instruction) -> one action chunk.

The facade of docs/architecture.md. Preprocessing is LeRobot's (images.py, normalize.py,
prompt.py, text_tokenizer.py) in the semantics of the LeRobot version that wrote the checkpoint
(lerobot_versions.py: 0.4.4, or 0.5+ with the unpadded state prompt and the -1 image border),
decoding is the engine's (stop at "|" by default), and the chunk is detokenized
(detokenize.py), unnormalized with the checkpoint's statistics and, for a relative-actions
checkpoint (LeRobot >= 0.5.1), made absolute by adding the state the chunk was computed from
(relative_actions.py). Bad input raises InvalidObservationError; a chunk that cannot be decoded
comes back with ok False and a specific status, never as zeros or the mean pose.
Two phases: prepare() (checks and preprocessing) and run() (the model and detokenization);
infer() is run(prepare(...)). The settings are a PolicyOptions (options.py).
"""

import dataclasses
import logging
import time

import numpy as np
import torch

from .checkpoint import load_checkpoint
from .detokenize import ActionDecoder, STATUS_NON_FINITE
from .images import ImageError, prepare_images
from .normalize import load_normalizers, NormalizerError, POSTPROCESSOR, PREPROCESSOR
from .options import PolicyOptions
from .prompt import build_prompt, discretize_state
from .resolve import resolve_checkpoint, resolve_component
from .text_tokenizer import TextTokenizer
from ..fast.tokenizer import FastActionTokenizer
from ..model.device import check_device
from ..model.engine import decoding_budget, Pi0FastEngine, resolve_mode
from ..model.selfcheck import describe as describe_engine, verify as verify_engine

_log = logging.getLogger(__name__)

OBS_STATE, ACTION, OBS_IMAGES = 'observation.state', 'action', 'observation.images'
EMPTY_CAMERA = OBS_IMAGES + '.empty_camera_'
FAST_FILES = ('processor_config.json', 'tokenizer.json', 'tokenizer_config.json',
              'special_tokens_map.json')
TEXT_FILES = ('tokenizer.json', 'tokenizer_config.json', 'special_tokens_map.json')
LEROBOT_MAX_STATE_DIM = 32  # what LeRobot 0.4.4's preprocessor uses after loading from disk


class InvalidObservationError(ValueError):
    """An observation the policy must not act on; the message names the problem."""


@dataclasses.dataclass
class PolicyResult:
    """One inference: the chunk (or why there is none), the tokens and per-stage timings."""

    status: str                 # 'ok' or a detokenize.STATUS_* failure
    actions: np.ndarray         # float32 [horizon, action_dim], policy space, absolute (the
    #                             state added for relative-actions checkpoints); None unless ok
    tokens: np.ndarray          # int64 [n]: generated ids, up to and including the first '|'
    error: str                  # human-readable reason when not ok, else None
    timings_ms: dict            # milliseconds: preprocess, prefill, decode, detokenize, total
    prompt: str                 # the prompt text the model saw
    decode_steps: int           # decode steps the engine ran (a count, not a time)

    @property
    def ok(self):
        return self.status == 'ok'


@dataclasses.dataclass
class PreparedInput:
    """prepare()'s result: model inputs as Pi0FastEngine.generate takes them, and the state."""

    images: list                # per slot, present first: [1, 3, 224, 224] fp32
    img_masks: list             # per slot: [1] bool
    tokens: torch.Tensor        # [1, max_length] int64: BOS, prompt, PAD
    masks: torch.Tensor         # [1, max_length] bool
    prompt: str
    state_bins: np.ndarray      # int64 [max(state_dim, max_state_dim)]
    state: np.ndarray           # float32 [state_dim]: the checked state, in policy units
    preprocess_ms: float        # how long prepare() took


class Pi0FastPolicy:
    """
    A loaded PI0-FAST policy. Build it with `Pi0FastPolicy.from_pretrained`.

    Attributes: camera_slots (image keys in checkpoint order, without LeRobot's padding
    slots), state_dim, action_dim, horizon (= n_action_steps, rows of a chunk), chunk_size,
    device, dtype, config (the engine's validated Pi0FastConfig), text_tokenizer,
    fast_tokenizer, engine, semantics (lerobot_versions.Semantics), relative
    (relative_actions.RelativeActions or None), options (the PolicyOptions it was built
    with), max_decoding_steps (the token budget those options resolve to).
    """

    def __init__(self, checkpoint, text_tokenizer, fast_tokenizer, options=None):
        options = self.options = options or PolicyOptions()
        cfg = self.config = checkpoint.config
        self.path, self.dtype = checkpoint.path, checkpoint.dtype
        self.semantics, self.relative = checkpoint.semantics, checkpoint.relative
        self.device = next(checkpoint.model.parameters()).device
        self.text_tokenizer, self.fast_tokenizer = text_tokenizer, fast_tokenizer
        text_tokenizer.check_fast_vocab(fast_tokenizer.vocab_size)
        self.image_keys = list(cfg.camera_keys)
        self.camera_slots = [k for k in self.image_keys if not k.startswith(EMPTY_CAMERA)]
        self.state_dim, self.action_dim = cfg.state_dim, cfg.action_dim
        self.horizon, self.chunk_size = cfg.n_action_steps, cfg.chunk_size
        self.max_decoding_steps = decoding_budget(options.max_decoding_steps,
                                                  cfg.max_decoding_steps)
        self.stop_at_end_marker = options.stop_at_end_marker
        self.temperature = (cfg.temperature if options.temperature is None
                            else float(options.temperature))
        self._generator = None
        if options.seed is not None:
            self._generator = torch.Generator(self.device).manual_seed(int(options.seed))
        self._load_processing(checkpoint.path)
        self.engine = Pi0FastEngine(checkpoint.model, bos_token_id=text_tokenizer.bos_id,
                                    max_action_tokens=cfg.max_action_tokens,
                                    mode=resolve_mode(options.engine_mode, self.device))
        self._constraint = {}
        if options.constrained:
            self._constraint = {'allowed_token_ids': self._action_token_ids(),
                                'constrain_after': len(text_tokenizer.action_prefix_ids)}
        require_end_marker = options.require_end_marker
        if require_end_marker is None:  # LeRobot keeps everything when there is no "|"
            require_end_marker = options.detokenize == 'strict'
        self.decoder = ActionDecoder(
            text_tokenizer, fast_tokenizer, horizon=self.horizon, chunk_size=self.chunk_size,
            action_dim=self.action_dim, mode=options.detokenize,
            require_end_marker=require_end_marker,
            validate_prefix=cfg.validate_action_token_prefix)

    def _action_token_ids(self):
        """Ids valid after "Action: ": the decodable FAST range, "|" and EOS (ascending)."""
        fast_vocab = getattr(self.fast_tokenizer, 'bpe_vocab_size', self.fast_tokenizer.vocab_size)
        lo, hi = self.text_tokenizer.fast_id_range(fast_vocab)
        extra = {self.text_tokenizer.end_marker_id, self.text_tokenizer.eos_id}
        return sorted(set(range(lo, hi + 1)) | extra)

    def _load_processing(self, path):
        """Load the normalizers and prompt settings from the checkpoint's processor files."""
        self._state_norm = load_normalizers(path, [OBS_STATE], PREPROCESSOR)[OBS_STATE]
        self._action_norm = load_normalizers(path, [ACTION], POSTPROCESSOR)[ACTION]
        pairs = ((self._state_norm, self.state_dim), (self._action_norm, self.action_dim))
        for norm, dim in pairs:
            if norm.dim not in (None, dim):
                raise NormalizerError(f'{path}: {norm.key} stats have length {norm.dim}, the '
                                      f'config says {dim}')
        self.max_length = self.config.tokenizer_max_length
        # LeRobot >= 0.5 lists only the real state dims: no padding at all.
        # LeRobot 0.4.4's prompt step does not serialize max_state_dim (facts §8.12): training
        # used config.max_state_dim, its inference from disk falls back to 32. We follow the
        # training side, which only differs for checkpoints that changed the default.
        self.max_state_dim = self.config.max_state_dim
        if not self.semantics.pads_state_in_prompt:
            self.max_state_dim = None
        elif self.max_state_dim != LEROBOT_MAX_STATE_DIM:
            _log.warning('max_state_dim %d: LeRobot 0.4.4 pads the state to %d at inference '
                         '(its prompt step does not save the value); we use %d as in training',
                         self.max_state_dim, LEROBOT_MAX_STATE_DIM, self.max_state_dim)

    @classmethod
    def from_pretrained(cls, checkpoint_dir, options=None, **overrides):
        """
        Load a LeRobot pi0_fast checkpoint directory (or hub id) and its two tokenizers.

        options: a PolicyOptions (default: PolicyOptions()); overrides: PolicyOptions fields
        replacing its values, e.g. `from_pretrained(path, device='cuda', engine_mode='exact')`
        (an unknown name raises TypeError naming it). See PolicyOptions for every setting.
        Raises CheckpointError / ResolveError / TextTokenizerError / FastTokenizerError /
        NormalizerError naming the problem, DeviceError for an unusable device; never returns a
        partly loaded policy.
        """
        opts = PolicyOptions.build(options, **overrides)
        check_device(opts.device)   # before a download or a load: name a device problem
        report = _progress_reporter(opts.progress)
        path = resolve_checkpoint(checkpoint_dir, opts.allow_download)
        ckpt = load_checkpoint(path, dtype=opts.dtype, device=opts.device,
                               arch_hints=opts.arch_hints, lerobot_version=opts.lerobot_version,
                               progress=lambda done, total, name: report(
                                   done / max(total, 1), f'loading weights: {name}'))
        report(1.0, 'weights loaded; loading tokenizers')
        cfg = ckpt.config
        fast_tokenizer, text_tokenizer = opts.fast_tokenizer, opts.text_tokenizer
        if not isinstance(fast_tokenizer, FastActionTokenizer):
            fast_tokenizer = FastActionTokenizer.from_pretrained(resolve_component(
                'FAST tokenizer', fast_tokenizer, path, 'fast_tokenizer',
                cfg.action_tokenizer_name, 'processor_config.json', FAST_FILES,
                opts.allow_download, 'fast_tokenizer'))
        if not isinstance(text_tokenizer, TextTokenizer):
            text_tokenizer = TextTokenizer.from_pretrained(resolve_component(
                'text tokenizer', text_tokenizer, path, 'text_tokenizer',
                cfg.text_tokenizer_name, 'tokenizer.json', TEXT_FILES, opts.allow_download,
                'text_tokenizer'), fast_skip_tokens=cfg.fast_skip_tokens)
        policy = cls(ckpt, text_tokenizer, fast_tokenizer, opts)
        report(1.0, f'policy ready: {policy}')
        return policy

    def __repr__(self):
        return (f'Pi0FastPolicy({self.path}, cameras={self.camera_slots}, state_dim='
                f'{self.state_dim}, action_dim={self.action_dim}, horizon={self.horizon}, '
                f'device={self.device}, dtype={self.dtype}, lerobot={self.semantics.version}, '
                f'relative_actions={self.relative is not None})')

    # --- input checks ---------------------------------------------------------------------

    def _slot_of(self, name):
        if name in self.camera_slots:
            return name
        full = f'{OBS_IMAGES}.{name}'
        if full in self.camera_slots:
            return full
        raise InvalidObservationError(f'unknown camera slot {name!r}; this checkpoint has '
                                      f'{self.camera_slots}')

    def _check_images(self, images):
        if not isinstance(images, dict):
            raise InvalidObservationError(
                f'images must be a dict {{slot: uint8 HxWx3}}, got {type(images).__name__}')
        frames = {}
        for name, frame in images.items():
            slot = self._slot_of(name)
            if slot in frames:
                raise InvalidObservationError(f'camera slot {slot!r} given twice')
            frames[slot] = frame
        return frames

    def _check_state(self, state):
        try:
            arr = np.asarray(state.detach().cpu() if torch.is_tensor(state) else state)
        except Exception as exc:
            raise InvalidObservationError(f'state is not array-like: {exc}') from exc
        if arr.dtype.kind not in 'fiu' or arr.dtype == np.float16:
            raise InvalidObservationError(f'state must be a real number vector, got {arr.dtype}')
        if arr.shape != (self.state_dim,):
            raise InvalidObservationError(
                f'state must have shape ({self.state_dim},), got {arr.shape}')
        bad = np.flatnonzero(~np.isfinite(arr))
        if bad.size:
            raise InvalidObservationError(f'state has non-finite values at indices '
                                          f'{bad.tolist()}: {arr[bad].tolist()}')
        return arr.astype(np.float32)

    @staticmethod
    def _check_instruction(instruction):
        if not isinstance(instruction, str):
            raise InvalidObservationError(
                f'instruction must be a string, got {type(instruction).__name__}')
        if not instruction.strip():
            raise InvalidObservationError('instruction is empty')
        return instruction

    # --- inference ------------------------------------------------------------------------

    def prepare(self, images, state, instruction):
        """
        Observation -> PreparedInput, exactly LeRobot's preprocessor + _preprocess_images.

        The arguments are infer()'s. Raises InvalidObservationError for bad images, state or
        instruction, and for a prompt longer than tokenizer_max_length (LeRobot would silently
        truncate it). No model code runs here: the policy node does this at real-time
        priority and run() at normal priority.
        """
        t0 = _now(self.device)
        frames = self._check_images(images)
        state32 = self._check_state(state)
        task = self._check_instruction(instruction)
        normalized = self._state_norm.forward(torch.from_numpy(state32)[None]).numpy()
        bins = discretize_state(normalized, self.max_state_dim)[0]
        prompt = build_prompt(task, bins)
        ids, mask, n_full = self.text_tokenizer.tokenize_prompt(prompt, self.max_length)
        if n_full > self.max_length:
            raise InvalidObservationError(
                f'instruction too long: the prompt is {n_full} tokens, the checkpoint allows '
                f'{self.max_length} (tokenizer_max_length)')
        try:
            imgs, img_masks = prepare_images(frames, self.image_keys, self.device,
                                             pad_value=self.semantics.image_pad_value)
        except ImageError as exc:
            raise InvalidObservationError(str(exc)) from exc
        tokens = torch.from_numpy(ids)[None].to(self.device)
        masks = torch.from_numpy(mask)[None].to(self.device)
        return PreparedInput(imgs, img_masks, tokens, masks, prompt, bins, state32,
                             (_now(self.device) - t0) * 1e3)

    def run(self, prepared):
        """
        Decode, detokenize and unnormalize a PreparedInput (from prepare): a PolicyResult.

        For a relative-actions checkpoint the actions are made absolute with the state the
        input was prepared from. timings_ms['preprocess'] is prepare()'s; 'total' adds it.
        """
        t1 = _now(self.device)
        gen = self.engine.generate(
            prepared.images, prepared.img_masks, prepared.tokens, prepared.masks,
            self.max_decoding_steps, temperature=self.temperature, generator=self._generator,
            stop_token_id=self.text_tokenizer.end_marker_id if self.stop_at_end_marker
            else None, **self._constraint)
        tokens = gen.tokens[0, :int(gen.lengths[0])].cpu().numpy()
        t2 = time.perf_counter()
        decoded = self.decoder(tokens)
        actions, status, error = None, decoded.status, decoded.error
        if decoded.ok:
            actions = self._action_norm.inverse(torch.from_numpy(decoded.actions)).numpy()
            if self.relative is not None:
                actions = self.relative.to_absolute(actions, prepared.state)
            if not np.isfinite(actions).all():
                actions, status = None, STATUS_NON_FINITE
                error = 'unnormalized actions contain NaN or inf'
        t3 = time.perf_counter()
        timings = {'preprocess': prepared.preprocess_ms, 'prefill': gen.timings['prefill_ms'],
                   'decode': gen.timings['decode_ms'], 'detokenize': (t3 - t2) * 1e3,
                   'total': prepared.preprocess_ms + (t3 - t1) * 1e3}
        return PolicyResult(status, actions, tokens.astype(np.int64), error, timings,
                            prepared.prompt, int(gen.timings['steps']))

    def infer(self, images, state, instruction):
        """
        Run the policy on one observation; returns a PolicyResult. run(prepare(...)).

        images: {slot: uint8 HxWx3 RGB or None}; slot is a full image key
        ('observation.images.top') or its last part ('top'); None or absent = missing camera
        (masked as LeRobot does; at least one is required). state: [state_dim] real vector
        in policy units (after any state-side adapters). instruction: non-empty text. For a
        relative-actions checkpoint the returned actions are absolute: this state is added
        to the unnormalized actions of every relative joint.
        """
        return self.run(self.prepare(images, state, instruction))

    def warmup(self, iterations=2, instruction='warm up'):
        """
        Self-check the engine, then run `iterations` inferences on a synthetic observation.

        The observation has every camera (black frames) and a zero state. The check
        (check_engine) allocates the static KV cache and captures the CUDA graph on GPU before
        the first real observation. Returns the last PolicyResult (its status does not
        matter), None when iterations is 0.
        """
        images = {s: np.zeros((224, 224, 3), np.uint8) for s in self.camera_slots}
        state = np.zeros(self.state_dim, np.float32)
        self.check_engine(images, state, instruction)
        result = None
        for _ in range(iterations):
            result = self.infer(images, state, instruction)
        if result is not None:
            _log.info('warm-up done: %.1f ms per chunk (%d tokens)',
                      result.timings_ms['total'], result.decode_steps)
        return result

    def check_engine(self, images, state, instruction):
        """
        Compare the engine's production path with 'exact' on one observation (greedy).

        selfcheck.verify: on a mismatch or an exception the engine falls back to 'exact' and
        keeps running; `engine_path` says which path runs and why. Returns the CheckResult.
        """
        prepared = self.prepare(images, state, instruction)
        stop = self.text_tokenizer.end_marker_id if self.stop_at_end_marker else None
        return verify_engine(self.engine, prepared.images, prepared.img_masks, prepared.tokens,
                             prepared.masks, self.max_decoding_steps, stop_token_id=stop,
                             **self._constraint)

    @property
    def engine_path(self):
        """'<path>: <why>': the decode path in use and whether (and how) it was checked."""
        return describe_engine(self.engine)


def _now(device):
    if device.type == 'cuda':
        torch.cuda.synchronize(device)
    return time.perf_counter()


def _progress_reporter(progress):
    """Wrap progress(fraction, message): log every 10% and call the user's callback."""
    last = [-1]

    def report(fraction, message):
        decile = int(fraction * 10)
        if decile != last[0]:
            last[0] = decile
            _log.info('%3d%% %s', int(fraction * 100), message)
        if progress is not None:
            progress(fraction, message)

    return report
