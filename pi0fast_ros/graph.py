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
The node graph of a bring-up, described once for every launcher.

`ros2 launch pi0fast_ros so100.launch.py` (launch/, via launch_support.py) and the pip-
environment `pi0fast-bringup` (tools/bringup.py) both call `graph_nodes(options)` and start
exactly the nodes it returns, each with the embodiment's config file as its parameters file and
the few per-run overrides listed here (checkpoint, device, lerobot_version, instruction,
recording). Everything
else lives in the config file. No ROS import here: it is plain data.
"""

import dataclasses
import os
import re

EMBODIMENTS = ('so100', 'aloha')     # config/<name>.yaml, launch/<name>.launch.py
POLICY_NODE = 'policy_node'
EXECUTOR_NODE = 'executor_node'
FAKE_ROBOT = 'fake_robot'
RECORDER = 'rollout_recorder'
# Split deployment: which side of the graph one host starts (README "Robot + GPU host").
# robot: the nodes that must live beside the hardware (fake_robot, rollout_recorder,
# executor_node); gpu: policy_node; all: both, on one host.
ROLES = ('all', 'robot', 'gpu')
GPU_SIDE = (POLICY_NODE,)


@dataclasses.dataclass(frozen=True)
class GraphOptions:
    """
    One bring-up's choices (launch arguments / bringup flags).

    Empty strings keep the config file's value. record_dir '' = the recorder's output_dir.
    stop_on_failure: a node that exits with an error status of its own (failed_by_itself: it
    could not start, or crashed) stops the whole graph, with the reason it logged.
    """

    config_file: str
    checkpoint: str = ''
    device: str = ''
    lerobot_version: str = ''   # '' = the config file's (auto by default)
    instruction: str = ''
    fake_hardware: bool = False
    record: bool = False
    record_dir: str = ''
    teleop_topic: str = ''     # a leader arm's JointState topic: record it, run no policy
    namespace: str = ''
    log_level: str = 'info'
    stop_on_failure: bool = True
    role: str = 'all'
    dds_profile: str = 'auto'  # see dds_environment


# The package `python -m` runs for each executable: its __main__ is what setup.py's
# console_scripts run (nodes/entry.py: signals are handled before the node's module loads).
NODE_MODULES = {
    'policy_node': 'pi0fast_ros.nodes.policy',
    'executor_node': 'pi0fast_ros.nodes.executor',
    'fake_robot': 'pi0fast_ros.nodes.fake_robot',
    'rollout_recorder': 'pi0fast_ros.nodes.recorder',
}


@dataclasses.dataclass(frozen=True)
class NodeSpec:
    """One node to start: `ros2 run pi0fast_ros <executable>` == `python -m <module>`."""

    executable: str
    name: str
    overrides: dict           # parameters set on top of the config file

    @property
    def module(self):
        return NODE_MODULES[self.executable]


def _set_if(values, key, value):
    if value:
        values[key] = value
    return values


def graph_nodes(options):
    """Return the NodeSpecs of the graph for options, in start order (robot side first)."""
    if not os.path.isfile(options.config_file):
        raise FileNotFoundError(f'config file {options.config_file!r} does not exist')
    check_log_level(options.log_level)
    checkpoint = os.path.abspath(os.path.expanduser(options.checkpoint)) \
        if options.checkpoint else ''
    policy = _set_if({}, 'checkpoint_path', checkpoint)
    _set_if(policy, 'device', options.device)
    _set_if(policy, 'lerobot_version', options.lerobot_version)
    _set_if(policy, 'instruction', options.instruction)
    nodes = []
    teleop = options.teleop_topic.strip()
    if options.fake_hardware:
        # with teleop_topic the fake robot plays a scripted leader arm there and follows it
        nodes.append(NodeSpec(FAKE_ROBOT, FAKE_ROBOT, {'leader_topic': teleop} if teleop else {}))
    if options.record:
        recorder = {'autostart': True,
                    'config_file': os.path.abspath(options.config_file)}
        _set_if(recorder, 'checkpoint', checkpoint)
        _set_if(recorder, 'output_dir', os.path.abspath(os.path.expanduser(options.record_dir))
                if options.record_dir else '')
        _set_if(recorder, 'extra_topics', [teleop] if teleop else [])
        nodes.append(NodeSpec(RECORDER, RECORDER, recorder))
    if teleop:
        # a demonstration: the person drives the arm, no policy or executor
        return [s for s in nodes if _on_role(s, options.role)]
    nodes.append(NodeSpec(EXECUTOR_NODE, EXECUTOR_NODE, {}))
    nodes.append(NodeSpec(POLICY_NODE, POLICY_NODE, policy))
    return [spec for spec in nodes if _on_role(spec, options.role)]


# Fast DDS (rmw_fastrtps_cpp) reads its XML profiles from the file these name (2.x / 3.x).
DDS_PROFILE_VARS = ('FASTRTPS_DEFAULT_PROFILES_FILE', 'FASTDDS_DEFAULT_PROFILES_FILE')
LOSSY_LINK_PROFILE = 'fastdds_lossy_link.xml'


def dds_environment(options, environ):
    """
    Return the environment variables the nodes of this host get for DDS ({} for none).

    ``options.dds_profile``: ``auto`` gives a host of a split graph (role robot or gpu) the
    packaged config/fastdds_lossy_link.xml (a 50 ms reliable-writer heartbeat: a lost action
    chunk is resent within ~50 ms instead of ~3 s; README, "Robot + GPU host"), unless
    ``environ`` already names a profile file, which then stays as it is; one host (role all)
    gets nothing. ``none``: nothing. Anything else is a profile file, which must exist.
    """
    choice = options.dds_profile.strip()
    if choice == 'none':
        return {}
    if choice == 'auto':
        if options.role == 'all' or any(environ.get(v) for v in DDS_PROFILE_VARS):
            return {}
        path = packaged_config_file(LOSSY_LINK_PROFILE)
    else:
        path = os.path.abspath(os.path.expanduser(choice))
        if not os.path.isfile(path):
            raise FileNotFoundError(f'dds_profile {choice!r} does not exist (auto, none or '
                                    'a Fast DDS XML profile file)')
    return {var: path for var in DDS_PROFILE_VARS}


def packaged_config_file(name):
    """Return the path of a file of the package's config/ (installed share, else the source)."""
    places = []
    try:
        from ament_index_python.packages import get_package_share_directory
        places.append(os.path.join(get_package_share_directory('pi0fast_ros'), 'config'))
    except (ImportError, LookupError, ValueError):
        pass
    places.append(os.path.join(os.path.dirname(os.path.dirname(os.path.abspath(__file__))),
                               'config'))
    for place in places:
        path = os.path.join(place, name)
        if os.path.isfile(path):
            return path
    raise FileNotFoundError(f'{name} is not installed in {" or ".join(places)} (colcon build; '
                            'or set dds_profile to none or a file)')


