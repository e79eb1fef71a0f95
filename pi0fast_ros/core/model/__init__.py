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
PaliGemma (SigLIP + Gemma) with LeRobot 0.4.4's patched numerics, and its decoders.

- `PaliGemma` (paligemma.py): the network; weights come from core/policy/checkpoint.py.
- `Pi0FastEngine` (engine.py): static-KV-cache generation, LeRobot's token-level API.

The slow baselines that tests and benchmarks compare against (LeRobot's growing-cache loop and
a full-recompute oracle) live in `pi0fast_ros.testing`, not here: they never run on a robot.
"""

from .config import ArchConfig, ArchError, infer_arch, TINY, VARIANTS
from .engine import GenerateResult, Pi0FastEngine
from .paligemma import PaliGemma

__all__ = ['ArchConfig', 'ArchError', 'GenerateResult', 'PaliGemma', 'Pi0FastEngine', 'TINY',
           'VARIANTS', 'infer_arch']
