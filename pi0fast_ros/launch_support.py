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
The launch description behind launch/so100.launch.py and launch/aloha.launch.py.

Needs ROS 2's launch and launch_ros (a real ROS 2 installation; they are not on PyPI). The
nodes come from graph.graph_nodes(), the same description pi0fast-bringup starts, so the two
launchers cannot drift apart. Launch arguments are resolved at launch time (OpaqueFunction),
then turned into plain launch_ros Node actions; with stop_on_failure (the default) each node
also gets an OnProcessExit handler that shuts the launch down when the node fails on its own.
"""

import os
import shutil
import tempfile

from ament_index_python.packages import get_package_share_directory
from launch import LaunchDescription
from launch.actions import DeclareLaunchArgument, OpaqueFunction, RegisterEventHandler
from launch.event_handlers import OnProcessExit, OnProcessIO, OnShutdown
from launch.substitutions import LaunchConfiguration
from launch_ros.actions import Node

from .graph import (dds_environment, EMBODIMENTS, ExitReason, failed_by_itself, graph_nodes,
                    GraphOptions, normalize_namespace, parse_bool, write_overrides)

PACKAGE = 'pi0fast_ros'

ARGUMENTS = (
    # name, default ('{config}' = the embodiment's installed config file), description
    ('config_file', '{config}', 'Parameters file for every node (one per embodiment).'),
    ('checkpoint', '', 'LeRobot pi0_fast checkpoint directory; "" = checkpoint_path in the '
     'config file.'),
    ('device', '', 'Torch device for the policy (cpu, cuda, cuda:N, mps); "" = as in the config '
     'file.'),
    ('lerobot_version', '', 'LeRobot semantics of the checkpoint: auto, 0.4 or 0.5 (needed for '
     '0.5.0 checkpoints); "" = as in the config file (auto).'),
    ('fake_hardware', 'false', 'Start fake_robot (simulated arm + rendered cameras) instead '
     'of expecting a robot driver.'),
    ('record', 'false', 'Start rollout_recorder: one MCAP bag per rollout.'),
    ('record_dir', '', 'Where rollouts go; "" = rollout_recorder output_dir in the config '
     'file.'),
    ('instruction', '', 'Task instruction to start with; "" = as in the config file (or wait '
     'for one on policy_node/instruction).'),
    ('teleop_topic', '', 'Record a teleoperated demonstration: the JointState topic of the '
     'leader arm is recorded too and no policy or executor starts (fake_hardware plays a '
     'scripted leader there); "" = run the policy.'),
    ('namespace', '', 'Namespace for the whole graph (all topic names are relative).'),
    ('log_level', 'info', 'Log level of every node (debug, info, warn, error).'),
    ('stop_on_failure', 'true', 'Shut the whole launch down, with its reason, when a node exits '
     'with an error of its own (it could not start: bad parameter, missing checkpoint; or it '
     'crashed). false: leave the other nodes running.'),
    ('role', 'all', 'Which side of the graph this host starts: all, robot (fake_robot, '
     'rollout_recorder, executor_node) or gpu (policy_node); see the README.'),
    ('dds_profile', 'auto', 'Fast DDS profile file for the nodes: auto = config/'
     'fastdds_lossy_link.xml (lost chunks resent within ~50 ms) for role robot or gpu unless '
     'FASTRTPS_DEFAULT_PROFILES_FILE is already set, nothing for role all; none; or a file.'),
)


def config_path(embodiment):
    """Return the installed config/<embodiment>.yaml."""
    if embodiment not in EMBODIMENTS:
        raise ValueError(f'unknown embodiment {embodiment!r}; use one of {EMBODIMENTS}')
    return os.path.join(get_package_share_directory(PACKAGE), 'config', f'{embodiment}.yaml')


def generate_launch_description_for(embodiment):
    """Build the LaunchDescription of one embodiment's graph (see the module docstring)."""
    default_config = config_path(embodiment)
    declared = [DeclareLaunchArgument(name, default_value=default.format(config=default_config),
                                      description=text)
                for name, default, text in ARGUMENTS]
    return LaunchDescription(declared + [OpaqueFunction(function=_nodes)])


def options_from_context(context):
    """Build GraphOptions from the resolved launch arguments."""
    value = {name: LaunchConfiguration(name).perform(context) for name, _, _ in ARGUMENTS}
    return GraphOptions(
        config_file=value['config_file'], checkpoint=value['checkpoint'],
        device=value['device'], lerobot_version=value['lerobot_version'],
        instruction=value['instruction'],
        fake_hardware=parse_bool(value['fake_hardware']), record=parse_bool(value['record']),
        record_dir=value['record_dir'], teleop_topic=value['teleop_topic'],
        namespace=value['namespace'], log_level=value['log_level'],
        stop_on_failure=parse_bool(value['stop_on_failure']), role=value['role'],
        dds_profile=value['dds_profile'])


def _nodes(context, *args, **kwargs):
    options = options_from_context(context)
    namespace = normalize_namespace(options.namespace)
    # Per-run overrides go in a params file after the config file (see graph.overrides_yaml
    # for why not a dict, which launch_ros would key '/**' without a namespace); the folder
    # goes when the launch shuts down.
    env = {'PYTHONUNBUFFERED': '1', **dds_environment(options, os.environ)}
    params_dir = tempfile.mkdtemp(prefix='pi0fast_launch_')
    actions = [RegisterEventHandler(OnShutdown(
        on_shutdown=lambda event, context: shutil.rmtree(params_dir, ignore_errors=True)))]
    for spec in graph_nodes(options):
        overrides = write_overrides(spec, params_dir)
        node = Node(
            package=PACKAGE, executable=spec.executable, name=spec.name,
            namespace=namespace or None, output='screen', emulate_tty=True,
            parameters=[options.config_file] + ([overrides] if overrides else []),
            ros_arguments=['--log-level', options.log_level],
            additional_env=env)
        actions.append(node)
        if options.stop_on_failure:
            actions += stop_on_failure(node, ExitReason(spec.name))
    return actions


class NodeFailed(RuntimeError):
    """A node exited with an error of its own; the message is the reason (see stop_on_failure)."""


def stop_on_failure(node, reason):
    """
    Return the event handlers that shut the launch down when node fails on its own.

    A node that exits with an error status of its own (graph.failed_by_itself: it could not
    start, or crashed) leaves the graph half up, e.g. an executor holding for a policy that
    never came; the launch shuts down with the node's last FATAL line as the reason. A node
    stopped by a signal (Ctrl-C, the launch's own shutdown, a kill) does not count.

    The handler raises NodeFailed rather than returning a Shutdown action: launch logs a
    Shutdown fired by a process exit only as "process[...] was required: shutting down
    launched system" (the reason is not printed) and `ros2 launch` then exits 0. An exception
    from a handler is launch's error path (LaunchService.run, Jazzy): it logs
    "[ERROR] [launch]: Caught exception in launch ...: <reason>", shuts the launch down (SIGINT
    to the other nodes) and returns 1, so `ros2 launch` exits 1 and a supervisor sees it.
    """
    def on_exit(event, context):
        if failed_by_itself(event.returncode):
            raise NodeFailed(reason.reason(event.returncode))
        return None

    def on_output(event):
        reason.feed(event.text)

    return [RegisterEventHandler(OnProcessIO(target_action=node, on_stdout=on_output,
                                             on_stderr=on_output)),
            RegisterEventHandler(OnProcessExit(target_action=node, on_exit=on_exit))]
