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

"""Small helpers every node uses: main() boilerplate, parameter declaration, diagnostics."""

import time
import traceback

from diagnostic_msgs.msg import DiagnosticStatus, KeyValue
from rcl_interfaces.msg import FloatingPointRange, IntegerRange, ParameterDescriptor
import rclpy
from rclpy.exceptions import ParameterException
from rclpy.executors import ExternalShutdownException, SingleThreadedExecutor
from rclpy.parameter import Parameter
from rclpy.signals import SignalHandlerOptions

from .params import StartupError
from .signals import StopSignals

LEVELS = {'ok': DiagnosticStatus.OK, 'warn': DiagnosticStatus.WARN,
          'error': DiagnosticStatus.ERROR, 'stale': DiagnosticStatus.STALE}


# After a fatal start-up error, the node stays up before it is destroyed: /rosout is
# transient-local, so a subscriber that matches meanwhile (ros2 topic echo /rosout, a log
# collector) still receives the FATAL line that says why. It waits until a /rosout subscriber
# is on the graph (then STARTUP_FAILURE_DELIVER_S for the delivery), at most
# STARTUP_FAILURE_LINGER_S: DDS discovery of a new participant can take one announcement period
# (~3 s) when its first announcements are missed.
STARTUP_FAILURE_LINGER_S = 4.0
STARTUP_FAILURE_DELIVER_S = 0.5
# How often the spin loop looks at the stop request when no callback is due.
SPIN_WAKE_S = 0.1


def run_node(node_class, args=None):
    """
    Build a node of node_class, spin it on a SingleThreadedExecutor until SIGINT or SIGTERM.

    One executor thread for every node: their callbacks only store or forward a message
    (long work has threads of its own: the policy worker, the control tick, the bag writer),
    and rclpy's MultiThreadedExecutor reruns its Python wait loop for every callback it hands
    out, holding the GIL the other threads need. Measured on the 2-core machine: policy node
    overhead p99 ~11 ms vs 33-75 ms (bench_policy_node.py); fake_robot's 100 Hz joint states
    in the demo, largest gap ~65 ms vs 250-490 ms.

    Signals are handled by StopSignals (see there): one, two or more SIGINTs end the process
    with status 0 and no traceback. A node that cannot be built logs why as FATAL with its own
    logger (so it reaches /rosout under the node's name), stays up STARTUP_FAILURE_LINGER_S for
    /rosout, and the process exits 1; launchers stop the graph on that (graph.py).
    Uses the classic init/try/finally form, which works on Humble, Jazzy and Kilted alike.
    """
    signals = StopSignals.for_process()
    node, executor = node_class.__new__(node_class), None
    try:
        try:
            rclpy.init(args=args, signal_handler_options=SignalHandlerOptions.NO)
            node.__init__()
        except BaseException as exc:  # noqa: B902 - every way a start-up can end is handled
            signals.interrupt_startup = False
            return _startup_ended(node, exc, signals)
        signals.interrupt_startup = False
        executor = SingleThreadedExecutor()
        executor.add_node(node)
        while not signals.stop.is_set():
            executor.spin_once(timeout_sec=SPIN_WAKE_S)
    except ExternalShutdownException:
        pass
    finally:
        signals.interrupt_startup = False
        _tear_down(node, executor)
        signals.ignore()
    return 0


def _startup_ended(node, exc, signals):
    """Report a node construction that did not finish; return the exit status."""
    if signals.count:
        # Interrupted while starting (the exception may be a KeyboardInterrupt or whatever
        # the interrupted code turned it into): a stop, not a failure.
        _logger(node).info('stopped during start-up')
        return 0
    if isinstance(exc, StartupError):
        _logger(node).fatal(str(exc))
    else:
        _logger(node).fatal(f'cannot start: {type(exc).__name__}: {exc}')
        traceback.print_exception(exc)
    _linger_for_rosout(node, signals.stop)
    return 1


def _linger_for_rosout(node, stop):
    """Stay up until /rosout has a subscriber to deliver the FATAL line to (bounded)."""
    deadline = time.monotonic() + STARTUP_FAILURE_LINGER_S
    while not stop.is_set() and time.monotonic() < deadline:
        try:
            seen = node.count_subscribers('/rosout') > 0
        except Exception:  # noqa: B902 - no node (its construction failed early): just wait
            seen = False
        if seen:
            stop.wait(min(STARTUP_FAILURE_DELIVER_S, max(0.0, deadline - time.monotonic())))
            return
        stop.wait(0.05)


def _logger(node):
    """Return the node's logger (reaches /rosout), or a named one if there is no node."""
    try:
        return node.get_logger()
    except Exception:  # node.__init__ failed before rclpy's Node.__init__ finished
        return rclpy.logging.get_logger('pi0fast_ros')


def _tear_down(node, executor):
    """Destroy the node and shut rclpy down; nothing here is interrupted by a signal."""
    if executor is not None:
        executor.shutdown(timeout_sec=1.0)
    handle = getattr(node, 'handle', None)
    try:
        if handle is not None:
            node.destroy_node()
    except Exception as exc:  # report it, but still shut down
        if executor is None and isinstance(exc, AttributeError):
            # Never fully built: a signal stopped rclpy's Node.__init__ part way, and
            # destroy_node needs what it had not built yet. Release the rcl node itself.
            handle.destroy_when_not_in_use()
        else:
            rclpy.logging.get_logger('pi0fast_ros').error(
                f'destroying the node failed: {type(exc).__name__}: {exc}')
    rclpy.try_shutdown()


