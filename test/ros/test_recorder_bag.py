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
Rollout bags written by recording/ (ROS-free): read back by rosbags, and laid out for rosbag2.

`ros2 bag info` is not installable in the pip environment, so the metadata.yaml test checks the
fields and types that rosbag2 Jazzy's reader decodes (rosbag2_storage/include/rosbag2_storage/
yaml.hpp, convert<BagMetadata>::decode and convert<TopicMetadata>::decode for version 9).
"""

import json
import shutil
import subprocess

import numpy as np
from pi0fast_ros.recording.bag_writer import make_qos, RolloutBagWriter, TYPESTORE
from pi0fast_ros.recording.metadata import new_rollout_dir, rollout_metadata
from pi0fast_ros.recording.sink import BagError, DROP_QUEUE_FULL, RolloutSink
import pytest
from rosbags.highlevel import AnyReader
import yaml

QOS_V9_ENUMS = {
    'history': {'system_default', 'keep_last', 'keep_all', 'unknown'},
    'reliability': {'system_default', 'reliable', 'best_effort', 'unknown', 'best_available'},
    'durability': {'system_default', 'transient_local', 'volatile', 'unknown',
                   'best_available'},
    'liveliness': {'system_default', 'automatic', 'manual_by_topic', 'unknown',
                   'best_available'},
}


def joint_state_cdr(sec, names, positions):
    types = TYPESTORE.types
    msg = types['sensor_msgs/msg/JointState'](
        header=types['std_msgs/msg/Header'](
            stamp=types['builtin_interfaces/msg/Time'](sec=sec, nanosec=5), frame_id=''),
        name=names, position=np.asarray(positions, dtype=np.float64), velocity=np.zeros(0),
        effort=np.zeros(0))
    return TYPESTORE.serialize_cdr(msg, 'sensor_msgs/msg/JointState')


def read_all(path):
    with AnyReader([path], default_typestore=TYPESTORE) as reader:
        return [(c.topic, t, reader.deserialize(raw, c.msgtype))
                for c, t, raw in reader.messages()], reader


def test_round_trip_topics_times_and_contents(tmp_path):
    bag = RolloutBagWriter(tmp_path / 'b', {'pi0fast.instruction': 'pick'})
    bag.add_topic('/joint_states', 'sensor_msgs/msg/JointState', [make_qos()])
    bag.add_topic('/instr', 'std_msgs/msg/String',
                  [make_qos('reliable', 'transient_local', 1)])
    for i in range(5):
        bag.write('/joint_states', 1_000 + i, joint_state_cdr(i, ['a', 'b'], [i, -i]))
    bag.write_message('/instr', 2_000, TYPESTORE.types['std_msgs/msg/String'](data='pick'))
    assert bag.close() == {'/joint_states': 5, '/instr': 1}
    messages, _ = read_all(tmp_path / 'b')
    states = [(t, m) for topic, t, m in messages if topic == '/joint_states']
    assert [t for t, _ in states] == [1_000, 1_001, 1_002, 1_003, 1_004]
    assert [list(m.position) for _, m in states] == [[i, -i] for i in range(5)]
    assert [m.header.stamp.sec for _, m in states] == list(range(5))
    assert [m.data for topic, _, m in messages if topic == '/instr'] == ['pick']


def test_metadata_yaml_has_what_rosbag2_jazzy_decodes(tmp_path):
    bag = RolloutBagWriter(tmp_path / 'b', {'pi0fast.instruction': 'pick', 'k': 'v'})
    bag.add_topic('/joint_states', 'sensor_msgs/msg/JointState', [make_qos()])
    bag.write('/joint_states', 10, joint_state_cdr(0, ['a'], [1.0]))
    bag.close()
    info = yaml.safe_load((tmp_path / 'b' / 'metadata.yaml').read_text())
    meta = info['rosbag2_bagfile_information']
    assert meta['version'] == 9 and meta['storage_identifier'] == 'mcap'
    assert isinstance(meta['duration']['nanoseconds'], int)
    assert isinstance(meta['starting_time']['nanoseconds_since_epoch'], int)
    assert meta['message_count'] == 1
    for name in meta['relative_file_paths']:
        assert (tmp_path / 'b' / name).is_file()
    assert [f['path'] for f in meta['files']] == meta['relative_file_paths']
    for f in meta['files']:
        assert {'starting_time', 'duration', 'message_count'} <= set(f)
    assert isinstance(meta['compression_format'], str)
    assert isinstance(meta['compression_mode'], str)
    assert meta['custom_data'] == {'pi0fast.instruction': 'pick', 'k': 'v'}
    assert isinstance(meta['ros_distro'], str)
    (entry,) = meta['topics_with_message_count']
    assert entry['message_count'] == 1
    topic = entry['topic_metadata']
    assert (topic['name'], topic['type'], topic['serialization_format']) == \
        ('/joint_states', 'sensor_msgs/msg/JointState', 'cdr')
    assert topic['type_description_hash'].startswith('RIHS01_')
    (qos,) = topic['offered_qos_profiles']      # v9: a YAML list of maps, not a string
    for key, allowed in QOS_V9_ENUMS.items():
        assert qos[key] in allowed
    assert isinstance(qos['depth'], int)
    for key in ('deadline', 'lifespan', 'liveliness_lease_duration'):
        assert set(qos[key]) == {'sec', 'nsec'}
    assert isinstance(qos['avoid_ros_namespace_conventions'], bool)


def test_unknown_type_and_duplicate_topic_are_refused(tmp_path):
    bag = RolloutBagWriter(tmp_path / 'b')
    with pytest.raises(ValueError, match='unknown to the rosbags'):
        bag.add_topic('/x', 'my_msgs/msg/Nope')
    bag.add_topic('/x', 'std_msgs/msg/String')
    with pytest.raises(ValueError, match='already in the bag'):
        bag.add_topic('/x', 'std_msgs/msg/String')
    bag.close()


def test_sink_rolls_over_between_bags_without_mixing_messages(tmp_path):
    sink = RolloutSink(metadata_topic='/rec/metadata')
    string = 'std_msgs/msg/String'

    def data(text):
        return TYPESTORE.serialize_cdr(TYPESTORE.types[string](data=text), string)

    assert not sink.put('/t', string, [], 1, data('before start'))
    sink.start(tmp_path / 'one', {'pi0fast.instruction': 'first'}, 5)
    for i in range(3):
        assert sink.put('/t', string, [], 10 + i, data(f'one-{i}'))
    one = sink.stop()
    sink.start(tmp_path / 'two', {'pi0fast.instruction': 'second'}, 20,
               first_messages=[('/i', string, [], 20, data('second'))])
    sink.put('/t', string, [], 21, data('two-0'))
    sink.update_metadata({'pi0fast.instruction': 'second, amended'}, 22)
    two = sink.shutdown()
    assert one[1] == {'/rec/metadata': 1, '/t': 3}
    assert two[1] == {'/rec/metadata': 2, '/i': 1, '/t': 1}
    msgs_one, _ = read_all(tmp_path / 'one')
    msgs_two, reader_two = read_all(tmp_path / 'two')
    assert [m.data for topic, _, m in msgs_one if topic == '/t'] == ['one-0', 'one-1', 'one-2']
    assert [m.data for topic, _, m in msgs_two if topic != '/rec/metadata'] == \
        ['second', 'two-0']
    last_meta = [json.loads(m.data) for topic, _, m in msgs_two if topic == '/rec/metadata'][-1]
    assert last_meta['instruction'] == 'second, amended'
    custom = yaml.safe_load((tmp_path / 'two' / 'metadata.yaml').read_text())
    assert custom['rosbag2_bagfile_information']['custom_data']['pi0fast.instruction'] == \
        'second, amended'
    assert sink.stop() is None and not sink.recording


def test_sink_refuses_a_second_start(tmp_path):
    sink = RolloutSink()
    sink.start(tmp_path / 'a', {}, 1)
    with pytest.raises(RuntimeError, match='already recording'):
        sink.start(tmp_path / 'b', {}, 2)
    sink.shutdown()


def test_sink_bounds_its_queue_in_bytes_and_counts_what_it_drops(tmp_path):
    # A bound in items let 20000 camera frames (~18 GB at 640x480 rgb8) wait in memory.
    sink = RolloutSink(max_queue_bytes=1 << 20)
    sink.start(tmp_path / 'a', {}, 1)
    big, small = b'\0' * (2 << 20), joint_state_cdr(1, ['a'], [1.0])
    assert not sink.put('/img', 'sensor_msgs/msg/Image', [], 2, big)
    assert sink.put('/js', 'sensor_msgs/msg/JointState', [], 3, small)
    assert sink.drops[DROP_QUEUE_FULL] == 1 and sink.dropped == 1
    closed = sink.shutdown()
    assert closed.counts.get('/js') == 1 and '/img' not in closed.counts and not closed.error
    assert sink.queued_bytes() == 0


def test_sink_reports_a_bag_it_cannot_create_and_keeps_working(tmp_path):
    (tmp_path / 'a_file').write_text('not a directory')
    sink = RolloutSink()
    with pytest.raises(BagError, match='ENOTDIR') as err:
        sink.start(tmp_path / 'a_file' / 'rollouts' / 'bag', {}, 1)
    assert 'a_file' in str(err.value) and not sink.recording
    assert not sink.put('/t', 'std_msgs/msg/String', [], 2, b'')
    assert sink.stop() is None
    sink.start(tmp_path / 'ok' / 'bag', {'pi0fast.instruction': 'x'}, 3)   # thread still up
    closed = sink.shutdown()
    assert closed.path == tmp_path / 'ok' / 'bag' and not closed.error
    assert (closed.path / 'metadata.yaml').is_file()


def test_metadata_identifies_checkpoint_config_and_version(tmp_path):
    ckpt = tmp_path / 'ckpt'
    ckpt.mkdir()
    (ckpt / 'config.json').write_text('{"type": "pi0_fast"}')
    config = tmp_path / 'robot.yaml'
    config.write_text('/**:\n  ros__parameters:\n    action_rate_hz: 30.0\n')
    meta = rollout_metadata(instruction='stack', checkpoint=str(ckpt), config_file=str(config),
                            namespace='/r1', rollout_index=3)
    assert meta['pi0fast.instruction'] == 'stack'
    assert meta['pi0fast.config'] == config.read_text()
    assert len(meta['pi0fast.checkpoint_config_sha256']) == 64
    assert meta['pi0fast.rollout_index'] == '3' and meta['pi0fast.namespace'] == '/r1'
    assert meta['pi0fast.package_version'] not in ('', 'unknown')
    assert all(isinstance(v, str) for v in meta.values())


def test_new_rollout_dirs_never_collide(tmp_path):
    import datetime
    now = datetime.datetime(2026, 1, 2, 3, 4, 5)
    first = new_rollout_dir(tmp_path, now=now)
    first.mkdir()
    second = new_rollout_dir(tmp_path, now=now)
    assert first.name == 'rollout_20260102_030405' and second != first and not second.exists()


def test_rosbag2_itself_reads_the_bag(tmp_path):
    # The strongest check that `ros2 bag info` / `ros2 bag play` accept our bags: rosbag2's own
    # metadata parser and MCAP storage plugin. rosbag2_py is not on PyPI: this runs where ROS 2
    # is installed (the GitHub workflow) and is skipped in the pip environment.
    rosbag2_py = pytest.importorskip(
        'rosbag2_py', reason='rosbag2_py is not on PyPI; runs under a ROS 2 installation')
    from rclpy.serialization import deserialize_message
    from sensor_msgs.msg import JointState
    bag = RolloutBagWriter(tmp_path / 'b', {'pi0fast.instruction': 'pick'})
    bag.add_topic('/joint_states', 'sensor_msgs/msg/JointState', [make_qos()])
    for i in range(4):
        bag.write('/joint_states', 100 + i, joint_state_cdr(i, ['a', 'b'], [i, 2.0 * i]))
    bag.close()
    meta = rosbag2_py.Info().read_metadata(str(tmp_path / 'b'), 'mcap')
    assert meta.message_count == 4 and meta.custom_data['pi0fast.instruction'] == 'pick'
    reader = rosbag2_py.SequentialReader()
    reader.open(rosbag2_py.StorageOptions(uri=str(tmp_path / 'b'), storage_id='mcap'),
                rosbag2_py.ConverterOptions('cdr', 'cdr'))
    read = []
    while reader.has_next():
        topic, data, t = reader.read_next()
        read.append((topic, t, list(deserialize_message(data, JointState).position)))
    assert read == [('/joint_states', 100 + i, [i, 2.0 * i]) for i in range(4)]
    if shutil.which('ros2'):
        info = subprocess.run(['ros2', 'bag', 'info', str(tmp_path / 'b')], capture_output=True,
                              text=True, timeout=60)
        assert info.returncode == 0 and '/joint_states' in info.stdout, info.stderr
