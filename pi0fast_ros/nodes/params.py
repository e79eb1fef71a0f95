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
Declarative parameter tables: one per node, plus SHARED for the keys several nodes read.

A table is a tuple of Param entries (name, kind, default, description, limits, read-only). A
node declares its table with ``common.declare_table(node, TABLE)`` (a ParameterDescriptor per
entry) and passes the values to its own ``validate(values)``, a pure function that returns a
frozen config or raises StartupError naming the parameter. ``check_values`` here does the part
every table shares: known names, types and ranges, defaults for what is left out. No rclpy:
config errors are unit-tested without starting a node.

The default a user gets is the table's: the ROS-free core (core/control/) takes values only.
"""

import dataclasses
import math


class StartupError(RuntimeError):
    """A node cannot start (bad parameter, missing checkpoint): the message says why."""


# The kinds of parameter (checked by check_values). Lists are tuples in configs.
TYPES = ('bool', 'int', 'float', 'str', 'str_list', 'float_list', 'number_list')


@dataclasses.dataclass(frozen=True)
class Param:
    """
    One parameter: its name, kind (its type, one of TYPES), default, description, limits.

    limits: the range (min, max), inclusive, for int and float, else None. read_only: a change
    needs a restart (false: the node reads the live value). number_list: a list of numbers
    that YAML may write as integers or doubles (declared with dynamic typing); a single number
    is a list of one. List defaults are empty (a parameters file cannot give a typed empty
    list).
    """

    name: str
    kind: str
    default: object
    description: str
    limits: tuple = None
    read_only: bool = True

    def __post_init__(self):
        if self.kind not in TYPES:
            raise ValueError(f'{self.name}: unknown parameter type {self.kind!r}')
        if self.limits is not None and self.kind not in ('int', 'float'):
            raise ValueError(f'{self.name}: a range needs an int or float parameter')
        if self.kind.endswith('_list') and tuple(self.default) != ():
            raise ValueError(f'{self.name}: list parameters default to []')
        if self.kind == 'float' and not isinstance(self.default, float):
            raise ValueError(f'{self.name}: a float parameter needs a float default')
        checked = _check_type(self, self.default)
        if self.limits is not None:
            _check_range(self, checked)

    def describe(self, description):
        """Return this entry with another description (a shared key, said for one node)."""
        return dataclasses.replace(self, description=description)


def table(*entries):
    """Return entries as a tuple, refusing a name given twice."""
    names = [p.name for p in entries]
    twice = sorted({n for n in names if names.count(n) > 1})
    if twice:
        raise ValueError(f'parameters declared twice: {twice}')
    return tuple(entries)


def defaults(params):
    """Return {name: default} of a table."""
    return {p.name: p.default for p in params}


_WHAT = {'bool': 'true or false', 'int': 'an integer', 'float': 'a number', 'str': 'a string',
         'str_list': 'a list of strings', 'float_list': 'a list of numbers',
         'number_list': 'a list of numbers'}


def _is_number(value):
    return isinstance(value, (int, float)) and not isinstance(value, bool)


def _check_type(param, value):
    kind, name = param.kind, param.name
    if kind == 'bool' and isinstance(value, bool):
        return value
    if kind == 'int' and isinstance(value, int) and not isinstance(value, bool):
        return value
    if kind == 'float' and _is_number(value):
        return float(value)
    if kind == 'str' and isinstance(value, str):
        return value
    if kind == 'number_list' and _is_number(value):
        value = [value]
    if kind.endswith('_list') and not isinstance(value, (str, bytes, dict)):
        try:
            items = tuple(value)
        except TypeError:
            items = None
        element = {'str_list': lambda v: isinstance(v, str)}.get(kind, _is_number)
        if items is not None and all(element(v) for v in items):
            return items if kind == 'str_list' else tuple(float(v) for v in items)
    raise StartupError(f'parameter {name}: expected {_WHAT[kind]}, got {value!r}')


def _check_range(param, value):
    low, high = param.limits
    if math.isnan(value) or not low <= value <= high:
        raise StartupError(f'parameter {param.name}: {value!r} is outside its range '
                           f'[{low}, {high}]')


def check_values(params, values):
    """
    Check values against a table; return {name: value} for every entry of it.

    Types and ranges as the table says (numbers become float where the type is float, lists
    become tuples); an entry missing from values gets its default. Raises StartupError for an
    unknown name, a wrong type or a value outside the range.
    """
    by_name = {p.name: p for p in params}
    unknown = sorted(set(values) - set(by_name))
    if unknown:
        raise StartupError(f'unknown parameters: {unknown}')
    checked = {}
    for param in params:
        value = _check_type(param, values.get(param.name, param.default))
        if param.limits is not None:
            _check_range(param, value)
        checked[param.name] = value
    return checked


def choice(value, name, choices):
    """Return value if it is one of choices, else raise StartupError naming the parameter."""
    if value not in choices:
        raise StartupError(f'parameter {name}: {value!r} is not one of {list(choices)}')
    return value


def unique_names(names, name, allow_empty=False):
    """Return names as a tuple if they are unique and non-empty, else raise StartupError."""
    names = tuple(names)
    if (not names and not allow_empty) or len(set(names)) != len(names) or not all(names):
        raise StartupError(f'parameter {name}: expected unique non-empty names, got '
                           f'{list(names)}')
    return names


# The keys several nodes read, declared alike wherever they are: the /** section of the config
# files sets the first three for the whole graph. A node takes the entries it reads, with a
# description of its own where the meaning is said per node (Param.describe).
SHARED = {p.name: p for p in table(
    Param('action_joint_names', 'str_list', (), 'Names of the action vector of the policy, in '
          'order (shared /** key): the joint_names of every chunk.'),
    Param('action_rate_hz', 'float', 30.0, 'Rate of the training data (shared /** key): point '
          'i of a chunk is at i / action_rate_hz.', (0.1, 1000.0)),
    Param('adapters.chain', 'str_list', (), 'Embodiment adapters applied in order from the '
          'robot side to the policy side (shared /** key; empty: identity); each name has its '
          'own adapters.<name>.* keys.'),
    # 1-99 is the SCHED_FIFO range of Linux (sched_get_priority_max); nothing here adds 1 to it.
    Param('realtime_priority', 'int', 0, 'SCHED_FIFO priority (1-99) of the time-critical '
          'threads of the node; 0: normal scheduling. Needs CAP_SYS_NICE or an rtprio limit '
          '(warns and runs without).', (0, 99)),
    Param('diagnostics_period_s', 'float', 1.0, 'Period of the /diagnostics status.',
          (0.05, 60.0)),
    Param('envelope_margin', 'float', 0.2, 'Fraction of a range added on each side of an '
          'envelope.', (0.0, 10.0)),
)}
