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
Unfinished rollout bags (ROS-free), and pi0fast-recover-bag.

A writer process killed mid-rollout, cut-off and damaged files, bags still being written.
"""

import fcntl
import os
import pathlib
import signal
import subprocess
import sys
import textwrap
import time

from pi0fast_ros.recording.bag_writer import make_qos, RolloutBagWriter, TYPESTORE
from pi0fast_ros.recording.metadata import metadata_json
from pi0fast_ros.recording.recover import (BagInUseError, BagRecoveryError, find_unfinished,
                                           recover_bag)
from pi0fast_ros.tools import recover_bag as recover_cli
import pytest
from rosbags.highlevel import AnyReader
import yaml

STATE_QOS = make_qos('best_effort', 'volatile', 7)
META_QOS = make_qos('reliable', 'transient_local', 1)

# Writes joint states i = 0, 1, ... through the recorder's sink (flushing every 0.1 s), reports
# once messages 0..499 are known to be on disk (a flush completed after the writer thread had
# taken the last of them off the queue), then keeps writing until it is killed.
CHILD = textwrap.dedent("""
    import sys, time
    sys.path[:0] = [sys.argv[2]]
    from test_recorder_recovery import state_cdr
    from pi0fast_ros.recording.bag_writer import make_qos
    from pi0fast_ros.recording.sink import RolloutSink
    sink = RolloutSink(metadata_topic='/rollout_recorder/metadata', flush_period=0.1)
    sink.start(sys.argv[1], {'pi0fast.instruction': 'wave', 'pi0fast.rollout_index': '3'}, 5)
    qos = [make_qos('best_effort', 'volatile', 7)]
    i = 0

    def put():
        global i
        sink.put('/joint_states', 'sensor_msgs/msg/JointState', qos, 1000 + i, state_cdr(i))
        i += 1
    while i < 500:
        put()
    while sink.queued():
        time.sleep(0.001)
    flushes = sink.flushes
    while sink.flushes == flushes:
        time.sleep(0.001)
    print('SAFE', i, flush=True)
    while True:
        put()
        time.sleep(0.0005)
