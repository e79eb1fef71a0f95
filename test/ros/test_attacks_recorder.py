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
Attacks on rollout_recorder and the recording tools (issue 15 items 5-7, issue 16 item 5).

Each attack is the one that broke the recorder once: a directory it cannot create, a disk that
fills up, an instruction flood, messages larger than its queue, a bag without its instruction,
a message our tools cannot decode. The next attacker adds theirs here. A full disk and a
read-only mount are real: the recorder runs in a private mount namespace (unshare -m) on a
tmpfs made for the test, and the test reads the bag through /proc/<pid>/root.
"""

import functools
import os
import pathlib
import shutil
import subprocess
import time

from diagnostic_msgs.msg import DiagnosticArray, DiagnosticStatus
from harness import Probe, wait_for
from pi0fast_ros.recording.bag_writer import TYPESTORE
from pi0fast_ros.recording.recover import recover_bag
from pi0fast_ros.recording.rollout import load_rollout
from pi0fast_ros.tools import plot_rollout
from pi0fast_ros.tools import provenance
import pytest
from recorder_rig import (custom_data, LATCHED, MODULE, prepare_clients, publish_until, read_bag,
                          trigger)
from rollout_builder import RolloutBuilder, status, T0
from sensor_msgs.msg import JointState
from std_msgs.msg import String

ROS = pytest.mark.ros


@functools.lru_cache(maxsize=None)
def _mount_problem():
    """Return '' if a tmpfs can be mounted in a private mount namespace here, else why not."""
    import tempfile
    if not shutil.which('unshare'):
        return 'no unshare command'
    with tempfile.TemporaryDirectory() as where:
        run = subprocess.run(tmpfs_wrapper(where, 'size=64k') + ['true'], capture_output=True,
                             text=True, timeout=30)
    return '' if run.returncode == 0 else f'cannot mount a tmpfs: {run.stderr.strip()}'


def tmpfs_wrapper(mount_point, options):
    """Command prefix: a private mount namespace with a tmpfs (options) at mount_point."""
    unshare = ['unshare', '-m'] if os.geteuid() == 0 else ['unshare', '-r', '-m']
    return unshare + ['--propagation', 'private', 'sh', '-c',
                      'mount -t tmpfs -o "$1" pi0fast_test "$0" && shift && exec "$@"',
                      str(mount_point), options]


def need_mounts():
    if _mount_problem():
        pytest.skip(f'{_mount_problem()}: the mount-namespace attacks need unshare + mount')


def recorder(spawn, tmp_path, wrapper=(), **params):
    params = {'output_dir': str(tmp_path / 'rollouts'), 'checkpoint': str(tmp_path),
              'topics': ['joint_states', 'policy_node/active_instruction'],
              'recover_unfinished': False, **params}
    return spawn(MODULE, params=params, wrapper=wrapper)


def recorder_status(diagnostics, level=None):
    """Return the last /diagnostics status of rollout_recorder (at `level`, if given), or None."""
    for _, msg in reversed(list(diagnostics)):
        for entry in msg.status:
            if entry.name.endswith('rollout_recorder') and level in (None, entry.level):
                return entry
    return None


def status_value(status, key):
    return next((kv.value for kv in status.values if kv.key == key), None) if status else None


def big_joint_state(n):
    return JointState(name=[f'joint_{i}' for i in range(n)], position=[0.5] * n)


@ROS
@pytest.mark.parametrize('where', ['under_a_file', 'read_only_mount'])
def test_an_output_dir_it_cannot_create_leaves_it_up_and_saying_why(spawn, probe, tmp_path,
                                                                    where):
    wrapper = ()
    if where == 'under_a_file':
        (tmp_path / 'a_file').write_text('not a directory')
        out, reason = tmp_path / 'a_file' / 'rollouts', 'ENOTDIR'
    else:
        need_mounts()
        (tmp_path / 'ro').mkdir()
        out, reason = tmp_path / 'ro' / 'rollouts', 'EROFS'
        wrapper = tmpfs_wrapper(tmp_path / 'ro', 'ro,size=1m')
    prepare_clients(probe)
    diagnostics = probe.collect(DiagnosticArray, '/diagnostics')
    node = recorder(spawn, tmp_path, wrapper, output_dir=str(out), autostart=True)
    # Before: an unhandled traceback at the autostart, exit 1.
    assert node.wait_for_output(reason, 30), node.output()
    status = wait_for(lambda: recorder_status(diagnostics, DiagnosticStatus.ERROR), 20)
    assert status and reason in status.message and str(out) in status.message, status
    start = trigger(probe, 'rollout_recorder/start')
    assert not start.success and reason in start.message, start.message
    stop = trigger(probe, 'rollout_recorder/stop')
    assert not stop.success and 'not recording' in stop.message and reason in stop.message
    assert node.alive(), node.output()
    assert node.output().count(reason) == 1, node.output()     # once: the state is the same


@ROS
def test_a_full_disk_is_said_once_the_bag_is_kept_and_stop_tells_the_truth(spawn, probe,
                                                                           tmp_path):
    need_mounts()
    disk = tmp_path / 'disk'
    disk.mkdir()
    prepare_clients(probe)
    diagnostics = probe.collect(DiagnosticArray, '/diagnostics')
    node = recorder(spawn, tmp_path, tmpfs_wrapper(disk, 'size=1m'),
                    output_dir=str(disk / 'rollouts'), autostart=True, compress=False,
                    flush_period_s=0.2, topics=['joint_states'])
    js = probe.publisher(JointState, 'joint_states')
    # ~25 kB per message at 50 Hz: the 1 MiB disk is full within seconds.
    assert publish_until(probe, js, lambda: big_joint_state(1000),
                         lambda: 'ENOSPC' in node.output(), timeout=60), node.output()
    publish_until(probe, js, lambda: big_joint_state(1000), lambda: False, timeout=3.0)
    assert node.alive(), node.output()
    # Before: ~2000 log lines in 15 s, one per failed write and flush.
    assert node.output().count('ENOSPC') == 1, node.output()
    status = wait_for(lambda: recorder_status(diagnostics, DiagnosticStatus.ERROR), 20)
    assert status and 'ENOSPC' in status.message, status
    assert int(status_value(status, 'dropped.bag_failed')) > 0
    (bag,) = (pathlib.Path(f'/proc/{node.proc.pid}/root') / disk.relative_to('/') /
              'rollouts').iterdir()
    # Before: 'not recording', as if nothing had happened.
    stop = trigger(probe, 'rollout_recorder/stop')
    assert not stop.success and 'ENOSPC' in stop.message and bag.name in stop.message, stop
    assert 'pi0fast-recover-bag' in stop.message
    # What reached the disk is kept: the complete chunks rebuild into a readable bag.
    copy = tmp_path / bag.name
    shutil.copytree(bag, copy)
    report = recover_bag(copy)
    states = [m for topic, _, m in read_bag(copy) if topic == '/joint_states']
    assert states and len(states[0].name) == 1000, report.summary()
    assert not trigger(probe, 'rollout_recorder/stop').success


@ROS
def test_an_instruction_flood_opens_at_most_one_bag_per_min_rollout_s(spawn, probe, tmp_path):
    prepare_clients(probe)
    node = recorder(spawn, tmp_path, min_rollout_s=1.0)
    pub = probe.publisher(String, 'policy_node/active_instruction', LATCHED)
    pub.publish(String(data='instruction 0'))
    assert node.wait_for_output("(instruction 'instruction 0')", 30), node.output()
    sent = ['instruction 0']

    def next_instruction():
        sent.append(f'instruction {len(sent)}')
        return String(data=sent[-1])
    began = time.monotonic()
    publish_until(probe, pub, next_instruction, lambda: len(sent) >= 150)
    flood_s = time.monotonic() - began
    # The last one runs: a rollout under it is opened when min_rollout_s is up.
    assert node.wait_for_output(f"(instruction '{sent[-1]}')", 20), node.output()
    assert trigger(probe, 'rollout_recorder/stop', 'not recording').success
    bags = sorted(p for p in (tmp_path / 'rollouts').iterdir() if p.is_dir())
    # Before: one bag per change that got through (116 in 5 s).
    assert len(bags) <= flood_s / 1.0 + 2, (len(bags), flood_s)
    assert custom_data(bags[-1])['pi0fast.instruction'] == sent[-1]
    for bag in bags:
        first = [m.data for topic, _, m in read_bag(bag)
                 if topic == '/policy_node/active_instruction']
        assert first and first[0] == custom_data(bag)['pi0fast.instruction'], bag


@ROS
def test_every_bag_begins_with_the_instruction_it_ran_under(spawn, probe, tmp_path):
    prepare_clients(probe)
    description = probe.publisher(String, 'robot_description', LATCHED)
    description.publish(String(data='<robot/>'))     # latched, published once before
    node = recorder(spawn, tmp_path, autostart=True,
                    topics=['joint_states', 'policy_node/active_instruction', 'robot_description'])
    assert node.wait_for_output('rollout 1 recording', 30), node.output()
    assert node.wait_for_output('recording /robot_description', 30), node.output()
    # A policy node that comes up after the recorder (a new DDS participant) publishes its
    # instruction at once, before discovery has matched it with the recorder's subscriptions.
    late = Probe('late_policy')
    try:
        late.publisher(String, 'policy_node/active_instruction', LATCHED).publish(
            String(data='wave'))
        assert node.wait_for_output("instruction 'wave'", 20), node.output()
        _two_rollouts(probe)
    finally:
        late.close()
    bags = sorted(p for p in (tmp_path / 'rollouts').iterdir() if p.is_dir())
    assert len(bags) == 2, bags
    for bag in bags:
        messages = read_bag(bag)
        instructions = [m.data for topic, _, m in messages
                        if topic == '/policy_node/active_instruction']
        # Before: the first bag had no instruction message (1 of 4 demo bags).
        assert instructions == ['wave'], (bag, instructions)
        assert custom_data(bag)['pi0fast.instruction'] == 'wave'
        # Every latched topic's last message is carried into each new bag, once.
        assert [m.data for topic, _, m in messages if topic == '/robot_description'] == \
            ['<robot/>'], bag


def _two_rollouts(probe):
    """Record joint states into the open rollout, stop, start the next, record, stop."""
    js = probe.publisher(JointState, 'joint_states')
    count = {'n': 0}

    def joint_state():
        count['n'] += 1
        return JointState(name=['a'], position=[float(count['n'])])
    publish_until(probe, js, joint_state, lambda: count['n'] >= 30)
    assert trigger(probe, 'rollout_recorder/stop', 'not recording').success
    assert trigger(probe, 'rollout_recorder/start', 'already recording to ').success
    publish_until(probe, js, joint_state, lambda: count['n'] >= 60)
    assert trigger(probe, 'rollout_recorder/stop', 'not recording').success


@ROS
def test_messages_larger_than_the_queue_are_dropped_counted_and_said_once(spawn, probe,
                                                                          tmp_path):
    node = recorder(spawn, tmp_path, autostart=True, max_queue_mb=1.0)
    diagnostics = probe.collect(DiagnosticArray, '/diagnostics')
    js = probe.publisher(JointState, 'joint_states')
    # 70000 joints: ~1.2 MB of CDR, more than the whole queue (before: bounded in items only).
    huge = big_joint_state(70000)
    assert publish_until(probe, js, lambda: huge,
                         lambda: int(status_value(recorder_status(diagnostics),
                                                  'dropped.queue_full') or 0) >= 3,
                         timeout=60), node.output()
    publish_until(probe, js, lambda: JointState(name=['a'], position=[1.0]), lambda: False,
                  timeout=1.0)
    assert node.output().count('dropping messages: the queue') == 1, node.output()
    status = recorder_status(diagnostics)
    assert status.level == DiagnosticStatus.WARN, status
    assert node.stop() == 0, node.output()
    (bag,) = (tmp_path / 'rollouts').iterdir()
    sizes = {len(m.name) for topic, _, m in read_bag(bag) if topic == '/joint_states'}
    assert sizes == {1}, sizes


def _undecodable(msgtype, msg, good, bad):
    """Serialize msg, then swap the UTF-8 text `good` for the same number of invalid bytes."""
    data = bytes(TYPESTORE.serialize_cdr(msg, msgtype))
    assert data.count(good) == 1 and len(good) == len(bad)
    return data.replace(good, bad)


def test_a_message_our_tools_cannot_decode_is_skipped_and_counted(tmp_path, capsys):
    # Before: UnicodeDecodeError out of pi0fast-plot-rollout and pi0fast-provenance.
    builder = RolloutBuilder(tmp_path / 'bag')
    string = 'std_msgs/msg/String'
    builder.bag.add_topic('/r/policy_node/active_instruction', string)
    builder.bag.write('/r/policy_node/active_instruction', T0, _undecodable(
        string, TYPESTORE.types[string](data='wave'), b'wave', b'\xffwa\xfe'))
    builder.bag.write('/r/executor_node/status', T0 + 1, _undecodable(
        'diagnostic_msgs/msg/DiagnosticArray', status(T0, {'state': 'tracking_x'}),
        b'tracking_x', b'\xc3(\xa0\xa1tracki'))
    builder.build()
    rollout = load_rollout(tmp_path / 'bag')
    assert {topic: n for topic, (n, _) in rollout.unreadable.items()} == {
        '/r/policy_node/active_instruction': 1, '/r/executor_node/status': 1}
    assert len(rollout.ticks) == 60 and rollout.instructions == []
    assert plot_rollout.main([str(tmp_path / 'bag'), '-o', str(tmp_path / 'plot.png')]) == 0
    assert 'skipped 2 unreadable message(s)' in capsys.readouterr().err
    assert provenance.main([str(tmp_path / 'bag'), '--index', '3']) == 0
    captured = capsys.readouterr()
    assert 'skipped 2 unreadable message(s)' in captured.err and '1/1 commands' in captured.out
