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
What the fake robot costs beside the real graph (CPU of one core), with the so100 config.

1. In process: ms per rendered frame (ArmRenderer) and per JPEG, against the baseline of
   copying a frame-sized array (the least any camera driver does).
2. As a node: CPU seconds per wall second of the fake_robot process over --seconds, while a
   probe subscribes to every camera (raw and compressed) and joint_states, against the same
   node with no camera subscriber (joint states only: the lazy cameras cost nothing).

    python benchmarks/bench_fake_robot.py [--seconds 20]    (after `source scripts/env.sh`)
"""

import argparse
import os
import pathlib
import sys
import time

import cv2

REPO = pathlib.Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO / 'test' / 'support'))


def per_call_ms(fn, n=300):
    fn()
    start = time.perf_counter()
    for i in range(n):
        fn(i)
    return (time.perf_counter() - start) / n * 1e3


def bench_frames(width=320, height=240):
    from pi0fast_ros.sim.arm_render import ArmLayout, ArmRenderer
    side = ArmRenderer(ArmLayout(), 'side', width, height)
    frame = side.render({})
    baseline = per_call_ms(lambda i=0: frame.copy())
    render = per_call_ms(lambda i=0: side.render({'shoulder_lift': i % 90, 'gripper': i % 100}))
    jpeg = per_call_ms(lambda i=0: cv2.imencode('.jpg', cv2.cvtColor(frame, cv2.COLOR_RGB2BGR),
                                                [cv2.IMWRITE_JPEG_QUALITY, 80]))
    print(f'frame {width}x{height}: copy (baseline) {baseline:.3f} ms, render {render:.3f} ms '
          f'({render / baseline:.0f}x), jpeg {jpeg:.3f} ms ({jpeg / baseline:.0f}x)')


def cpu_seconds(pid):
    fields = pathlib.Path(f'/proc/{pid}/stat').read_text().rsplit(')', 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / os.sysconf('SC_CLK_TCK')


def node_cpu(seconds, subscribe):
    from harness import NodeProcess, Probe, wait_for
    from sensor_msgs.msg import CompressedImage, Image, JointState
    log_dir = pathlib.Path('/tmp') / f'bench_fake_robot_{os.getpid()}'
    log_dir.mkdir(exist_ok=True)
    probe = Probe('bench_probe')
    node = NodeProcess('pi0fast_ros.nodes.fake_robot', log_dir=log_dir,
                       params_file=REPO / 'config' / 'so100.yaml')
    states = probe.collect(JointState, 'joint_states')
    frames = []
    if subscribe:
        for cam in ('front', 'wrist'):
            frames.append(probe.collect(Image, f'cameras/{cam}/image_raw'))
            frames.append(probe.collect(CompressedImage, f'cameras/{cam}/image_raw/compressed'))
    try:
        assert wait_for(lambda: len(states) > 50 and all(frames), 60), node.output()
        cpu0, t0, n0 = cpu_seconds(node.proc.pid), time.monotonic(), len(states)
        f0 = sum(len(f) for f in frames)
        time.sleep(seconds)     # a measurement window, not synchronisation
        cpu = (cpu_seconds(node.proc.pid) - cpu0) / (time.monotonic() - t0)
        rates = ((len(states) - n0) / seconds, (sum(len(f) for f in frames) - f0) / seconds)
    finally:
        node.stop()
        probe.close()
    return cpu, rates


def main(argv=None):
    ap = argparse.ArgumentParser(description=__doc__.split('\n\n')[0])
    ap.add_argument('--seconds', type=float, default=20.0)
    args = ap.parse_args(argv)
    print(f'load average before: {os.getloadavg()[0]:.2f} on {os.cpu_count()} cores')
    bench_frames()
    bench_frames(640, 480)
    base, base_rates = node_cpu(args.seconds, subscribe=False)
    full, rates = node_cpu(args.seconds, subscribe=True)
    print(f'fake_robot CPU, joint states only (baseline): {base * 100:.1f}% of a core '
          f'({base_rates[0]:.0f} joint states/s)')
    print(f'fake_robot CPU, 2 cameras raw + JPEG subscribed: {full * 100:.1f}% of a core '
          f'({rates[0]:.0f} joint states/s, {rates[1]:.0f} frames/s over 4 topics), '
          f'{full / base:.2f}x the baseline')
    print(f'load average after: {os.getloadavg()[0]:.2f}')


if __name__ == '__main__':
    sys.exit(main())
