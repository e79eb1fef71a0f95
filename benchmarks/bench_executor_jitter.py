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
Executor tick jitter: timer period error at the control rate, idle and under load.

Phase 1 (baseline): the executor node alone (config/aloha.yaml, 50 Hz). Phase 2 (loaded): the
same while, in other processes, three 640x480 rgb8 cameras publish at 30 Hz, a robot stand-in
publishes joint_states at 100 Hz and the policy node runs a tiny random (scripted) checkpoint
on the CPU back to back, so real chunks arrive and are blended. Phases 1 and 2 use the config
as shipped (``realtime_priority: 50``: the tick thread runs SCHED_FIFO, as ros2_control runs
its control loop); phase 3 repeats phase 2 with ``realtime_priority: 0`` for comparison. The
period error of each tick is measured from the header stamps of consecutive
executor_node/status messages (the node's own ROS-time stamp taken at the start of the tick);
the node's own /diagnostics figures (over its last 3000 ticks) are printed beside them. Needs
the pip environment (scripts/env.sh).

    python benchmarks/bench_executor_jitter.py [--duration 60] [--no-policy]
"""

import argparse
import os
import pathlib
import signal
import subprocess
import sys
import tempfile
import time

import numpy as np
from pi0fast_ros.core.status import TickStatus
import yaml

REPO = pathlib.Path(__file__).resolve().parents[1]
NS = 1_000_000_000
CAMERAS = ('cam_high', 'cam_left_wrist', 'cam_right_wrist')


def run_camera(name, rate):
    """Role: publish 640x480 rgb8 frames on cameras/<name>/image_raw at ``rate`` Hz."""
    import rclpy
    from rclpy.clock import Clock, ClockType
    from rclpy.qos import qos_profile_sensor_data
    from sensor_msgs.msg import Image
    rclpy.init()
    node = rclpy.create_node(f'bench_camera_{name}')
    pub = node.create_publisher(Image, f'cameras/{name}/image_raw', qos_profile_sensor_data)
    frame = np.random.default_rng(0).integers(0, 255, (480, 640, 3), dtype=np.uint8)
    count = [0]

    def publish():
        count[0] += 1
        msg = Image(height=480, width=640, encoding='rgb8', step=640 * 3)
        msg.header.stamp = node.get_clock().now().to_msg()
        frame[0, 0, 0] = count[0] % 256  # a changing frame, as a camera would send
        msg.data = frame.tobytes()
        pub.publish(msg)

    node.create_timer(1.0 / rate, publish, clock=Clock(clock_type=ClockType.STEADY_TIME))
    _spin(node)


def run_robot(names, rate):
    """Role: publish joint_states (a slow sine per joint) at ``rate`` Hz."""
    import rclpy
    from sensor_msgs.msg import JointState
    rclpy.init()
    node = rclpy.create_node('bench_robot')
    pub = node.create_publisher(JointState, 'joint_states', 10)
    start = time.monotonic()

    def publish():
        t = time.monotonic() - start
        msg = JointState(name=list(names), position=list(0.3 * np.sin(
            t + np.arange(len(names)))))
        msg.header.stamp = node.get_clock().now().to_msg()
        pub.publish(msg)

    node.create_timer(1.0 / rate, publish)
    _spin(node)


def _spin(node):
    import rclpy
    from rclpy.executors import ExternalShutdownException
    try:
        rclpy.spin(node)
    except (KeyboardInterrupt, ExternalShutdownException):
        pass
    finally:
        node.destroy_node()
        if rclpy.ok():
            rclpy.shutdown()


class Graph:
    """Child processes (nodes and roles), stopped with SIGINT like ros2 launch does."""

    def __init__(self, log_dir):
        self.log_dir, self.procs = pathlib.Path(log_dir), []

    def start(self, label, cmd):
        log = open(self.log_dir / f'{label}.log', 'wb')
        self.procs.append((label, log, subprocess.Popen(
            cmd, stdout=log, stderr=subprocess.STDOUT, start_new_session=True,
            env={**os.environ, 'PYTHONUNBUFFERED': '1'})))

    def node(self, label, module, params_file):
        self.start(label, [sys.executable, '-m', module, '--ros-args', '--params-file',
                           str(params_file)])

    def role(self, label, *args):
        self.start(label, [sys.executable, __file__, '--role', *args])

    def stop_one(self, label):
        for entry in [e for e in self.procs if e[0] == label]:
            entry[2].send_signal(signal.SIGINT)
            try:
                entry[2].wait(timeout=15)
            except subprocess.TimeoutExpired:
                entry[2].kill()
            entry[1].close()
            self.procs.remove(entry)

    def output(self, label):
        return (self.log_dir / f'{label}.log').read_text(errors='replace')

    def stop(self):
        for _, log, proc in reversed(self.procs):
            if proc.poll() is None:
                proc.send_signal(signal.SIGINT)
        for _, log, proc in self.procs:
            try:
                proc.wait(timeout=15)
            except subprocess.TimeoutExpired:
                proc.kill()
            log.close()
        self.procs = []


def make_params(tmp):
    """config/aloha.yaml with a random scripted checkpoint for the policy node."""
    from pi0fast_ros.testing.random_checkpoint import make_random_checkpoint
    config = yaml.safe_load((REPO / 'config' / 'aloha.yaml').read_text())
    names = config['/**']['ros__parameters']['action_joint_names']
    # state statistics wide enough for the sine joint states (policy space: flipped, grippers
    # to_angular), so that they lie inside the checkpoint's state envelope
    state = {'mean': np.zeros(len(names)), 'std': np.ones(len(names))}
    checkpoint = make_random_checkpoint(pathlib.Path(tmp) / 'checkpoint', cameras=CAMERAS,
                                        state_dim=len(names), action_dim=len(names),
                                        chunk_size=50, scripted=True,
                                        stats={'observation.state': state})
    config['/**/policy_node']['ros__parameters'].update(
        checkpoint_path=str(checkpoint), camera_slots=list(CAMERAS),
        camera_topics=[f'cameras/{c}/image_raw' for c in CAMERAS],
        camera_transports=['raw'] * 3, instruction='pick up the cube')
    path = pathlib.Path(tmp) / 'params.yaml'
    path.write_text(yaml.safe_dump(config))
    return path, names, config['/**/executor_node']['ros__parameters']['control_rate_hz']


class Monitor:
    """Collects executor_node/status stamps and the executor's /diagnostics."""

    def __init__(self):
        import rclpy
        from diagnostic_msgs.msg import DiagnosticArray
        from rclpy.executors import SingleThreadedExecutor
        self.context = rclpy.Context()
        rclpy.init(context=self.context)
        self.node = rclpy.create_node('bench_monitor', context=self.context)
        self.ticks, self.diag, self.recording = [], {}, False
        self.node.create_subscription(DiagnosticArray, 'executor_node/status', self._on_status,
                                      100)
        self.node.create_subscription(DiagnosticArray, '/diagnostics', self._on_diag, 10)
        self.executor = SingleThreadedExecutor(context=self.context)
        self.executor.add_node(self.node)

    def _on_status(self, msg):
        if self.recording:
            tick = TickStatus.decode({v.key: v.value for v in msg.status[0].values})
            self.ticks.append((tick.seq, msg.header.stamp.sec * NS + msg.header.stamp.nanosec,
                               tick.state, tick.active_chunk_stamp_ns))

    def _on_diag(self, msg):
        for status in msg.status:
            if status.name.endswith('executor_node'):
                self.diag = {v.key: v.value for v in status.values}

    def spin_for(self, seconds):
        end = time.monotonic() + seconds
        while time.monotonic() < end:
            self.executor.spin_once(timeout_sec=0.05)

    def measure(self, seconds):
        self.ticks, self.recording = [], True
        self.spin_for(seconds)
        self.recording = False
        return list(self.ticks), dict(self.diag)

    def close(self):
        import rclpy
        self.node.destroy_node()
        rclpy.shutdown(context=self.context)


def period_errors(ticks, period_s):
    """|interval - period| (ms) between consecutive ticks (by seq), and the lost count."""
    ticks = sorted(ticks)
    errors = [abs((b[1] - a[1]) / NS - period_s) * 1e3 for a, b in zip(ticks, ticks[1:])
              if b[0] == a[0] + 1]
    return np.array(errors), len(ticks) - 1 - len(errors)


def summary(label, ticks, diag, period_s):
    errors, lost = period_errors(ticks, period_s)
    p50, p99 = np.percentile(errors, [50, 99])
    chunks = len({t[3] for t in ticks if t[3]})
    blending = sum(t[2] == 'blending' for t in ticks)
    print(f'{label:16} ticks {len(ticks):5d} | period error p50 {p50:6.3f} ms  p99 {p99:6.3f} '
          f'ms  max {errors.max():7.3f} ms | node-side p99 '
          f'{diag.get("tick_period_error_p99_ms", "?")} ms, tick cost p99 '
          f'{diag.get("tick_cost_p99_ms", "?")} ms | chunks {chunks}, blending ticks '
          f'{blending}, status gaps {lost}')
    return p50, p99


def _start_policy(graph, monitor, params):
    """Start the policy node; True once its chunks reach the executor."""
    graph.node('policy', 'pi0fast_ros.nodes.policy', params)
    deadline = time.monotonic() + 180.0
    while time.monotonic() < deadline:
        ticks, _ = monitor.measure(2.0)
        if any(t[3] for t in ticks):
            return True
        if graph.procs[-1][2].poll() is not None:
            break
    log = graph.output('policy').strip().splitlines()
    print('the policy node sent no chunk (' + (log[-1] if log else 'no output') + ')')
    return False


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.split('\n\n')[0])
    parser.add_argument('--duration', type=float, default=60.0, help='seconds per phase')
    parser.add_argument('--no-policy', action='store_true',
                        help='load with a busy CPU process instead of the policy node')
    parser.add_argument('--role', nargs='+', help=argparse.SUPPRESS)
    args = parser.parse_args(argv)
    if args.role:
        kind, *rest = args.role
        return run_camera(rest[0], 30.0) if kind == 'camera' else run_robot(rest, 100.0)
    os.environ.setdefault('ROS_AUTOMATIC_DISCOVERY_RANGE', 'LOCALHOST')
    with tempfile.TemporaryDirectory(prefix='bench_jitter_') as tmp:
        params, names, rate = make_params(tmp)
        graph, monitor = Graph(tmp), Monitor()
        try:
            return _run(args, graph, monitor, params, names, 1.0 / rate)
        finally:
            graph.stop()
            monitor.close()


