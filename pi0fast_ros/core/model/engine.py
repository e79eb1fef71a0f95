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
Pi0FastEngine: KV-cached PI0-FAST token generation, token-for-token LeRobot 0.4.4.

The engine knows token ids only (BOS, the `|` end marker, the allowed FAST ids come in as
arguments); text and FAST tokenizers live elsewhere. Inputs follow LeRobot's preprocessed tensor
conventions (see `sample_actions_fast_kv_cache`). Not thread-safe: one call at a time.
"""

import dataclasses
import logging
import numbers
import time

import torch

from .compact import build_compact_prefix, prefill_compact
from .decode import DecodeState, GraphedStep, prefill, StaticStep, step_exact
from .prefix import build_prefix

PALIGEMMA_BOS_ID = 2
DEFAULT_MAX_ACTION_TOKENS = 256  # PI0FastConfig.max_action_tokens (C:45)
MODES = ('exact', 'static', 'compact')
MODE_CHOICES = ('auto', 'exact', 'compact', 'static')   # what a caller may ask for

_log = logging.getLogger(__name__)


def resolve_mode(mode, device):
    """
    Return the decode mode that runs for `mode` on `device`: the one place it is decided.

    'exact', 'compact', 'static': as asked. 'auto' (the policy's default): the device's
    production path, 'static' on CUDA (compacted prefix, CUDA graph), 'compact' on CPU
    (bench_engine.py: prefill 1.5-2x, 40-token chunks 1.2-1.35x faster than 'exact'; fp32
    tokens equal exact's, bf16 may drift after tens of steps), 'exact' elsewhere. None (a bare
    Pi0FastEngine's default): 'static' on CUDA, else 'exact', LeRobot's bits. Raises ValueError
    naming the choices.
    """
    kind = torch.device(device).type
    if mode is None:
        return 'static' if kind == 'cuda' else 'exact'
    if mode == 'auto':
        return {'cuda': 'static', 'cpu': 'compact'}.get(kind, 'exact')
    if mode not in MODES:
        raise ValueError(f'engine mode must be one of {MODE_CHOICES}, got {mode!r}')
    return mode


def decoding_budget(requested, checkpoint_steps):
    """
    Return the token budget of one chunk: the one place the 0 / None sentinel is translated.

    requested: a positive int, or 0 / None for `checkpoint_steps` (config.json's
    max_decoding_steps). Raises ValueError for anything else.
    """
    if requested is None:
        return int(checkpoint_steps)
    if isinstance(requested, bool) or not isinstance(requested, numbers.Integral) \
            or requested < 0:
        raise ValueError(f'max_decoding_steps must be an integer >= 0 (0 or None: the '
                         f"checkpoint's), got {requested!r}")
    return int(requested) or int(checkpoint_steps)


@dataclasses.dataclass
class GenerateResult:
    """Output of Pi0FastEngine.generate."""

    tokens: torch.Tensor   # [B, n] long, n = steps decoded (<= max_steps)
    lengths: torch.Tensor  # [B] long: tokens up to and including the first stop token, else n
    stopped: bool          # every row emitted stop_token_id (False when no stop id was given)
    timings: dict          # prefill_ms, decode_ms, total_ms, steps, decode_ms_per_token
    logits: torch.Tensor = None  # [B, n, V] float32 when asked for (return_logits)


class Pi0FastEngine:
    """
    Greedy / sampled decoding with a static KV cache over a loaded PaliGemma.

    mode: 'exact' (LeRobot's prefix layout with pad slots and its SDPA shapes: bit-identical
    tokens and logits; the CPU default and the token API's parity default), 'compact' (the
    prefix without pad slots, see compact.py, then exact-style decode steps over the filled
    cache; fp32 tokens equal exact's, logits within float summation order; the fast CPU mode)
    or 'static' (compacted prefix + fixed-shape steps for CUDA graphs; the CUDA default);
    'auto' and None are decided by resolve_mode.
    cuda_graph: capture the static step in a CUDA graph (default: on CUDA). batch_cameras: all
    present cameras through SigLIP in one call (default) or one call per camera like LeRobot
    (bit-exact image features; see prefix.embed_cameras). State (cache, tables, graph) is
    allocated on the first call of a (batch, prefix capacity, max steps) configuration and
    reused while it stays the same; in 'static' mode the decode step (`step_class`: GraphedStep
    with cuda_graph, else StaticStep) is built, and the graph captured, right after the state is
    allocated. `fall_back(reason)` switches to 'exact' (selfcheck.py does when the production
    path disagrees with it); `path` and `path_reason` say which path runs and why.
    """

    def __init__(self, model, *, bos_token_id=PALIGEMMA_BOS_ID,
                 max_action_tokens=DEFAULT_MAX_ACTION_TOKENS, mode=None, cuda_graph=None,
                 batch_cameras=True):
        on_cuda = model.device.type == 'cuda'
        self.model = model
        self.bos_token_id = int(bos_token_id)
        self.batch_cameras = bool(batch_cameras)
        self.max_action_tokens = int(max_action_tokens)
        self.mode = resolve_mode(mode, model.device)
        self.cuda_graph = on_cuda and self.mode == 'static' if cuda_graph is None else cuda_graph
        if self.cuda_graph and (not on_cuda or self.mode != 'static'):
            raise ValueError("cuda_graph needs a CUDA model and mode='static'")
        # The seam where the decode step plugs in (selfcheck tests inject faults here).
        self.step_class = GraphedStep if self.cuda_graph else StaticStep
        self.path_reason = 'selected; not checked against exact'
        self._state = None
        self._step_fn = None
        self._restricted = None  # (ids tuple, ids tensor, weight rows)

    @property
    def path(self):
        """Return the decode path in words: 'exact', 'compact', 'static' or 'static+cuda_graph'."""
        return self.mode + ('+cuda_graph' if self.cuda_graph else '')

    def fall_back(self, reason):
        """Switch to the eager parity path ('exact') for good; `reason` says why."""
        _log.warning('engine path %s -> exact: %s', self.path, reason)
        self.mode, self.cuda_graph, self.step_class = 'exact', False, StaticStep
        self._state, self._step_fn = None, None
        self.path_reason = f'fallback: {reason}'

    @classmethod
    def from_checkpoint(cls, path, *, dtype=None, device='cpu', arch_hints=None, progress=None,
                        lerobot_version='auto', **engine_options):
        """Load a LeRobot pi0_fast directory (checkpoint.load_checkpoint) -> engine."""
        # Imported here: the checkpoint module imports this package.
        from ..policy.checkpoint import load_checkpoint
        ckpt = load_checkpoint(path, dtype=dtype, device=device, arch_hints=arch_hints,
                               progress=progress, lerobot_version=lerobot_version)
        engine_options.setdefault('max_action_tokens', ckpt.config.max_action_tokens)
        return cls(ckpt.model, **engine_options)

    @torch.inference_mode()
    def sample_actions_fast_kv_cache(self, images, img_masks, tokens, masks,
                                     max_decoding_steps=None, temperature=0.0, *,
                                     generator=None, end_marker_id=None):
        """
        Decode exactly like LeRobot 0.4.4 PI0FastPytorch (same method name, M:680-801).

        images: list (one per camera slot, present first, as LeRobot's _preprocess_images) of
        [B, 3, 224, 224] float in [-1, 1] (resize-with-pad pixels may be -3); img_masks: list
        of [B] bool; tokens: [B, T] long prompt ids (BOS first, right-padded with 0, T = 200);
        masks: [B, T] bool. The extra inference BOS is appended here, as LeRobot does.
        max_decoding_steps None -> max_action_tokens (256). Temperature 0 is greedy (first max
        on ties); > 0 samples softmax(logits / T) with torch.multinomial over the full
        vocabulary (global RNG unless `generator`). Returns [B, max_decoding_steps] long: by
        default the full length, like LeRobot 0.4.4 (no stop at '|'). end_marker_id (the id of
        '|', 235371 for PaliGemma): LeRobot 0.6.1's convention instead: greedy decoding stops
        once every row has emitted it, and the columns after the stop are zeros (rows that
        finished earlier keep their tokens up to the stop); sampling still runs to the end.
        """
        steps = self.max_action_tokens if max_decoding_steps is None else max_decoding_steps
        stop = end_marker_id if end_marker_id is not None and temperature == 0 else None
        result = self.generate(images, img_masks, tokens, masks, steps, stop_token_id=stop,
                               temperature=temperature, generator=generator)
        out = result.tokens
        if out.shape[1] < steps:
            out = torch.cat([out, out.new_zeros(out.shape[0], steps - out.shape[1])], dim=1)
        return out

    @torch.inference_mode()
    def generate(self, images, img_masks, tokens, masks, max_steps, *, stop_token_id=None,
                 temperature=0.0, generator=None, allowed_token_ids=None, constrain_after=0,
                 return_logits=False):
        """
        Decode up to max_steps tokens; stop early once every row has emitted stop_token_id.

        Inputs as sample_actions_fast_kv_cache (moved to the model's device if needed; the
        returned tensors stay there). Stopping is exact: tokens up to each row's first
        stop token are those a full-length decode gives (later columns of early-finishing rows
        are still decoded, batch-wise, until all rows are done). stop_token_id None decodes to
        max_steps. allowed_token_ids (ascending ids, e.g. FAST range + '|' + EOS) restricts
        steps >= constrain_after to those rows of the LM head (a matmul over ~2k rows instead of
        257k). Greedy results equal full-vocabulary greedy exactly when, at every constrained
        step, the full argmax is an allowed id (a well-formed "Action: <FAST> |" output) and no
        two allowed ids tie within rounding: the smaller matmul may round fp32 logits
        differently in the last ulp (bf16 and the LeRobot fixtures were bit-identical on CPU).
        return_logits: also return the float32 logits each token was chosen from (constrained
        steps: -inf outside the allowed ids), for parity checks.
        """
        if int(max_steps) < 1:
            raise ValueError(f'max_steps must be >= 1, got {max_steps}')
        if temperature < 0:
            raise ValueError(f'temperature must be >= 0, got {temperature}')
        device = self.model.device
        t0 = _now(device)
        images, img_masks, tokens, masks = _to_device(device, images, img_masks, tokens, masks)
        restricted = self._restriction(allowed_token_ids)
        hidden = self._prefill(images, img_masks, tokens, masks, int(max_steps))
        logits = [] if return_logits else None
        token = self._pick(hidden, 0, temperature, generator, restricted, constrain_after,
                           logits)
        t1 = _now(self.model.device)
        out, done = [token], None
        if stop_token_id is not None:
            done = token[:, 0] == stop_token_id
        for t in range(1, int(max_steps)):
            if done is not None and bool(done.all()):
                break
            hidden = self._step(self._state, token, t)
            token = self._pick(hidden, t, temperature, generator, restricted, constrain_after,
                               logits)
            out.append(token)
            if done is not None:
                done |= token[:, 0] == stop_token_id
        t2 = _now(self.model.device)
        result = self._result(torch.cat(out, dim=1), stop_token_id, done, t0, t1, t2)
        if return_logits:
            result.logits = torch.stack(logits, dim=1)
        return result

    def _prefill(self, images, img_masks, tokens, masks, max_steps):
        """Embed and run the prefix (LeRobot layout or compacted) -> normed last hidden."""
        if self.mode == 'exact':
            prefix = build_prefix(self.model, images, img_masks, tokens, masks,
                                  self.bos_token_id, self.batch_cameras)
            state = self._prepare(tokens.shape[0], prefix.length, max_steps)
            state.reset(prefix.pad)
            return prefill(self.model, prefix, state)
        prefix = build_compact_prefix(self.model, images, img_masks, tokens, masks,
                                      self.bos_token_id, self.batch_cameras)
        state = self._prepare(tokens.shape[0], prefix.capacity, max_steps)
        state.reset(prefix.valid)
        return prefill_compact(self.model, prefix, state)

    def _prepare(self, batch, capacity, max_steps):
        key = (batch, capacity, max_steps)
        if self._state is None or self._state.key() != key:
            self._state, self._step_fn = None, None  # free the old cache (and graph) first
            state = DecodeState(self.model, batch, capacity, max_steps)
            _log.debug('allocated decode state for batch %d, prefix capacity %d, %d steps',
                       *key)
            if self.mode == 'static':  # capture now, not at the first decode step
                self._step_fn = self.step_class(self.model, state)
            self._state = state
        return self._state

    def _step(self, state, token, t):
        if self.mode != 'static':
            return step_exact(self.model, state, token, t)
        return self._step_fn(token, t)

    def _restriction(self, allowed_token_ids):
        if allowed_token_ids is None:
            return None
        ids = tuple(int(i) for i in allowed_token_ids)
        if not ids or list(ids) != sorted(set(ids)) or ids[0] < 0 or \
                ids[-1] >= self.model.arch.vocab_size:
            raise ValueError('allowed_token_ids must be non-empty, strictly ascending and '
                             f'within [0, {self.model.arch.vocab_size})')
        if self._restricted is None or self._restricted[0] != ids:
            table = self.model.output_table
            ids_t = torch.tensor(ids, dtype=torch.long, device=table.device)
            self._restricted = (ids, ids_t, table.index_select(0, ids_t))
        return self._restricted

    def _pick(self, hidden, t, temperature, generator, restricted, constrain_after, keep=None):
        """Normed hidden [B, 1, W] -> next token [B, 1] (LeRobot M:733-739 / 785-791)."""
        if restricted is not None and t >= constrain_after:
            logits = torch.nn.functional.linear(hidden, restricted[2])[:, -1]
            if keep is not None:
                full = logits.new_full((logits.shape[0], self.model.arch.vocab_size),
                                       float('-inf'))
                keep.append(full.index_copy_(1, restricted[1], logits).float())
            return restricted[1][_choose(logits, temperature, generator)]
        logits = self.model.lm_head(hidden)[:, -1]
        if keep is not None:
            keep.append(logits.float())
        return _choose(logits, temperature, generator)

    def _result(self, tokens, stop_token_id, done, t0, t1, t2):
        n = tokens.shape[1]
        if stop_token_id is None:
            lengths = torch.full((tokens.shape[0],), n, dtype=torch.long, device=tokens.device)
        else:
            hit = tokens == stop_token_id
            first = hit.float().argmax(dim=1) + 1
            lengths = torch.where(hit.any(dim=1), first, torch.full_like(first, n))
        timings = {'prefill_ms': (t1 - t0) * 1e3, 'decode_ms': (t2 - t1) * 1e3,
                   'total_ms': (t2 - t0) * 1e3, 'steps': n,
                   'decode_ms_per_token': (t2 - t1) * 1e3 / max(n - 1, 1)}
        stopped = done is not None and bool(done.all())
        return GenerateResult(tokens, lengths, stopped, timings)


def _to_device(device, images, img_masks, tokens, masks):
    """Move LeRobot-convention inputs to `device` (a no-op when they are already there)."""
    for name, value in (('images', images), ('img_masks', img_masks)):
        if not isinstance(value, (list, tuple)) or not all(
                isinstance(v, torch.Tensor) for v in value):
            raise ValueError(f'{name} must be a list of tensors, one per camera slot')
    if not isinstance(tokens, torch.Tensor) or not isinstance(masks, torch.Tensor):
        raise ValueError('tokens and masks must be tensors')
    return ([img.to(device) for img in images], [m.to(device) for m in img_masks],
            tokens.to(device), masks.to(device))


def _choose(logits, temperature, generator):
    """[B, V] -> [B, 1]: argmax (first max) or multinomial(softmax(logits / T))."""
    if temperature > 0:
        probs = torch.softmax(logits / temperature, dim=-1)
        return torch.multinomial(probs, num_samples=1, generator=generator)
    return torch.argmax(logits, dim=-1, keepdim=True)


def _now(device):
    if device.type == 'cuda':
        torch.cuda.synchronize(device)
    return time.perf_counter()