""")


def state_cdr(i):
    """Joint state number i, serialized (the child and the checks build the same bytes)."""
    import numpy as np
    types = TYPESTORE.types
    msg = types['sensor_msgs/msg/JointState'](
        header=types['std_msgs/msg/Header'](
            stamp=types['builtin_interfaces/msg/Time'](sec=i, nanosec=0), frame_id='base'),
        name=['shoulder', 'elbow'], position=np.array([i * 0.01, -i * 0.02]),
        velocity=np.zeros(0), effort=np.zeros(0))
    return bytes(TYPESTORE.serialize_cdr(msg, 'sensor_msgs/msg/JointState'))


def read(path):
    with AnyReader([pathlib.Path(path)], default_typestore=TYPESTORE) as reader:
        qos = {c.topic: c.ext.offered_qos_profiles for c in reader.connections}
        return [(c.topic, t, bytes(raw)) for c, t, raw in reader.messages()], qos


def custom_data(path):
    doc = yaml.safe_load((pathlib.Path(path) / 'metadata.yaml').read_text())
    return doc['rosbag2_bagfile_information']['custom_data']


def unfinished_bag(path, batches=3, per_batch=10, compress=True):
    """Write `batches` flushed batches of joint states, then stop without closing the bag."""
    bag = RolloutBagWriter(path, {'pi0fast.instruction': 'lost'}, compress=compress)
    bag.add_topic('/joint_states', 'sensor_msgs/msg/JointState', [STATE_QOS])
    bag.add_topic('/rollout_recorder/metadata', 'std_msgs/msg/String', [META_QOS])
    bag.write_message('/rollout_recorder/metadata', 1, TYPESTORE.types['std_msgs/msg/String'](
        data=metadata_json({'pi0fast.instruction': 'pick', 'pi0fast.host': 'arm1'})))
    sizes = []
    for b in range(batches):
        for i in range(b * per_batch, (b + 1) * per_batch):
            bag.write('/joint_states', 100 + i, state_cdr(i))
        assert bag.flush()
        sizes.append(bag.file.stat().st_size)
    bag.abort()
    return bag.file, sizes


def test_a_killed_writer_process_is_recovered_up_to_its_last_flush(tmp_path):
    path = tmp_path / 'rollout_x'
    test_dir = str(pathlib.Path(__file__).parent)
    child = subprocess.Popen([sys.executable, '-c', CHILD, str(path), test_dir],
                             stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    try:
        line = child.stdout.readline()
        assert line.startswith('SAFE'), child.stderr.read()
        safe = int(line.split()[1])
        time.sleep(0.35)            # a few more flushes, and an unflushed tail
    finally:
        child.send_signal(signal.SIGKILL)
        child.wait()
    assert not (path / 'metadata.yaml').exists()
    assert find_unfinished(tmp_path) == [path]

    report = recover_bag(path)
    messages, qos = read(path)
    states = [(t, data) for topic, t, data in messages if topic == '/joint_states']
    # A prefix of what was written, in order and byte for byte, at least up to the known flush.
    assert len(states) >= safe
    assert states == [(1000 + i, state_cdr(i)) for i in range(len(states))]
    assert report.messages == len(messages) and report.chunks >= 3
    assert qos['/joint_states'] == [STATE_QOS]
    data = custom_data(path)
    assert data['pi0fast.instruction'] == 'wave' and data['pi0fast.rollout_index'] == '3'
    assert f'{len(messages)} messages on 2 topics' in data['pi0fast.recovery']
    assert report.original == path / 'rollout_x.mcap.unfinished'
    assert report.original.stat().st_size > 0
    assert find_unfinished(tmp_path) == []


def test_a_cut_off_last_chunk_is_reported_and_every_complete_chunk_kept(tmp_path):
    file, sizes = unfinished_bag(tmp_path / 'b')
    os.truncate(file, sizes[1] + 40)   # the third chunk record is cut off after 40 bytes
    report = recover_bag(tmp_path / 'b', keep_original=False)
    messages, qos = read(tmp_path / 'b')
    states = [(t, data) for topic, t, data in messages if topic == '/joint_states']
    assert states == [(100 + i, state_cdr(i)) for i in range(20)]
    assert report.chunks == 2 and report.lost_bytes > 0 and 'cut off' in report.problem
    assert qos['/rollout_recorder/metadata'] == [META_QOS]
    # The in-bag metadata message wins over the writer's initial custom data.
    assert custom_data(tmp_path / 'b')['pi0fast.instruction'] == 'pick'
    assert 'cut off' in custom_data(tmp_path / 'b')['pi0fast.recovery']
    assert sorted(p.name for p in (tmp_path / 'b').iterdir()) == ['b.mcap', 'metadata.yaml']


def test_a_damaged_chunk_ends_the_recovery_there(tmp_path):
    file, sizes = unfinished_bag(tmp_path / 'b')
    raw = bytearray(file.read_bytes())
    raw[sizes[1] + 60] ^= 0xFF         # inside the third chunk's compressed payload
    file.write_bytes(bytes(raw))
    report = recover_bag(tmp_path / 'b')
    states = [t for topic, t, _ in read(tmp_path / 'b')[0] if topic == '/joint_states']
    assert states == [100 + i for i in range(20)]
    assert 'damaged chunk' in report.problem and report.lost_bytes > 0


def test_an_uncompressed_bag_is_recovered_uncompressed(tmp_path):
    unfinished_bag(tmp_path / 'b', batches=2, compress=False)
    recover_bag(tmp_path / 'b')
    doc = yaml.safe_load((tmp_path / 'b' / 'metadata.yaml').read_text())
    assert doc['rosbag2_bagfile_information']['compression_mode'] == ''
    assert len(read(tmp_path / 'b')[0]) == 21


def test_a_bag_still_being_written_is_left_alone(tmp_path):
    bag = RolloutBagWriter(tmp_path / 'live')
    bag.add_topic('/joint_states', 'sensor_msgs/msg/JointState', [STATE_QOS])
    bag.write('/joint_states', 1, state_cdr(0))
    assert bag.flush()
    before = bag.file.read_bytes()
    with pytest.raises(BagInUseError, match='still being recorded'):
        recover_bag(tmp_path / 'live')
    assert bag.file.read_bytes() == before
    assert sorted(p.name for p in (tmp_path / 'live').iterdir()) == ['live.mcap']
    bag.close()
    assert read(tmp_path / 'live')[0] == [('/joint_states', 1, state_cdr(0))]


def test_refusals_name_the_problem_and_change_nothing(tmp_path):
    finished = RolloutBagWriter(tmp_path / 'done')
    finished.close()
    with pytest.raises(BagRecoveryError, match='finished bag'):
        recover_bag(tmp_path / 'done')
    with pytest.raises(BagRecoveryError, match='not a directory'):
        recover_bag(tmp_path / 'missing')
    (tmp_path / 'empty').mkdir()
    with pytest.raises(BagRecoveryError, match='no MCAP file'):
        recover_bag(tmp_path / 'empty')
    (tmp_path / 'junk').mkdir()
    (tmp_path / 'junk' / 'junk.mcap').write_bytes(b'not an mcap file')
    with pytest.raises(BagRecoveryError, match='bad magic'):
        recover_bag(tmp_path / 'junk')
    # A chunk that decompresses and checks out but holds a truncated channel record.
    bad = tmp_path / 'bad'
    bad.mkdir()
    channel = b'\x04' + (4).to_bytes(8, 'little') + b'\x01\x00\x01\x00'
    records = channel
    chunk = (b'\0' * 16 + len(records).to_bytes(8, 'little') + b'\0' * 4 + b'\0' * 4
             + len(records).to_bytes(8, 'little') + records)
    (bad / 'bad.mcap').write_bytes(b'\x89MCAP0\r\n' + b'\x06' + len(chunk).to_bytes(8, 'little')
                                   + chunk)
    with pytest.raises(BagRecoveryError, match='malformed record'):
        recover_bag(bad)
    assert sorted(p.name for p in bad.iterdir()) == ['bad.mcap']
    # Killed before its first flush: only the MCAP header is on disk.
    early = RolloutBagWriter(tmp_path / 'early')
    early.add_topic('/joint_states', 'sensor_msgs/msg/JointState', [STATE_QOS])
    early.write('/joint_states', 1, state_cdr(0))
    early.abort()
    header_only = early.file.read_bytes()
    with pytest.raises(BagRecoveryError, match='no complete message'):
        recover_bag(tmp_path / 'early')
    assert early.file.read_bytes() == header_only
    assert sorted(p.name for p in (tmp_path / 'early').iterdir()) == ['early.mcap']


@pytest.mark.parametrize('stage', ['original kept', 'new file moved in'])
def test_an_interrupted_recovery_runs_again_from_the_kept_original(tmp_path, stage):
    file, _ = unfinished_bag(tmp_path / 'b', batches=2)
    original = file.read_bytes()
    # As if a recovery died after keeping the original (and perhaps after moving the new MCAP
    # file in), before writing metadata.yaml.
    file.rename(file.with_name('b.mcap.unfinished'))
    (tmp_path / 'b' / '.recovering' / 'b').mkdir(parents=True)
    (tmp_path / 'b' / '.recovering' / 'b' / 'b.mcap').write_bytes(b'partial')
    if stage == 'new file moved in':
        (tmp_path / 'b' / 'b.mcap').write_bytes(b'\x89MCAP0\r\n')
    assert find_unfinished(tmp_path) == [tmp_path / 'b']
    report = recover_bag(tmp_path / 'b')
    assert report.messages == 21
    assert sorted(p.name for p in (tmp_path / 'b').iterdir()) == [
        'b.mcap', 'b.mcap.unfinished', 'metadata.yaml']
    assert (tmp_path / 'b' / 'b.mcap.unfinished').read_bytes() == original
    assert len(read(tmp_path / 'b')[0]) == 21


def test_one_recovery_per_bag_at_a_time(tmp_path):
    file, _ = unfinished_bag(tmp_path / 'b', batches=1)
    directory = os.open(tmp_path / 'b', os.O_RDONLY)
    try:
        fcntl.flock(directory, fcntl.LOCK_EX)      # another recoverer holds the bag
        with pytest.raises(BagInUseError, match='being recovered by another process'):
            recover_bag(tmp_path / 'b')
    finally:
        os.close(directory)
    assert recover_bag(tmp_path / 'b').messages == 11


def test_recover_bag_cli_over_an_output_dir(tmp_path, capsys):
    root = tmp_path / 'rollouts'
    unfinished_bag(root / 'rollout_1', batches=1)
    unfinished_bag(root / 'rollout_2', batches=2)
    RolloutBagWriter(root / 'rollout_0').close()
    assert recover_cli.main([str(root), '--discard-original']) == 0
    out = capsys.readouterr().out
    assert 'rollout_1: recovered 11 messages' in out and 'rollout_2: recovered 21 messages' in out
    assert '2 of 2 unfinished bags recovered' in out
    assert not list(root.glob('*/*.unfinished'))
    assert recover_cli.main([str(root)]) == 0
    assert 'no unfinished bag' in capsys.readouterr().out

    (root / 'rollout_3').mkdir()
    (root / 'rollout_3' / 'rollout_3.mcap').write_bytes(b'\x89MCAP0\r\n\x01\x00')
    assert recover_cli.main([str(root)]) == 1
    assert 'rollout_3: not recovered' in capsys.readouterr().err


def test_recover_bag_cli_fails_on_a_path_that_is_not_there(tmp_path, capsys):
    # Before: '/nonexistent: no unfinished bag', exit 0.
    assert recover_cli.main([str(tmp_path / 'nonexistent')]) == 2
    assert 'no such file or directory' in capsys.readouterr().err
    (tmp_path / 'file').write_text('x')
    assert recover_cli.main([str(tmp_path / 'file')]) == 2
    assert 'not a directory' in capsys.readouterr().err
