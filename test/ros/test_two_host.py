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
Split deployment: `role` picks one host's side of the graph.

The split graph runs across two network namespaces (test/support/netns.py) with JPEG cameras on the
link, also with the gpu host's clock 2 s off (libfaketime on the policy node's processes;
CLOCK_MONOTONIC untouched), and with 1 % of the packets lost each way (nftables) and every frame
delayed 5 +/- 2 ms (test/support/delay_line.py): the kernel has no netem.
"""

import glob
import os
import pathlib
import re
import subprocess
import sys

from graph_checks import check_recorded_provenance, graph_test_config, make_test_checkpoint
from harness import CONFIG_DIR, wait_for
import netns
from pi0fast_ros import graph
import pytest
import yaml

CONFIG = CONFIG_DIR / 'so100.yaml'
INSTRUCTION = 'pick up the cube'


def _names(role):
    options = graph.GraphOptions(str(CONFIG), fake_hardware=True, record=True, role=role)
    return [spec.name for spec in graph.graph_nodes(options)]


def test_roles_split_the_graph_in_two():
    assert _names('robot') == ['fake_robot', 'rollout_recorder', 'executor_node']
    assert _names('gpu') == ['policy_node']
    assert _names('all') == _names('robot') + _names('gpu')


def test_unknown_role_is_refused():
    with pytest.raises(ValueError, match="unknown role 'laptop'"):
        _names('laptop')


def test_dds_profile_auto_gives_split_hosts_the_lossy_link_profile(tmp_path):
    def env(role, profile='auto', environ=None):
        options = graph.GraphOptions(str(CONFIG), role=role, dds_profile=profile)
        return graph.dds_environment(options, environ or {})

    for role in ('robot', 'gpu'):
        values = env(role)
        assert set(values) == set(graph.DDS_PROFILE_VARS)
        path = values[PROFILE_VAR]
        assert path.endswith('config/fastdds_lossy_link.xml') and os.path.isfile(path), path
    assert env('all') == {}                        # one host: no lossy link
    assert env('gpu', 'none') == {}
    # a profile the user set in the environment stays theirs
    assert env('robot', environ={'FASTRTPS_DEFAULT_PROFILES_FILE': '/etc/mine.xml'}) == {}
    mine = tmp_path / 'mine.xml'
    mine.write_text('<profiles/>')
    assert env('all', str(mine))[PROFILE_VAR] == str(mine)
    with pytest.raises(FileNotFoundError, match="dds_profile 'nosuch.xml' does not exist"):
        env('robot', 'nosuch.xml')


def test_bringup_refuses_a_missing_dds_profile(capsys):
    from pi0fast_ros.tools import bringup
    assert bringup.main(['--config', str(CONFIG), '--role', 'gpu', '--dds-profile',
                         '/nonexistent/profile.xml']) == 2
    assert "dds_profile '/nonexistent/profile.xml' does not exist" in capsys.readouterr().err


def test_bringup_refuses_an_unknown_role(capsys):
    from pi0fast_ros.tools import bringup
    with pytest.raises(SystemExit):
        bringup.main(['--config', str(CONFIG), '--role', 'laptop'])
    assert "invalid choice: 'laptop'" in capsys.readouterr().err


def jpeg_config(tmp_path):
    """Write the so100 test config with the policy on the cameras' JPEG topics."""
    path = graph_test_config(tmp_path, CONFIG)
    doc = yaml.safe_load(path.read_text())
    policy = doc['/**/policy_node']['ros__parameters']
    policy['camera_topics'] = [t + '/compressed' for t in policy['camera_topics']]
    policy['camera_transports'] = ['compressed'] * len(policy['camera_topics'])
    path.write_text(yaml.safe_dump(doc))
    return path


def faketime_library():
    """Return libfaketime's preload library ('' when the faketime package is absent)."""
    found = glob.glob('/usr/lib/*/faketime/libfaketime.so.1') + \
        glob.glob('/usr/lib*/faketime/libfaketime.so.1')
    return sorted(found)[0] if found else ''


def skewed(env, skew):
    """Return env with the real-time clock moved by skew ('+2s'), monotonic ones untouched."""
    if not skew:
        return env
    return {**env, 'LD_PRELOAD': faketime_library(), 'FAKETIME': skew,
            'FAKETIME_DONT_FAKE_MONOTONIC': '1', 'FAKETIME_DONT_RESET': '1'}


def start_side(bed, side, args, log_path):
    """pi0fast-bringup --role side inside side's namespace, output to log_path."""
    log = open(log_path, 'wb')
    proc = bed.popen(side, [sys.executable, '-u', '-m', 'pi0fast_ros.tools.bringup',
                            '--role', side, *args], env=bed.env(side), stdout=log,
                     stderr=log, start_new_session=True)
    return proc, log


