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

"""Load the policy facade for the node, and build the state-side transform, with clear errors."""

import time

from .adapter_params import adapter_chain_from_parameters
from .common import StartupError


def load_policy(config, logger):
    """Pi0FastPolicy.from_pretrained with the node's parameters; progress goes to the log."""
    logger.info(f'loading checkpoint {config.checkpoint_path} on {config.device} '
                f'(dtype {config.dtype}) ...')
    start = time.perf_counter()
    try:
        from ..core.policy import Pi0FastPolicy
        policy = Pi0FastPolicy.from_pretrained(
            config.checkpoint_path, device=config.device,
            dtype=None if config.dtype == 'auto' else config.dtype,
            fast_tokenizer=config.fast_tokenizer_path or None,
            text_tokenizer=config.text_tokenizer_path or None,
            max_decoding_steps=config.max_decoding_steps or None,
            stop_at_end_marker=config.stop_at_end_marker,
            progress=lambda text: logger.info(f'loading: {text}'))
    except Exception as exc:  # any load failure is fatal, with its reason
        raise StartupError(f'cannot load the policy from {config.checkpoint_path}: '
                           f'{type(exc).__name__}: {exc}') from exc
    logger.info(f'loaded in {time.perf_counter() - start:.1f} s: camera slots '
                f'{list(policy.camera_slots)}, state dim {policy.state_dim}, actions '
                f'{policy.horizon} x {policy.action_dim}')
    return policy


def state_transform_for(node, config, state_dim):
    """
    Build the robot -> policy state transform from the `adapters.*` parameters.

    Returns (state_joint_names, transform): the joint_states names to read, in the robot-side
    order the adapter chain expects, and a callable float [n] -> float64 [state_dim] (None for
    the identity chain). The chain is the executor's (one spec per embodiment); it acts on
    vectors laid out like the action (action_joint_names), so with a non-empty chain the
    checkpoint state must have as many dims as there are action joints.
    """
    chain = adapter_chain_from_parameters(node, config.action_joint_names)
    names = config.state_joint_names or tuple(chain.robot_names(config.action_joint_names))
    if len(names) != state_dim:
        raise StartupError(f'state_joint_names has {len(names)} joints {list(names)} but the '
                           f'checkpoint state has {state_dim} dims')
    if not len(chain):
        return names, None
    if len(config.action_joint_names) != state_dim:
        raise StartupError(f'the adapters act on {len(config.action_joint_names)}-dim vectors '
                           f'(action_joint_names) but the checkpoint state has {state_dim} dims')
    node.get_logger().info(f'state adapters: {chain!r}')
    return names, chain.state_to_policy
