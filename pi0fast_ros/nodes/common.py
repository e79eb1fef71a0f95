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

from diagnostic_msgs.msg import DiagnosticStatus, KeyValue
from rcl_interfaces.msg import FloatingPointRange, IntegerRange, ParameterDescriptor
import rclpy
from rclpy.executors import ExternalShutdownException, SingleThreadedExecutor

LEVELS = {'ok': DiagnosticStatus.OK, 'warn': DiagnosticStatus.WARN,
          'error': DiagnosticStatus.ERROR, 'stale': DiagnosticStatus.STALE}


def run_node(node_factory, args=None):
    """
    Create a node, spin it on a SingleThreadedExecutor, shut down cleanly on Ctrl-C.

    One executor thread for every node: their callbacks only store or forward a message
    (long work has threads of its own: the policy worker, the control tick, the bag writer),
    and rclpy's MultiThreadedExecutor reruns its Python wait loop for every callback it hands
    out, holding the GIL the other threads need. Measured on the 2-core machine: policy node
    overhead p99 ~11 ms vs 33-75 ms (bench_policy_node.py); fake_robot's 100 Hz joint states
    in the demo, largest gap ~65 ms vs 250-490 ms.

    Uses the classic init/try/finally form, which works on Humble, Jazzy and Kilted alike.
    Returns a process exit code: 0, or 1 when the node could not be constructed (the reason
    has been logged by the node or is printed here).
    """
    rclpy.init(args=args)
    node = None
    try:
        node = node_factory()
        executor = SingleThreadedExecutor()
        executor.add_node(node)
        executor.spin()
    except (KeyboardInterrupt, ExternalShutdownException):
        pass
    except StartupError as exc:
        rclpy.logging.get_logger('pi0fast_ros').fatal(str(exc))
        return 1
    finally:
        if node is not None:
            node.destroy_node()
        if rclpy.ok():
            rclpy.shutdown()
    return 0


class StartupError(RuntimeError):
    """A node cannot start (bad parameter, missing checkpoint): the message says why."""


def declare(node, name, default, description, *, read_only=False, min_value=None,
            max_value=None, dynamic_typing=False):
    """Declare a parameter with a descriptor (description and range) and return its value."""
    descriptor = ParameterDescriptor(description=description, read_only=read_only,
                                     dynamic_typing=dynamic_typing)
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


def make_status(node, level, message, values=None, name_suffix=''):
    """Build a DiagnosticStatus named after the node; values is a dict rendered as strings."""
    status = DiagnosticStatus()
    status.level = LEVELS[level] if isinstance(level, str) else level
    status.name = node.get_fully_qualified_name().lstrip('/') + name_suffix
    status.hardware_id = node.get_name()
    status.message = message
    status.values = [KeyValue(key=str(k), value=str(v)) for k, v in (values or {}).items()]
    return status
