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
The PI0-FAST prompt: "Task: {task}, State: {bins};\n" (P:224-247).

The state arrives here already normalized (normalize.py). LeRobot 0.4.4 zero-pads it to
max_state_dim (32 bins listed); LeRobot >= 0.5 lists only the real dims (max_state_dim None
here). It is cut into 256 bins with LeRobot's exact numpy call, including its edge behaviour
(facts §2):
s < -1 -> -1, s = -1 -> 0, 0 -> 128 (so the padding prints as "128"), s >= 0.9921875 -> 255,
NaN -> 255. The policy facade refuses NaN/inf state before this point.
"""

import numpy as np

STATE_BINS = 256
# np.linspace(-1, 1, 257)[:-1]: the left edges of the 256 bins (float64, as LeRobot).
_BIN_EDGES = np.linspace(-1, 1, STATE_BINS + 1)[:-1]


def pad_state(state, max_state_dim):
    """Zero-pad the last axis to max_state_dim; longer vectors pass unchanged (M:64-72)."""
    state = np.asarray(state)
    missing = max_state_dim - state.shape[-1]
    if missing <= 0:
        return state
    return np.pad(state, [(0, 0)] * (state.ndim - 1) + [(0, missing)])


def discretize_state(state_normalized, max_state_dim=32):
    """
    Bin a normalized state (float32, [..., D]) as LeRobot: int64 [..., max(D, max_state_dim)].

    max_state_dim None: no padding (LeRobot >= 0.5), int64 [..., D]. np.digitize compares the
    float32 values against float64 edges, exactly like P:238.
    """
    padded = np.asarray(state_normalized)
    if max_state_dim is not None:
        padded = pad_state(padded, max_state_dim)
    return np.digitize(padded, bins=_BIN_EDGES) - 1


def clean_task(task):
    r"""Clean a task as LeRobot does: strip, "_" -> " ", "\n" -> " " (P:242); keep the case."""
    return task.strip().replace('_', ' ').replace('\n', ' ')


def build_prompt(task, state_bins):
    r"""Return the prompt text of one sample: "Task: {cleaned task}, State: {bins};\n"."""
    state_str = ' '.join(str(int(b)) for b in np.asarray(state_bins).reshape(-1))
    return f'Task: {clean_task(task)}, State: {state_str};\n'
