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
The policy pipeline, observation in and action chunk out.

Checkpoint and LeRobot config, prompt, images, normalization, detokenization, and the
facade (`Pi0FastPolicy`, its settings `PolicyOptions`).
"""

_EXPORTS = {
    'InvalidObservationError': '.facade',
    'Pi0FastPolicy': '.facade',
    'PolicyOptions': '.options',
    'PolicyResult': '.facade',
    'PreparedInput': '.facade',
}
__all__ = sorted(_EXPORTS)


def __getattr__(name):
    # Lazy: importing a light submodule does not import the heavy ones
    # (the recorder imports checkpoint_hash, which must not pull in torch).
    if name in _EXPORTS:
        from importlib import import_module
        return getattr(import_module(_EXPORTS[name], __name__), name)
    raise AttributeError(f'module {__name__!r} has no attribute {name!r}')