# StartupError is defined in params.py (no rclpy there) and imported from either module.
LIST_TYPES = {'str_list': Parameter.Type.STRING_ARRAY, 'float_list': Parameter.Type.DOUBLE_ARRAY,
              'number_list': Parameter.Type.DOUBLE_ARRAY}


def declare_table(node, params):
    """
    Declare every entry of a parameter table (params.py) on node; return {name: value}.

    Each gets a descriptor with its description, range and read-only flag. A value the
    parameters files give outside the range or of the wrong type is a StartupError.
    """
    try:
        return {p.name: _plain(declare_param(node, p)) for p in params}
    except ParameterException as exc:
        raise StartupError(f'invalid parameter: {exc}') from None


def declare_param(node, param):
    """Declare one table entry on node and return its value."""
    span = {}
    if param.limits is not None:
        span = {'min_value': param.limits[0], 'max_value': param.limits[1]}
    default = LIST_TYPES.get(param.kind, param.default)
    return declare(node, param.name, default, param.description, read_only=param.read_only,
                   dynamic_typing=param.kind == 'number_list', **span)


def _plain(value):
    # rclpy hands arrays out as array.array or lists: plain tuples for the tables.
    if value is None or isinstance(value, (str, bool, int, float)):
        return value
    return tuple(value)


def declare(node, name, default, description, *, read_only=False, min_value=None,
            max_value=None, dynamic_typing=False):
    """
    Declare a parameter with a descriptor (description and range) and return its value.

    default: the value, or an array Parameter.Type (e.g. Parameter.Type.STRING_ARRAY) for a
    list that defaults to the empty list (see declare_list).
    """
    descriptor = ParameterDescriptor(description=description, read_only=read_only,
                                     dynamic_typing=dynamic_typing)
    if isinstance(default, Parameter.Type):
        return declare_list(node, name, default, descriptor)
    if min_value is not None or max_value is not None:
        if isinstance(default, bool) or not isinstance(default, (int, float)):
            raise TypeError(f'range given for non-numeric parameter {name}')
        if isinstance(default, int):
            descriptor.integer_range = [IntegerRange(
                from_value=int(min_value), to_value=int(max_value), step=0)]
        else:
            descriptor.floating_point_range = [FloatingPointRange(
                from_value=float(min_value), to_value=float(max_value), step=0.0)]
    return node.declare_parameter(name, default, descriptor).value


def declare_list(node, name, list_type, descriptor):
    """
    Declare a list parameter whose default is the empty list of list_type; return its value.

    Every parameter must have a value: rclpy answers a get_parameters request that names a
    parameter without one with no values at all, so `ros2 param dump` printed
    `ros__parameters: {}` for the whole node. But rclpy cannot declare a typed empty list (it
    takes [] for a byte array), and rcl reads `[]` in a parameters file as "no value". So the
    parameter is declared writable, given `[]` of its type when it has no value, and only then
    made read-only as described. A dynamically typed list (numbers that YAML may write as
    integers) keeps the type its value came with.
    """
    final = ParameterDescriptor(description=descriptor.description,
                                read_only=descriptor.read_only,
                                dynamic_typing=descriptor.dynamic_typing)
    writable = ParameterDescriptor(description=descriptor.description,
                                   dynamic_typing=descriptor.dynamic_typing)
    if descriptor.dynamic_typing:
        declared = node.declare_parameter(name, None, writable)
    else:
        declared = node.declare_parameter(name, list_type, writable)
        final.type = list_type.value
    if declared.type_ == Parameter.Type.NOT_SET:
        result = node.set_parameters([Parameter(name, list_type, [])])[0]
        if not result.successful:
            raise StartupError(f'parameter {name}: cannot set it to []: {result.reason}')
    if final.read_only:
        node.set_descriptor(name, final)
    return node.get_parameter(name).value


def declare_optional(node, name, description):
    """
    Declare a read-only, dynamically typed parameter that may be left out; return its value.

    When the parameters files leave it out (or give `[]`, which rcl reads as no value) the
    parameter is not kept declared and None is returned: a parameter without a value would
    empty `ros2 param dump` (see declare_list), and a dump then reloads to the same state.
    """
    declared = node.declare_parameter(name, None, ParameterDescriptor(
        description=description, dynamic_typing=True))
    if declared.type_ == Parameter.Type.NOT_SET:
        node.undeclare_parameter(name)
        return None
    node.set_descriptor(name, ParameterDescriptor(description=description, read_only=True,
                                                  dynamic_typing=True))
    return node.get_parameter(name).value


def make_status(node, level, message, values=None, name_suffix=''):
    """Build a DiagnosticStatus named after the node; values is a dict rendered as strings."""
    status = DiagnosticStatus()
    status.level = LEVELS[level] if isinstance(level, str) else level
    status.name = node.get_fully_qualified_name().lstrip('/') + name_suffix
    status.hardware_id = node.get_name()
    status.message = message
    status.values = [KeyValue(key=str(k), value=str(v)) for k, v in (values or {}).items()]
    return status