def _on_role(spec, role):
    """Whether spec runs on a host of role (see ROLES)."""
    if role not in ROLES:
        raise ValueError(f'unknown role {role!r}; use one of {ROLES}')
    return role == 'all' or (spec.name in GPU_SIDE) == (role == 'gpu')


def overrides_yaml(spec):
    """
    Render the per-run overrides of spec as a ROS parameters file (text).

    Keyed `/**/<node name>`, like the config file's node sections: rcl merges a later file's
    entry for the same key over the earlier one, so these values win over the config file's
    (a `-p` rule or a `/**` entry would merge into the config's `/**` section and lose to its
    node section), in any namespace.
    """
    import yaml
    return yaml.safe_dump({f'/**/{spec.name}': {'ros__parameters': dict(spec.overrides)}},
                          default_flow_style=False)


def write_overrides(spec, directory):
    """Write overrides_yaml(spec) to <directory>/<name>_overrides.yaml; None if no overrides."""
    if not spec.overrides:
        return None
    path = os.path.join(directory, f'{spec.name}_overrides.yaml')
    with open(path, 'w', encoding='utf-8') as f:
        f.write(overrides_yaml(spec))
    return path


def ros_args(spec, options, overrides_file=None):
    """Return the `--ros-args ...` command-line tail that starts spec as launch does."""
    args = ['--ros-args', '-r', f'__node:={spec.name}']
    if options.namespace:
        args += ['-r', f'__ns:={normalize_namespace(options.namespace)}']
    args += ['--params-file', os.path.abspath(options.config_file)]
    if overrides_file:
        args += ['--params-file', overrides_file]
    if options.log_level:
        args += ['--log-level', options.log_level]
    return args


