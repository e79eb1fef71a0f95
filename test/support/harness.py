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
Helpers for multi-process ROS tests: node processes, a probe node, waiting with timeouts.

Everything here is real: nodes run as separate processes and talk to the probe over DDS.
"""

import os
import pathlib
import signal
import subprocess
import sys
import threading
import time

import rclpy
from rclpy.executors import SingleThreadedExecutor
from rclpy.parameter import Parameter, parameter_value_to_python
from rclpy.qos import QoSProfile

REPO = pathlib.Path(__file__).resolve().parents[2]
CONFIG_DIR = REPO / 'config'


def wait_for(predicate, timeout, interval=0.02):
    """Poll predicate() on a monotonic clock until it is truthy; return its last value."""
    deadline = time.monotonic() + timeout
    while True:
        value = predicate()
        if value or time.monotonic() >= deadline:
            return value
        time.sleep(interval)


def write_params_file(path, params, node='/**/*'):
    """
    Write params as a ROS parameters file for node (default: any node in any namespace).

    NodeProcess passes `params` this way, after params_file, instead of `-p` rules: rcl files
    `-p` under the `/**` key, which merges into a config file's `/**` section and so loses to
    its `/**/<node>` section. A later `/**/*` entry is applied after both and wins.
    """
    import yaml
    with open(path, 'w', encoding='utf-8') as f:
        yaml.safe_dump({node: {'ros__parameters': dict(params)}}, f, default_flow_style=False)
    return path


def trajectory(stamp_ns, positions, names, rate):
    """Return a chunk as the policy node publishes it: JointTrajectory, point i at i / rate."""
    from trajectory_msgs.msg import JointTrajectory, JointTrajectoryPoint
    msg = JointTrajectory(joint_names=list(names))
    msg.header.stamp.sec, msg.header.stamp.nanosec = divmod(int(stamp_ns), 1_000_000_000)
    for i, row in enumerate(positions):
        point = JointTrajectoryPoint(positions=[float(v) for v in row])
        point.time_from_start.sec, point.time_from_start.nanosec = divmod(
            int(round(i / rate * 1e9)), 1_000_000_000)
        msg.points.append(point)
    return msg


class NodeProcess:
    """One node (python -m <module>) in its own process, with its output in a log file."""

    def __init__(self, module, *, log_dir, name=None, params_file=None, params=None,
                 namespace=None, remaps=None, env=None, args=(), wrapper=()):
        # wrapper: a command prefix that execs the rest (e.g. unshare; the pid stays the node's)
        cmd = [*wrapper, sys.executable, '-u', '-m', module, *args, '--ros-args']
        if name:
            cmd += ['-r', f'__node:={name}']
        if namespace:
            cmd += ['-r', f'__ns:={namespace}']
        for src, dst in (remaps or {}).items():
            cmd += ['-r', f'{src}:={dst}']
        if params_file:
            cmd += ['--params-file', str(params_file)]
        stem = f'{(name or module).split(".")[-1]}-{id(self)}'
        if params:
            cmd += ['--params-file', str(write_params_file(
                pathlib.Path(log_dir) / f'{stem}-params.yaml', params))]
        self.cmd = cmd
        self.log_path = pathlib.Path(log_dir) / f'{stem}.log'
        self._log = open(self.log_path, 'wb')
        self.proc = subprocess.Popen(cmd, stdout=self._log, stderr=subprocess.STDOUT,
                                     env={**os.environ, **(env or {})},
                                     start_new_session=True)

    def output(self):
        return self.log_path.read_text(errors='replace')

    def wait_for_output(self, text, timeout):
        return wait_for(lambda: text in self.output(), timeout)

    def alive(self):
        return self.proc.poll() is None

    def stop(self, timeout=10.0):
        """SIGINT (what Ctrl-C and ros2 launch send), then SIGTERM, then SIGKILL."""
        for sig in (signal.SIGINT, signal.SIGTERM, signal.SIGKILL):
            if self.proc.poll() is not None:
                break
            self.proc.send_signal(sig)
            try:
                self.proc.wait(timeout=timeout)
            except subprocess.TimeoutExpired:
                continue
        self._log.close()
        return self.proc.returncode


class Probe:
    """A test-side node in a private rclpy context, spun by one background thread."""

    def __init__(self, name='test_probe'):
        self.context = rclpy.Context()
        rclpy.init(context=self.context)
        self.node = rclpy.create_node(name, context=self.context)
        self.executor = SingleThreadedExecutor(context=self.context)
        self.executor.add_node(self.node)
        self._thread = threading.Thread(target=self.executor.spin, daemon=True)
        self._thread.start()
        self._lock = threading.Lock()
        self._clients = {}

    def collect(self, msg_type, topic, qos=10, raw=False):
        """Subscribe and return a list that fills with (receive_monotonic_s, msg) pairs."""
        received = []

        def _cb(msg):
            with self._lock:
                received.append((time.monotonic(), msg))

        self.node.create_subscription(msg_type, topic, _cb, qos, raw=raw)
        return received

    def every(self, period_s, fn):
        """
        Call fn() every period_s on the probe's executor; return a function that stops it.

        The timer is cancelled from inside its own callback: cancelling a timer from the test
        thread races with the executor (rclpy Jazzy), and the failed timer call can leave the
        node's default callback group busy for good, so that no service response is ever
        handled again.
        """
        active = [True]

        def _tick():
            if active[0]:
                fn()
            else:
                timer.cancel()

        timer = self.node.create_timer(period_s, _tick)

        def stop():
            active[0] = False
        return stop

    def publisher(self, msg_type, topic, qos=10):
        return self.node.create_publisher(msg_type, topic, qos if qos is not None
                                          else QoSProfile(depth=10))

    def publish_matched(self, publisher, msg, timeout=20.0, subscriptions=1):
        """
        Publish msg once publisher has matched `subscriptions` readers, as ros2 topic pub does.

        A volatile reader gets only what is published after discovery matched it.
        """
        if not wait_for(lambda: publisher.get_subscription_count() >= subscriptions, timeout):
            raise TimeoutError(f'{publisher.topic_name}: no matching subscription after '
                               f'{timeout} s')
        publisher.publish(msg)

    def call(self, srv_type, name, request, timeout=10.0, retries=0):
        """
        Call a service; raise TimeoutError when it is not there or does not answer.

        Under heavy load a response can be lost while the server has not yet matched a new
        client's response reader (rmw_fastrtps); clients are therefore kept per service, and
        `retries` re-sends the request (only for idempotent requests, e.g. parameter calls).
        """
        client = self.client(srv_type, name)
        if not client.wait_for_service(timeout_sec=timeout):
            raise TimeoutError(f'service {name} not available after {timeout} s')
        for attempt in range(retries + 1):
            future = client.call_async(request)
            if wait_for(future.done, timeout):
                return future.result()
        raise TimeoutError(f'service {name} did not answer in {timeout} s '
                           f'({retries + 1} attempts)')

    def client(self, srv_type, name):
        """
        Return this probe's client for a service, created on first use.

        Creating it early (before the node under test is up) gives DDS discovery time to match
        the response path too, which avoids the lost-first-response race described in call().
        """
        key = (srv_type, name)
        if key not in self._clients:
            self._clients[key] = self.node.create_client(srv_type, name)
        return self._clients[key]

    def set_parameters(self, node_name, values, timeout=10.0):
        """Set parameters on another node; return the list of SetParametersResult."""
        from rcl_interfaces.srv import SetParameters
        request = SetParameters.Request()
        request.parameters = [Parameter(k, value=v).to_parameter_msg()
                              for k, v in values.items()]
        return self.call(SetParameters, f'{node_name}/set_parameters', request, timeout,
                         retries=2).results

    def get_parameters(self, node_name, names, timeout=10.0):
        from rcl_interfaces.srv import GetParameters
        request = GetParameters.Request()
        request.names = list(names)
        response = self.call(GetParameters, f'{node_name}/get_parameters', request, timeout,
                             retries=2)
        return [parameter_value_to_python(v) for v in response.values]

    def dump_parameters(self, node_name, timeout=10.0):
        """
        Return what `ros2 param dump <node_name>` prints, as a dict (and its YAML text).

        Done the way ros2cli's dump verb does it (ros2param/verb/dump.py, Jazzy): list_parameters
        for the names, sorted; one get_parameters call for all of them; each value through
        rclpy's parameter_value_to_python; dotted names nested; `yaml.dump(...,
        default_flow_style=False)` under `{<node_name>: {'ros__parameters': ...}}`. As there,
        a get_parameters answer with fewer values than names leaves the missing ones out.
        """
        import yaml
        from rcl_interfaces.srv import ListParameters
        names = sorted(self.call(ListParameters, f'{node_name}/list_parameters',
                                 ListParameters.Request(), timeout, retries=2).result.names)
        values = self.get_parameters(node_name, names, timeout)
        params = {}
        for name, value in zip(names, values):
            *parents, leaf = name.split('.')
            branch = params
            for part in parents:
                branch = branch.setdefault(part, {})
            branch[leaf] = value
        dump = {node_name: {'ros__parameters': params}}
        return dump, yaml.dump(dump, default_flow_style=False)

    def now(self):
        return self.node.get_clock().now()

    def close(self):
        # Stop the spinning thread before destroying what it waits on; otherwise it can still
        # be inside a wait set when the node's entities go away (AttributeError in the thread).
        self.executor.shutdown(timeout_sec=2.0)
        self._thread.join(timeout=5.0)
        self.node.destroy_node()
        rclpy.shutdown(context=self.context)