def start_skewed_policy(bed, options, log_path, skew):
    """
    Start the gpu side's one node as `bringup --role gpu` does, under libfaketime.

    Not through bringup itself: Python's subprocess waits sleep on a faked clock and fail
    (EINVAL) under libfaketime, which is a property of the emulation, not of the graph.
    """
    (spec,) = graph.graph_nodes(options)
    overrides = graph.write_overrides(spec, str(log_path.parent))
    log = open(log_path, 'wb')
    env = {**bed.env('gpu'), **graph.dds_environment(options, bed.env('gpu'))}
    proc = bed.popen('gpu', [sys.executable, '-u', '-m', spec.module,
                             *graph.ros_args(spec, options, overrides)],
                     env=skewed(env, skew), stdout=log, stderr=log,
                     start_new_session=True)
    return proc, log


PROFILE_VAR = graph.DDS_PROFILE_VARS[0]


def node_environment(log_path, name):
    """Return the environment of the node bringup started as `name` (pid from its log)."""
    found = re.search(rf'started {name} \(pid (\d+)\)', log_path.read_text(errors='replace'))
    assert found, log_path.read_text(errors='replace')[-2000:]
    raw = pathlib.Path(f'/proc/{found.group(1)}/environ').read_bytes()
    return dict(item.split('=', 1) for item in raw.decode(errors='replace').split('\0')
                if '=' in item)


def stop_side(proc, log, timeout=90.0):
    """SIGINT to bringup (it stops its nodes); kill the group if it does not exit."""
    import signal
    if proc.poll() is None:
        os.killpg(proc.pid, signal.SIGINT)
    try:
        return proc.wait(timeout)
    except Exception:
        os.killpg(proc.pid, signal.SIGKILL)
        return proc.wait(10)
    finally:
        log.close()


def policy_diagnostics(rollouts):
    """Return the policy node's recorded /diagnostics statuses: [(level, message)]."""
    from rosbags.highlevel import AnyReader
    from rosbags.typesys import get_typestore, Stores
    (bag,) = [p for p in rollouts.iterdir() if p.is_dir()]
    out = []
    with AnyReader([bag], default_typestore=get_typestore(Stores.ROS2_JAZZY)) as reader:
        conns = [c for c in reader.connections if c.topic == '/diagnostics']
        for conn, _, raw in reader.messages(connections=conns):
            out += [(s.level, s.message) for s in reader.deserialize(raw, conn.msgtype).status
                    if 'policy_node' in s.name]
    return out


@pytest.mark.ros
@pytest.mark.slow
@pytest.mark.parametrize('skew, loss', [('', 0.0), ('+2s', 0.0), ('-2s', 0.0), ('', 1.0)],
                         ids=['same-clock', 'gpu+2s', 'gpu-2s', '5ms2ms+1%loss'])
