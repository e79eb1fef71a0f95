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
Declare and read a node's ``adapters.*`` parameters (the embodiment adapter spec).

The policy node uses the result for the state side (robot joint state -> policy state), the
executor for the action side, so one YAML section describes the embodiment for both::

    spec = declare_adapter_parameters(node)                       # plain dict
    chain = adapter_chain_from_parameters(node, action_joint_names)  # or build it directly
"""

import dataclasses

from pi0fast_ros.core.control.adapter_chain import ADAPTER_TYPES, AdapterSpecError
from pi0fast_ros.core.control.adapter_chain import build_adapter_chain
from pi0fast_ros.nodes.common import declare, declare_optional, declare_param, StartupError
from pi0fast_ros.nodes.params import SHARED


def _plain(value):
    # rclpy returns arrays as array.array / lists: hand out plain lists.
    if value is None or isinstance(value, (str, bool, int, float)):
        return value
    return list(value)


def declare_adapter_parameters(node, prefix='adapters'):
    """
    Declare ``<prefix>.chain`` and each listed adapter's keys (read-only); return the spec.

    The returned dict has build_adapter_chain's format; keys the parameters leave unset are
    absent, so the core's defaults apply. Raises StartupError for an unknown adapter type.
    """
    entry = SHARED['adapters.chain']
    if prefix != 'adapters':
        entry = dataclasses.replace(entry, name=f'{prefix}.chain')
    chain = declare_param(node, entry) or []
    spec = {'chain': list(chain)}
    for name in chain:
        kind = declare(node, f'{prefix}.{name}.type', name,
                       f'adapter type of {name!r}, one of {sorted(ADAPTER_TYPES)}',
                       read_only=True)
        if kind not in ADAPTER_TYPES:
            raise StartupError(f'parameter {prefix}.{name}.type: unknown adapter type '
                               f'{kind!r}; known: {sorted(ADAPTER_TYPES)}')
        entry = {'type': kind}
        for key, description in ADAPTER_TYPES[kind].keys().items():
            # Dynamic typing: YAML writes [1, -1] as integers and [0.5] as doubles. A key
            # left out is not kept declared (no value; the core's default applies).
            value = declare_optional(node, f'{prefix}.{name}.{key}', description)
            if value is not None:
                entry[key] = _plain(value)
        spec[name] = entry
    return spec


def adapter_chain_from_parameters(node, policy_names, prefix='adapters'):
    """Declare the adapter parameters and build the chain; errors become StartupError."""
    spec = declare_adapter_parameters(node, prefix)
    try:
        return build_adapter_chain(spec, policy_names)
    except AdapterSpecError as exc:
        raise StartupError(f'invalid adapter parameters: {exc}') from exc
