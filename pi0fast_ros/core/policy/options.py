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
PolicyOptions: how Pi0FastPolicy.from_pretrained loads and runs a checkpoint, checked once.

The engine mode and the token budget are only checked here; what they become on a device and
for a checkpoint is decided by model.engine.resolve_mode and decoding_budget.
"""

import dataclasses

from .detokenize import MODES as DETOKENIZE_MODES
from ..model.engine import decoding_budget, MODE_CHOICES


@dataclasses.dataclass(frozen=True)
class PolicyOptions:
    """
    Settings of Pi0FastPolicy.from_pretrained; every field has the documented default.

    device: torch device ('cpu', 'cuda', 'cuda:N', 'mps'). dtype: None (config.json's),
    'float32' or 'bfloat16'. fast_tokenizer / text_tokenizer: None (`<ckpt>/fast_tokenizer/`,
    `<ckpt>/text_tokenizer/`, then the names in config.json), a directory, or a loaded
    FastActionTokenizer / TextTokenizer. max_decoding_steps: token budget per chunk, None or 0
    for config.json's. stop_at_end_marker: stop greedy decoding at "|" (False: decode the whole
    budget, as LeRobot 0.4.4). progress: None or progress(fraction, message), called while
    loading. detokenize: 'strict' (robot default) or 'lerobot' (LeRobot 0.4.4's relaxed rules).
    require_end_marker: None (True for 'strict', False for 'lerobot', which keeps everything
    when there is no "|"). temperature: None (config.json's) or >= 0 (0: greedy). seed: None or
    an int seeding the sampler. constrained: after "Action: ", logits only over the FAST ids,
    "|" and EOS (identical to full greedy whenever the model's output is well-formed; it turns
    a malformed output into a well-formed one, so off by default). arch_hints: head counts for
    checkpoints without our size metadata (model.config.infer_arch). allow_download: fetch a
    tokenizer or checkpoint named by hub id. engine_mode: 'auto' (None is the same: 'compact'
    on CPU, 'static' on CUDA; see engine.resolve_mode), 'exact' (LeRobot's bits), 'compact' or
    'static'. lerobot_version: 'auto', '0.4' or '0.5' (lerobot_versions.py).
    Raises ValueError naming the field for an engine_mode, detokenize, max_decoding_steps or
    temperature it cannot take.
    """

    device: object = 'cpu'
    dtype: object = None
    fast_tokenizer: object = None
    text_tokenizer: object = None
    max_decoding_steps: int = None
    stop_at_end_marker: bool = True
    progress: object = None
    detokenize: str = 'strict'
    require_end_marker: bool = None
    temperature: float = None
    seed: int = None
    constrained: bool = False
    arch_hints: dict = None
    allow_download: bool = True
    engine_mode: str = 'auto'
    lerobot_version: str = 'auto'

    def __post_init__(self):
        if self.engine_mode is None:   # the old from_pretrained default, the same as 'auto'
            object.__setattr__(self, 'engine_mode', 'auto')
        if self.engine_mode not in MODE_CHOICES:
            raise ValueError(f'engine_mode must be one of {MODE_CHOICES}, got '
                             f'{self.engine_mode!r}')
        if self.detokenize not in DETOKENIZE_MODES:
            raise ValueError(f'detokenize must be one of {DETOKENIZE_MODES}, got '
                             f'{self.detokenize!r}')
        decoding_budget(self.max_decoding_steps, 1)   # raises for a bad value, before loading
        if self.temperature is not None and not self.temperature >= 0:
            raise ValueError(f'temperature must be None or >= 0, got {self.temperature!r}')

    @classmethod
    def build(cls, options=None, **overrides):
        """Return `options` (default: PolicyOptions()) with `overrides` replaced, validated."""
        if options is None:
            options = cls()
        elif not isinstance(options, cls):
            raise TypeError(f'options must be a PolicyOptions, got {type(options).__name__}')
        fields = {f.name for f in dataclasses.fields(cls)}
        unknown = sorted(set(overrides) - fields)
        if unknown:
            raise TypeError(f'unknown policy option(s) {unknown}; the options are '
                            f'{sorted(fields)}')
        return dataclasses.replace(options, **overrides) if overrides else options