def test_split_graph_across_two_namespaces_over_jpeg(tmp_path, skew, loss):
    reason = netns.unavailable_reason()
    if reason:
        pytest.skip(reason)
    if skew and not faketime_library():
        pytest.skip('libfaketime is not installed (apt-get install faketime; scripts/setup.sh '
                    'does it as root): cannot skew the gpu host clock')
    config = jpeg_config(tmp_path)
    checkpoint = make_test_checkpoint(tmp_path / 'checkpoint', config)
    common = ['--config', config, '--instruction', INSTRUCTION]
    logs = {side: tmp_path / f'{side}.log' for side in netns.SIDES}
    # With loss, the link also delays every frame 5 +/- 2 ms (a delay line in a namespace
    # between the hosts: this kernel has no netem).
    with netns.TwoHosts(f'p{os.getpid() % 100000}', wire=bool(loss)) as bed:
        bed.limit_rate('50mbit')
        if loss:
            why = bed.try_loss(loss)
            if why:
                pytest.skip(f'cannot lose packets on the link: {why} (scripts/setup.sh installs '
                            'nftables as root)')
            bed.start_delay_line(5.0, 2.0, tmp_path / 'delay_line.json')
        robot = start_side(bed, 'robot', common + ['--fake-hardware', '--record',
                                                   tmp_path / 'rollouts'], logs['robot'])
        if skew:
            gpu = start_skewed_policy(bed, graph.GraphOptions(
                str(config), checkpoint=str(checkpoint), instruction=INSTRUCTION, role='gpu'),
                logs['gpu'], skew)
        else:
            gpu = start_side(bed, 'gpu', common + ['--checkpoint', checkpoint], logs['gpu'])
        try:
            # The executor logs the policy's action envelope: it crossed the link.
            assert wait_for(lambda: 'action envelope:' in logs['robot'].read_text(
                errors='replace'), 300, 0.5), logs['robot'].read_text()[-4000:]
            before = bed.link_bytes()
            # Each side's nodes run with the lossy-link Fast DDS profile (dds_profile auto)
            profiles = {side: node_environment(logs[side], name).get(PROFILE_VAR, '')
                        for side, name in (('robot', 'executor_node'), ('gpu', 'policy_node'))
                        if not (skew and side == 'gpu')}
            wait_for(lambda: False, 25, 1.0)          # let the arm run on the policy's chunks
            after, dropped = bed.link_bytes(), bed.dropped()
            bed.stop_delay_line()
        finally:
            gpu_code = stop_side(*gpu)
            wait_for(lambda: False, 3, 0.5)            # the executor holds: policy gone
            robot_code = stop_side(*robot)
    out = {side: path.read_text(errors='replace') for side, path in logs.items()}
    from pi0fast_ros.tools.bringup import CLEAN_EXIT
    assert robot_code == 0, out['robot'][-3000:]
    # Under libfaketime with a negative offset the policy process has been seen to die of
    # SIGSEGV at shutdown (after its work; the emulation's, not reproduced without it): its
    # exit code is checked only on real clocks.
    assert gpu_code in CLEAN_EXIT or skew, out['gpu'][-3000:]
    # With loss, packets were lost on the way (both ways: JPEG frames and DDS's own traffic),
    # and the frames that crossed were held by the delay line (each at least its drawn 3-7 ms;
    # how late a loaded machine makes it is the benchmark's to report, not a test's).
    assert not loss or (dropped.get('robot', 0) > 0 and dropped.get('gpu', 0) > 0), dropped
    if loss:
        line = bed.delay_stats
        assert all(n > 0 for n in line['frames'].values()), line
        assert line['held_ms']['p50'] >= 4.0 and line['drawn_ms']['p50'] >= 4.0, line
    assert all(p.endswith('config/fastdds_lossy_link.xml') for p in profiles.values()), \
        profiles
    # Cameras went robot -> gpu (JPEG), chunks gpu -> robot: bytes moved both ways.
    assert after['robot_tx'] > before['robot_tx'] and after['gpu_tx'] > before['gpu_tx']
    # Chunks arrived in the robot namespace and the commands follow them (provenance traced
    # through the recorded bag: command -> chunk -> observation frames of each camera).
    # With skewed clocks too: the chunks keep the robot's stamps (traced to recorded joint
    # states), and the executor ran them.
    check_recorded_provenance(tmp_path / 'rollouts', INSTRUCTION, config)
    skew_reports = [m for _, m in policy_diagnostics(tmp_path / 'rollouts')
                    if 'clock skew detected' in m]
    if skew:
        # offset = skew + the quickest transit: about 2 s, robot behind when our clock is +
        side = 'behind' if skew.startswith('+') else 'ahead of'
        found = [float(re.search(r'stamped ([0-9.]+) s', m).group(1)) for m in skew_reports
                 if f's {side} this clock' in m]
        assert found and all(1.5 < x < 2.5 for x in found), skew_reports[-3:]
    else:
        assert not skew_reports, skew_reports[:3]


@pytest.mark.ros
def test_lossy_link_profile_loads_in_fast_dds(tmp_path):
    # The README's advice for a lossy link: FASTRTPS_DEFAULT_PROFILES_FILE=<installed file>.
    # Fast DDS reports a profile it cannot parse as "XMLPARSER Error" and carries on without it;
    # the installed file must load cleanly in a node that publishes (its writers use it).
    from ament_index_python.packages import get_package_share_directory
    profile = pathlib.Path(get_package_share_directory('pi0fast_ros'), 'config',
                           'fastdds_lossy_link.xml')
    assert profile.is_file(), f'{profile} is not installed (setup.py data_files)'
    code = ('import rclpy; from std_msgs.msg import String; rclpy.init(); '
            'node = rclpy.create_node("profile_probe"); '
            'node.create_publisher(String, "probe", 10); print("published")')
    env = {**os.environ, 'FASTRTPS_DEFAULT_PROFILES_FILE': str(profile),
           'RMW_IMPLEMENTATION': 'rmw_fastrtps_cpp'}
    done = subprocess.run([sys.executable, '-c', code], env=env, capture_output=True, text=True,
                          timeout=120)
    out = done.stdout + done.stderr
    assert done.returncode == 0 and 'published' in out, out
    assert 'XMLPARSER' not in out and 'Error' not in out, out
