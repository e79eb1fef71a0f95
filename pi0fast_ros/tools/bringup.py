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
pi0fast-bringup: start the launch file's graph where `ros2 launch` is not available.

    pi0fast-bringup --config config/so100.yaml --fake-hardware --checkpoint CKPT \
        [--record DIR] [--duration 60] [--instruction 'pick up the cube'] [--namespace NS]
        [--role all|robot|gpu] [--dds-profile auto|none|FILE]

The nodes and their parameters come from pi0fast_ros/graph.py and the config file, exactly as
launch/<embodiment>.launch.py starts them; each node runs as `python -m pi0fast_ros.nodes.<x>
--ros-args ...` in its own process group, its output prefixed with its name. Ctrl-C (SIGINT)
or SIGTERM, the end of --duration, or (with --exit-on-node-failure) a node ended by a signal
from outside stops the graph: one SIGINT per node, newest first, then SIGTERM / SIGKILL for a
node that does not exit within --stop-timeout. A node that exits with an error of its own (it
could not start: bad parameter, missing checkpoint; or it crashed) stops the graph too, with
the reason it logged (unless --keep-going). Exit status 0 when every node ended cleanly.
"""

import argparse
import os
import shutil
import signal
import subprocess
import sys
import tempfile
import threading
import time

from ..graph import (dds_environment, DDS_PROFILE_VARS, EMBODIMENTS, ExitReason,
                     failed_by_itself, graph_nodes, GraphOptions, ROLES, ros_args,
                     write_overrides)

CLEAN_EXIT = (0, -signal.SIGINT, 130)


def resolve_config(value):
    """
    Return a config path; an embodiment name ('so100') resolved to the installed config file.

    Raises FileNotFoundError naming the valid embodiment names for anything else.
    """
    if os.path.isfile(value):
        return value
    if value not in EMBODIMENTS:
        raise FileNotFoundError(
            f'--config {value!r}: not a file and not an embodiment name; valid names: '
            f'{", ".join(EMBODIMENTS)} (or the path of a parameters file)')
    try:
        from ament_index_python.packages import get_package_share_directory
        return os.path.join(get_package_share_directory('pi0fast_ros'), 'config',
                            f'{value}.yaml')
    except (ImportError, LookupError, ValueError):
        return value


class Child:
    """One node process; its output is copied line by line to ours with a [name] prefix."""

    def __init__(self, spec, options, params_dir, log_dir=None, echo=True):
        self.spec = spec
        self.exit_reason = ExitReason(spec.name)
        overrides = write_overrides(spec, params_dir)
        self.cmd = [sys.executable, '-u', '-m', spec.module] + ros_args(spec, options, overrides)
        env = {**os.environ, 'PYTHONUNBUFFERED': '1', **dds_environment(options, os.environ)}
        # Own process group: a terminal's Ctrl-C reaches only us, and we forward exactly one
        # SIGINT (a node that sees two may skip its clean shutdown).
        self.proc = subprocess.Popen(self.cmd, stdout=subprocess.PIPE, stderr=subprocess.STDOUT,
                                     stdin=subprocess.DEVNULL, env=env, start_new_session=True)
        self._log = open(os.path.join(log_dir, f'{spec.name}.log'), 'w') if log_dir else None
        self._echo = echo
        self._thread = threading.Thread(target=self._pump, daemon=True)
        self._thread.start()

    def _pump(self):
        for raw in iter(self.proc.stdout.readline, b''):
            line = raw.decode(errors='replace').rstrip('\n')
            self.exit_reason.line(line)
            if self._echo:
                print(f'[{self.spec.name}] {line}', flush=True)
            if self._log:
                self._log.write(line + '\n')
                self._log.flush()

    def drain(self, timeout=5.0):
        """Wait until the output of an exited node has been read (it may hold its reason)."""
        self._thread.join(timeout)

    def stop(self, timeout):
        """SIGINT, then SIGTERM, then SIGKILL, each given timeout seconds; returns the code."""
        for sig in (signal.SIGINT, signal.SIGTERM, signal.SIGKILL):
            if self.proc.poll() is not None:
                break
            self.proc.send_signal(sig)
            try:
                self.proc.wait(timeout)
            except subprocess.TimeoutExpired:
                print(f'[bringup] {self.spec.name} did not exit on {sig.name}', flush=True)
        self._thread.join(timeout=2.0)
        if self._log:
            self._log.close()
        return self.proc.returncode


def _parse(argv):
    ap = argparse.ArgumentParser(prog='pi0fast-bringup', description=__doc__.split('\n\n')[0])
    ap.add_argument('--config', required=True,
                    help=f'parameters file, or an embodiment name {list(EMBODIMENTS)}')
    ap.add_argument('--checkpoint', default='', help='pi0_fast checkpoint directory')
    ap.add_argument('--device', default='', help='torch device for the policy')
    ap.add_argument('--lerobot-version', default='', choices=('', 'auto', '0.4', '0.5'),
                    help='LeRobot semantics of the checkpoint ("" = the config file\'s)')
    ap.add_argument('--instruction', default='', help='task instruction to start with')
    ap.add_argument('--fake-hardware', action='store_true', help='start fake_robot')
    ap.add_argument('--record', metavar='DIR', default=None,
                    help='start rollout_recorder writing bags under DIR')
    ap.add_argument('--teleop-topic', default='',
                    help='record a teleoperated demonstration: no policy or executor, the '
                         'JointState topic of the leader arm recorded too (with --fake-hardware '
                         'the fake robot plays a scripted leader there)')
    ap.add_argument('--namespace', default='', help='namespace of the whole graph')
    ap.add_argument('--log-level', default='info')
    ap.add_argument('--role', default='all', choices=ROLES,
                    help='start only the robot side or only the gpu side (policy_node)')
    ap.add_argument('--dds-profile', default='auto',
                    help='Fast DDS profile file for the nodes: auto (default) = '
                    'config/fastdds_lossy_link.xml for --role robot or gpu unless '
                    'FASTRTPS_DEFAULT_PROFILES_FILE is set, nothing for all; none; or a file')
    ap.add_argument('--duration', type=float, default=0.0,
                    help='stop after this many seconds (0 = until Ctrl-C)')
    ap.add_argument('--keep-going', action='store_true',
                    help='keep the graph running when a node exits with an error of its own '
                    '(by default: it could not start, or crashed: the graph stops with its '
                    'reason)')
    ap.add_argument('--exit-on-node-failure', action='store_true',
                    help='also stop the graph when a node is ended by a signal from outside '
                    '(e.g. a SIGKILL)')
    ap.add_argument('--stop-timeout', type=float, default=15.0,
                    help='seconds each stop signal is given before the next')
    ap.add_argument('--log-dir', default=None, help='also write <node>.log files here')
    ap.add_argument('--quiet', action='store_true',
                    help='print only the lines of bringup itself (node output: --log-dir)')
    args = ap.parse_args(argv)
    if args.quiet and not args.log_dir:
        ap.error('--quiet needs --log-dir (node output has to go somewhere)')
    return args


def _options(args):
    return GraphOptions(
        config_file=resolve_config(args.config), checkpoint=args.checkpoint,
        device=args.device, lerobot_version=args.lerobot_version,
        instruction=args.instruction, fake_hardware=args.fake_hardware,
        record=args.record is not None, record_dir=args.record or '',
        teleop_topic=args.teleop_topic, namespace=args.namespace, log_level=args.log_level,
        stop_on_failure=not args.keep_going, role=args.role, dds_profile=args.dds_profile)


def _wait(children, options, args, stop_event):
    """Block until a stop reason; return (reason, failed)."""
    deadline = time.monotonic() + args.duration if args.duration > 0 else None
    reported = set()
    while not stop_event.wait(0.2):
        if deadline is not None and time.monotonic() >= deadline:
            return f'duration of {args.duration:g} s reached', False
        for child in children:
            code = child.proc.poll()
            if code is None or child in reported:
                continue
            reported.add(child)
            print(f'[bringup] {child.spec.name} exited with code {code}', flush=True)
            if failed_by_itself(code) and options.stop_on_failure:
                child.drain()
                return child.exit_reason.reason(code), True
            if code not in CLEAN_EXIT and args.exit_on_node_failure:
                return f'{child.spec.name} failed (exit status {code})', True
        if len(reported) == len(children):
            return 'every node exited', False
    return 'stop requested (signal)', False


def run(args):
    """Start the graph, wait for a stop reason, stop it; return the exit status."""
    options = _options(args)
    specs = graph_nodes(options)
    profile = dds_environment(options, os.environ).get(DDS_PROFILE_VARS[0])
    if profile:
        print(f'[bringup] DDS profile for the nodes: {profile}', flush=True)
    if args.log_dir:
        os.makedirs(args.log_dir, exist_ok=True)
    stop_event = threading.Event()
    for sig in (signal.SIGINT, signal.SIGTERM):
        signal.signal(sig, lambda *_: stop_event.set())
    children, reason, failed = [], 'start-up failed', True
    params_dir = tempfile.mkdtemp(prefix='pi0fast_bringup_')
    try:
        for spec in specs:
            children.append(Child(spec, options, params_dir, args.log_dir, not args.quiet))
            print(f'[bringup] started {spec.name} (pid {children[-1].proc.pid}): '
                  f'{" ".join(children[-1].cmd)}', flush=True)
        reason, failed = _wait(children, options, args, stop_event)
    finally:
        print(f'[bringup] stopping ({reason})', flush=True)
        codes = {c.spec.name: c.stop(args.stop_timeout) for c in reversed(children)}
        shutil.rmtree(params_dir, ignore_errors=True)
    print(f'[bringup] exit codes: {codes}', flush=True)
    return 1 if failed or any(c not in CLEAN_EXIT for c in codes.values()) else 0


def main(argv=None):
    args = _parse(argv)
    try:
        return run(args)
    except (FileNotFoundError, ValueError) as exc:   # a missing config, a bad --log-level
        print(f'[bringup] {exc}', file=sys.stderr)
        return 2


if __name__ == '__main__':
    sys.exit(main())
