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
An ordered chain of adapters, built from a plain dict (what YAML or ROS parameters give).

Spec format (the ``adapters`` key of the ``/**`` section of config/<robot>.yaml)::

    adapters:
      chain: [flip, gripper]          # robot side first, policy side last
      flip:
        type: joint_flip              # defaults to the adapter's own name
        mask: [1, -1, -1, 1, 1, 1, 1, 1, -1, -1, 1, 1, 1, 1]
      gripper:
        type: aloha_gripper
        indices: [6, 13]
        constants: openpi             # or lerobot (the older constants)

``state_to_policy`` / ``robot_to_action`` apply the chain in order (robot -> policy);
``action_to_robot`` / ``policy_to_state`` apply the inverses in reverse order. Each adapter's
indices address the vector layout at its own position in the chain.
"""

import dataclasses

import numpy as np
import yaml

from .adapters import Adapter, AdapterSpecError, IndexMap, JointFlip, name_map, range_map
from .adapters import ScaleOffset
from .aloha_gripper import AlohaGripper


@dataclasses.dataclass(frozen=True)
class AdapterType:
    """A registered adapter type: its factory and its keys (key -> description)."""

    factory: object
    required: dict
    optional: dict

    def keys(self):
        return {**self.required, **self.optional}


_INDICES = 'vector indices the adapter acts on (empty or absent: all)'
ADAPTER_TYPES = {
    'joint_flip': AdapterType(
        JointFlip, {'mask': 'per-joint +1 / -1 multipliers (ALOHA joint-flip mask)'}, {}),
    'aloha_gripper': AdapterType(
        AlohaGripper, {},
        {'indices': 'gripper indices (default [6, 13])',
         'constants': "'openpi' (current, default) or 'lerobot' (older) gripper constants"}),
    'scale_offset': AdapterType(
        ScaleOffset, {'scale': 'policy = robot * scale + offset; one value or one per index'},
        {'offset': 'offset (default 0); one value or one per index', 'indices': _INDICES}),
    'range_map': AdapterType(
        range_map,
        {'robot_min': 'robot-side range start per index', 'robot_max': 'robot-side range end',
         'policy_min': 'policy-side range start', 'policy_max': 'policy-side range end'},
        {'indices': _INDICES}),
    'index_map': AdapterType(
        IndexMap, {'indices': 'permutation: policy[i] = robot[indices[i]]'}, {}),
    'name_map': AdapterType(
        name_map, {'robot_names': 'joint names in the robot-side order'},
        {'policy_names': 'joint names in the policy order (default: action_joint_names)'}),
}


class AdapterChain:
    """Compose adapters; the empty chain is the identity."""

    def __init__(self, adapters=()):
        self.adapters = list(adapters)

    def __len__(self):
        return len(self.adapters)

    def __repr__(self):
        return 'AdapterChain([' + ', '.join(f'{a.name}:{a.kind}' for a in self.adapters) + '])'

    def check_dim(self, dim):
        """Raise AdapterSpecError if any adapter cannot act on ``dim``-dim vectors."""
        for adapter in self.adapters:
            adapter.check_dim(dim)

    def _run(self, x, method, reverse):
        x = np.array(x, dtype=np.float64, copy=True)
        for adapter in (reversed(self.adapters) if reverse else self.adapters):
            x = getattr(adapter, method)(x)
        return x

    def state_to_policy(self, x):
        """Robot joint state [..., D] (robot order, robot units) -> policy state."""
        return self._run(x, 'state_to_policy', reverse=False)

    def policy_to_state(self, x):
        """Inverse of state_to_policy."""
        return self._run(x, 'policy_to_state', reverse=True)

    def action_to_robot(self, x):
        """Policy action [..., D] (policy order, after unnormalization) -> robot command."""
        return self._run(x, 'action_to_robot', reverse=True)

    def robot_to_action(self, x):
        """Inverse of action_to_robot (recorded robot command -> policy action)."""
        return self._run(x, 'robot_to_action', reverse=False)

    def robot_names(self, policy_names):
        """Robot-side joint order of a policy-side name list (index and name maps reorder)."""
        names = list(policy_names)
        for adapter in reversed(self.adapters):
            if isinstance(adapter, IndexMap):
                names = adapter.robot_names(names)
        return names


def _build_one(name, entry, policy_names):
    if not isinstance(entry, dict):
        raise AdapterSpecError(f'adapters.{name}: expected a mapping of keys, got {entry!r}')
    kind = entry.get('type', name)
    if kind not in ADAPTER_TYPES:
        raise AdapterSpecError(
            f'adapters.{name}.type: unknown adapter type {kind!r}; known: '
            f'{sorted(ADAPTER_TYPES)}')
    spec_type = ADAPTER_TYPES[kind]
    kwargs = {k: v for k, v in entry.items() if k != 'type'}
    unknown = sorted(set(kwargs) - set(spec_type.keys()))
    if unknown:
        raise AdapterSpecError(
            f'adapters.{name}: unknown keys {unknown} for type {kind}; allowed: '
            f'{sorted(spec_type.keys())}')
    if kind == 'name_map' and 'policy_names' not in kwargs and policy_names is not None:
        kwargs['policy_names'] = list(policy_names)
    missing = sorted(set(spec_type.required) - set(kwargs))
    if kind == 'name_map' and 'policy_names' not in kwargs:
        missing.append('policy_names')
    if missing:
        raise AdapterSpecError(f'adapters.{name}: type {kind} needs keys {missing}')
    try:
        return spec_type.factory(name, **kwargs)
    except (TypeError, ValueError) as exc:
        raise AdapterSpecError(f'adapters.{name}: {exc}') from exc


def build_adapter_chain(spec, policy_names=None):
    """
    Build an AdapterChain from a spec dict ``{'chain': [names], name: {type, keys...}}``.

    ``policy_names`` (the ``action_joint_names``) fills name maps' default and, when given,
    every adapter is checked against ``len(policy_names)``. ``None`` or ``{}`` gives the
    identity chain. Raises AdapterSpecError with the offending key on any invalid entry.
    """
    spec = dict(spec or {})
    names = spec.get('chain') or []
    if isinstance(names, str) or not all(isinstance(n, str) and n for n in names):
        raise AdapterSpecError(f'adapters.chain: expected a list of names, got {names!r}')
    if len(set(names)) != len(names):
        raise AdapterSpecError(f'adapters.chain: names must be unique, got {names}')
    undefined = [n for n in names if n not in spec]
    if undefined:
        raise AdapterSpecError(f'adapters.chain names {undefined} have no adapters.<name> '
                               f'entry')
    adapters = [_build_one(n, spec[n], policy_names) for n in names]
    if policy_names is not None:
        for adapter in adapters:
            try:
                adapter.check_dim(len(policy_names))
            except AdapterSpecError as exc:
                raise AdapterSpecError(f'adapters.{adapter.name}: {exc}') from exc
    return AdapterChain(adapters)


def _flatten(tree, prefix=''):
    # ROS parameter files may nest keys or write them dotted: both mean the same parameter.
    flat = {}
    for key, value in (tree or {}).items():
        name = f'{prefix}{key}'
        if isinstance(value, dict):
            flat.update(_flatten(value, name + '.'))
        else:
            flat[name] = value
    return flat


def load_adapter_spec(params_file, node_name=None):
    """
    Read the adapter spec from a ROS 2 parameters YAML file without ROS.

    Takes the ``adapters.*`` parameters of the ``/**`` section, then lets the ``node_name``
    section (if given) override them key by key, the precedence rcl applies. Returns the spec
    dict in build_adapter_chain's format ({} if the file has no adapters).
    """
    with open(params_file, encoding='utf-8') as f:
        doc = yaml.safe_load(f) or {}
    flat = {}
    node_sections = (node_name, f'/{node_name}', f'/**/{node_name}') if node_name else ()
    for section in ('/**', *node_sections):
        if section and isinstance(doc.get(section), dict):
            flat.update(_flatten(doc[section].get('ros__parameters')))
    spec = {}
    for key, value in flat.items():
        parts = key.split('.')
        if parts[0] != 'adapters' or len(parts) < 2:
            continue
        if len(parts) == 2:
            spec[parts[1]] = value
        else:
            spec.setdefault(parts[1], {})['.'.join(parts[2:])] = value
    return spec


__all__ = ['ADAPTER_TYPES', 'Adapter', 'AdapterChain', 'AdapterSpecError',
           'build_adapter_chain', 'load_adapter_spec']