def _run(args, graph, monitor, params, names, period_s):
    print(f'load average {os.getloadavg()[0]:.2f} at start; {os.cpu_count()} CPUs; '
          f'{args.duration:.0f} s per phase; control period {period_s * 1e3:.0f} ms')
    graph.node('executor', 'pi0fast_ros.nodes.executor', params)
    monitor.spin_for(5.0)
    base = summary('baseline', *monitor.measure(args.duration), period_s)
    for cam in CAMERAS:
        graph.role(f'camera_{cam}', 'camera', cam)
    graph.role('robot', 'robot', *names)
    label = 'loaded'
    if not args.no_policy and not _start_policy(graph, monitor, params):
        args.no_policy = True
    if args.no_policy:
        label = 'cpu-load'
        print('loading with a busy-looping CPU process instead of the policy node')
        graph.start('cpu_load', [sys.executable, '-c', 'while True: pass'])
    load = summary(label, *monitor.measure(args.duration), period_s)
    # the same load, the executor restarted without real-time priority
    graph.stop_one('executor')
    graph.node('executor_normal', 'pi0fast_ros.nodes.executor', _with_priority(params, 0))
    monitor.spin_for(5.0)
    normal = summary(label + ', prio 0', *monitor.measure(args.duration), period_s)
    print(f'load average {os.getloadavg()[0]:.2f} at the end')
    for name, (p50, p99) in ((label, load), (label + ', prio 0', normal)):
        print(f'{name}: ratio to baseline p50 {p50 / base[0]:.2f}x, p99 {p99 / base[1]:.2f}x; '
              f'target p99 <= 2 ms: {"met" if p99 <= 2.0 else "NOT met"}')
    return 0


def _with_priority(params, priority):
    doc = yaml.safe_load(pathlib.Path(params).read_text())
    doc['/**/executor_node']['ros__parameters']['realtime_priority'] = priority
    path = pathlib.Path(params).with_name(f'params_prio{priority}.yaml')
    path.write_text(yaml.safe_dump(doc))
    return path


if __name__ == '__main__':
    sys.exit(main())
