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

"""An ExecutorConfig for tests of the executor core: every field given, overrides on top."""

from pi0fast_ros.core.control.executor import ExecutorConfig

BASE = {'joint_names': ('a', 'b', 'grip'), 'action_rate_hz': 50.0, 'control_rate_hz': 50.0,
        'blend_steps': 4, 'blend_schedule': 'linear', 'blend_step_budget': 0.0,
        'blend_max_steps': 100, 'hard_switch_joints': (), 'interpolation': 'linear',
        'watchdog_timeout_s': 0.0, 'lower_limits': (), 'upper_limits': (),
        'max_velocity': (), 'start_enabled': True, 'envelope_margin': 0.2,
        'require_envelope': False,  # the envelope has its own tests (test_envelope.py)
        'max_future_s': 0.5}


def executor_config(**overrides):
    """Return ExecutorConfig(BASE with overrides); the core has no defaults of its own."""
    return ExecutorConfig(**{**BASE, **overrides})
