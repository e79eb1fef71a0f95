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
Fit the node's setup to the checkpoint, then load the policy facade; clear errors throughout.

`plan_inputs` reads only the checkpoint's config.json, so a wrong camera slot, joint list or
adapter spec is reported in a second, before minutes of loading a 3B model.
"""

import dataclasses
import time

from .config import resolve_slots
from ..adapter_params import adapter_chain_from_parameters
from ..common import StartupError

# LeRobot appends `empty_camera_i` padding slots; they are always missing (core/policy/facade.py).
EMPTY_CAMERA = 'observation.images.empty_camera_'


@dataclasses.dataclass(frozen=True)
class InputPlan:
    """What the node feeds the model, checked against the checkpoint config."""

    camera_slots: tuple       # the checkpoint's image slots (padding slots excluded)
    camera_inputs: dict       # checkpoint slot -> CameraInput, for every slot with a topic
    masked: list              # checkpoint slots with no topic
    state_names: tuple        # joint_states names forming the state, in robot-side order
    state_transform: object   # callable robot state -> policy state, or None (identity)
    state_dim: int
    action_dim: int


def plan_inputs(node, config):
    """Check cameras, joints and adapters against <checkpoint>/config.json; return a plan."""
    from ...core.policy.checkpoint import read_config as read_checkpoint_config
    try:
        ckpt = read_checkpoint_config(config.checkpoint_path)
    except Exception as exc:  # CheckpointError, OSError, JSON errors: all fatal, with reason
        raise StartupError(f'cannot read the checkpoint config in {config.checkpoint_path}: '
                           f'{type(exc).__name__}: {exc}') from exc
    slots = tuple(k for k in ckpt.camera_keys if not k.startswith(EMPTY_CAMERA))
    inputs, masked = resolve_slots(config.cameras, slots)
    if len(config.action_joint_names) != ckpt.action_dim:
        raise StartupError(f'action_joint_names has {len(config.action_joint_names)} names '
                           f'but the actions of the checkpoint have {ckpt.action_dim} dims')
    names, transform = state_transform_for(node, config, ckpt.state_dim)
    return InputPlan(slots, inputs, masked, names, transform, ckpt.state_dim, ckpt.action_dim)


def check_policy_fits(policy, plan):
    """Raise StartupError if the loaded policy disagrees with the plan made from its config."""
    loaded = (tuple(policy.camera_slots), policy.state_dim, policy.action_dim)
    if loaded != (plan.camera_slots, plan.state_dim, plan.action_dim):
        raise StartupError(f'the loaded policy has slots/state/action {loaded}, its config '
                           f'said {(plan.camera_slots, plan.state_dim, plan.action_dim)}')


def load_policy(config, logger):
    """Load Pi0FastPolicy with the node's parameters; progress goes to the log."""
    logger.info(f'loading checkpoint {config.checkpoint_path} on {config.device} '
                f'(dtype {config.dtype}) ...')
    if config.torch_threads:
        import torch
        # Process-wide: the worker thread inherits it. On an oversubscribed CPU, torch's
        # default (one OpenMP thread per core) can be ~10x slower than a single thread.
        torch.set_num_threads(config.torch_threads)
    start = time.perf_counter()
    try:
        from ...core.policy.facade import Pi0FastPolicy
        policy = Pi0FastPolicy.from_pretrained(
            config.checkpoint_path, device=config.device,
            dtype=None if config.dtype == 'auto' else config.dtype,
            fast_tokenizer=config.fast_tokenizer_path or None,
            text_tokenizer=config.text_tokenizer_path or None,
            max_decoding_steps=config.max_decoding_steps,
            stop_at_end_marker=config.stop_at_end_marker, engine_mode=config.engine_mode,
            lerobot_version=config.lerobot_version, allow_download=config.allow_download,
            progress=_progress_logger(logger))
    except Exception as exc:  # any load failure is fatal, with its reason
        raise StartupError(f'cannot load the policy from {config.checkpoint_path}: '
                           f'{type(exc).__name__}: {exc}') from exc
    logger.info(f'loaded in {time.perf_counter() - start:.1f} s: camera slots '
                f'{list(policy.camera_slots)}, state dim {policy.state_dim}, actions '
                f'{policy.horizon} x {policy.action_dim}')
    logger.info(policy.semantics.describe())
    if policy.relative is not None:
        logger.info(policy.relative.describe())
    return policy


def hash_loaded_weights(policy, logger):
    """
    Return the sha256 of the loaded checkpoint's weight files, hashed once; log the time.

    Streamed (core.checkpoint_hash; 0.3-0.5 GB/s measured on the busy 2-core machine, i.e.
    seconds per GB), paid once at start-up; every chunk_info then names the weights that
    computed it.
    """
    from ...core.policy.checkpoint_hash import hash_weights
    try:
        weights = hash_weights(policy.path)
    except OSError as exc:
        raise StartupError(f'cannot hash the weights of {policy.path}: {exc}') from exc
    logger.info(f'checkpoint {weights.describe()}')
    return weights.sha256


def _progress_logger(logger):
    """Return a progress(fraction, message) callback logging one line per 10 % step."""
    last = [-1]

    def progress(fraction, message):
        step = int(fraction * 10)
        if step != last[0]:
            last[0] = step
            logger.info(f'loading {int(fraction * 100):3d}%: {message}')

    return progress


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