def normalize_namespace(namespace):
    """'robot1' or '/robot1/' -> '/robot1' ('' stays '')."""
    namespace = namespace.strip().strip('/')
    return '/' + namespace if namespace else ''


# rcutils' severity names (case-insensitive), the values `--ros-args --log-level` takes
LOG_SEVERITIES = ('debug', 'info', 'warn', 'error', 'fatal', 'unset')


def check_log_level(level):
    """
    Refuse a log level that rcl would refuse; return it unchanged.

    `[logger:=]severity`, as `--log-level` takes it. Checked before any node starts: otherwise
    every node fails in rclpy.init with an RCLError and a traceback, and the launch stops on
    whichever failed first (found with the real `ros2 launch ... log_level:=loud`).
    """
    severity = str(level).strip().rsplit(':=', 1)[-1]
    if severity.lower() not in LOG_SEVERITIES:
        raise ValueError(f'log_level {level!r}: not a log severity (use one of '
                         f'{", ".join(LOG_SEVERITIES[:-1])})')
    return level


def parse_bool(text):
    """Parse a launch-argument boolean: true/false/1/0/yes/no (case-insensitive)."""
    lowered = str(text).strip().lower()
    if lowered in ('true', '1', 'yes', 'on'):
        return True
    if lowered in ('false', '0', 'no', 'off', ''):
        return False
    raise ValueError(f'not a boolean: {text!r} (use true or false)')


# The colours rcutils adds to log lines on a terminal (launch's emulate_tty).
_ANSI = re.compile(r'\x1b\[[0-9;]*m')
SHELL_SIGINT_STATUS = 130


def failed_by_itself(returncode):
    """
    Tell whether a node's exit status means it failed on its own.

    True for a positive status (a start-up failure exits 1 after logging why, an uncaught
    exception too); False while it runs (None), for 0, for a stop by a signal (negative: Ctrl-C,
    or a SIGKILL from outside) and for 130 (a shell's SIGINT status).
    """
    return returncode is not None and returncode > 0 and returncode != SHELL_SIGINT_STATUS


class ExitReason:
    """Follow a node's output; say why it exited (its last FATAL, else ERROR, log line)."""

    def __init__(self, name):
        self.name = name
        self.fatal = None
        self.error = None
        self._partial = ''

    def feed(self, text):
        """Take a chunk of output (str or bytes, any split into lines)."""
        if isinstance(text, bytes):
            text = text.decode(errors='replace')
        lines = (self._partial + text).split('\n')
        self._partial = lines.pop()
        for line in lines:
            self.line(line)

    def line(self, line):
        """Take one line of output."""
        line = _ANSI.sub('', line).strip()
        for level in ('FATAL', 'ERROR'):
            if line.startswith(f'[{level}]'):
                # rcutils: [LEVEL] [stamp] [logger]: message
                message = line.split(']: ', 1)[-1]
                setattr(self, level.lower(), message)

    def reason(self, returncode):
        """Return the one-line reason the graph stops for, after the node exited."""
        if self._partial:
            self.line(self._partial)
            self._partial = ''
        why = self.fatal or self.error or 'it logged no FATAL or ERROR line (see its output)'
        return f'{self.name} exited with status {returncode}: {why}'
