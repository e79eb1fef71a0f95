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
pi0fast-export-dataset on bags written message by message (test/dataset_bags.py).

The dataset is read back with pyarrow and PyAV only, and every number is checked against
what the bag holds, computed here from the bag's own timing: grid frames at 1/30 s on the
joint-state clock, the latest message at or before each frame, policy = 2 * robot + 1.
"""

import json
import os

import av
import dataset_bags as db
import numpy as np
from pi0fast_ros.tools import export_dataset
import pyarrow as pa
import pyarrow.parquet as pq
import pytest

FPS = 30
STEP = db.NS / FPS


def run(bags, out, config, *extra):
    return export_dataset.main([*map(str, bags), '--out', str(out), '--config', str(config),
                                *map(str, extra)])


def decode(path):
    with av.open(str(path)) as container:
        return [f.to_ndarray(format='rgb24') for f in container.decode(video=0)]


@pytest.fixture(scope='module')
def exported(tmp_path_factory):
    tmp = tmp_path_factory.mktemp('export')
    config = db.write_config(tmp / 'robot.yaml')
    db.write_bag(tmp / 'bag_a', seconds=2.0, instruction='pick the cube')
    db.write_bag(tmp / 'bag_b', seconds=1.5, instruction='stack', camera_gap=(0.6, 0.8))
    assert run([tmp / 'bag_a', tmp / 'bag_b'], tmp / 'ds', config) == 0
    return tmp, config, tmp / 'ds'


def test_layout_and_metadata(exported):
    _, _, ds = exported
    info = json.loads((ds / 'meta/info.json').read_text())
    assert info['codebase_version'] == 'v3.0' and info['fps'] == FPS
    assert info['data_path'] == 'data/chunk-{chunk_index:03d}/file-{file_index:03d}.parquet'
    assert info['video_path'] == \
        'videos/{video_key}/chunk-{chunk_index:03d}/file-{file_index:03d}.mp4'
    feats = info['features']
    assert feats['observation.state'] == {'dtype': 'float32', 'shape': [3], 'names': db.JOINTS}
    assert feats['action']['names'] == db.JOINTS
    for key in ('observation.images.front', 'observation.images.wrist'):
        assert feats[key]['dtype'] == 'video'
        assert feats[key]['shape'] == [db.HEIGHT, db.WIDTH, 3]
        assert feats[key]['info']['video.codec'] == 'h264'
    for key in ('timestamp', 'frame_index', 'episode_index', 'index', 'task_index'):
        assert feats[key]['shape'] == [1]
    # bag_b's stalled camera splits it in two episodes
    assert info['total_episodes'] == 3 and info['splits'] == {'train': '0:3'}
    tasks = pq.read_table(ds / 'meta/tasks.parquet').to_pylist()
    assert tasks == [{'task_index': 0, 'task': 'pick the cube'},
                     {'task_index': 1, 'task': 'stack'}]
    episodes = pq.read_table(ds / 'meta/episodes/chunk-000/file-000.parquet').to_pylist()
    assert [e['tasks'] for e in episodes] == [['pick the cube'], ['stack'], ['stack']]
    assert sum(e['length'] for e in episodes) == info['total_frames']
    assert [e['dataset_from_index'] for e in episodes] == \
        [0] + [e['dataset_to_index'] for e in episodes[:-1]]
    for e in episodes:
        assert e['videos/observation.images.front/to_timestamp'] == \
            pytest.approx(e['length'] / FPS)


def _expected_frame(i):
    """Return what frame i of bag_a must hold (grid time T0 + i / 30 s)."""
    grid = db.T0 + round(i * STEP)
    js_stamp = grid // (db.NS // 100) * (db.NS // 100)
    command = max(k for k in range(60) if db.T0 + k * db.NS // 30 + 3_000_000 <= grid)
    camera = max(k for k in range(60) if db.T0 + k * db.NS // 30 + 1_000_000 <= grid)
    return js_stamp, command, camera


def test_frames_follow_the_joint_state_clock(exported):
    tmp, _, ds = exported
    table = pq.read_table(ds / 'data/chunk-000/file-000.parquet')
    assert table.schema.field('observation.state').type == pa.list_(pa.float32(), 3)
    n = table.num_rows
    assert n == 59      # 60 grid frames in 2 s; frame 0 has no command or camera frame yet
    np.testing.assert_allclose(table['timestamp'].to_numpy(), np.arange(n) / FPS, atol=1e-6)
    state = np.stack(table['observation.state'].to_numpy(zero_copy_only=False))
    action = np.stack(table['action'].to_numpy(zero_copy_only=False))
    for row in range(n):
        js_stamp, command, _ = _expected_frame(row + 1)
        np.testing.assert_allclose(state[row], 2 * db.joint_position(js_stamp) + 1, rtol=1e-6)
        np.testing.assert_allclose(action[row], 2 * db.command_value(command) + 1, rtol=1e-6)
    prov = pq.read_table(ds / 'pi0fast/provenance/episode-000000.parquet').to_pydict()
    assert set(prov['action/topic']) == {'/joint_commands'}
    assert set(prov['action/clock']) == {'received'}
    assert all(s <= t for s, t in zip(prov['observation.images.front/stamp_ns'],
                                      prov['frame_time_ns']))


def test_video_frames_are_the_recorded_frames(exported):
    _, _, ds = exported
    for camera in ('front', 'wrist'):
        frames = decode(ds / f'videos/observation.images.{camera}/chunk-000/file-000.mp4')
        assert len(frames) == 59
        for row, rgb in enumerate(frames):
            _, _, number = _expected_frame(row + 1)
            assert db.read_frame_number(rgb) == number
            error = np.abs(rgb.astype(int) - db.frame_image(number, camera).astype(int))
            assert error.mean() < 6.0      # H.264 at crf 30: lossy, but close


def test_av1_export_leaves_the_callers_scheduling_alone(tmp_path):
    # SVT-AV1 run as root makes the calling thread SCHED_FIFO 99; the writer puts it back.
    config = db.write_config(tmp_path / 'robot.yaml')
    db.write_bag(tmp_path / 'bag', seconds=1.0)
    before = os.sched_getscheduler(0), os.sched_getparam(0).sched_priority
    assert run([tmp_path / 'bag'], tmp_path / 'ds', config, '--vcodec', 'libsvtav1') == 0
    assert (os.sched_getscheduler(0), os.sched_getparam(0).sched_priority) == before
    info = json.loads((tmp_path / 'ds/meta/info.json').read_text())
    assert info['features']['observation.images.front']['info']['video.codec'] == 'av1'
    frames = decode(tmp_path / 'ds/videos/observation.images.front/chunk-000/file-000.mp4')
    assert len(frames) == info['total_frames']


def test_stale_camera_frames_are_dropped_and_counted(exported):
    tmp, _, ds = exported
    (report,) = json.loads((ds / 'pi0fast/export_report.json').read_text())
    bag_b = report['bags'][1]
    # no camera frame in [0.6, 0.8) s: a grid frame more than 0.1 s after the last one drops
    cameras = [db.T0 + k * db.NS // 30 + 1_000_000 for k in range(45)
               if not 0.6 <= (k * db.NS // 30 + 1_000_000) / db.NS < 0.8]
    stale = sum(1 for i in range(1, 45)
                if db.T0 + round(i * STEP) - max(c for c in cameras if c <= db.T0 + round(
                    i * STEP)) > 0.1 * db.NS)
    assert stale > 0
    assert bag_b['dropped']['stale observation.images.front (older than 0.1 s)'] == stale
    assert bag_b['episodes'] == 2
    assert bag_b['kept_frames'] + sum(bag_b['dropped'].values()) == bag_b['grid_frames']


def test_stats_round_trip(exported):
    _, _, ds = exported
    stats = json.loads((ds / 'meta/stats.json').read_text())
    tables = [pq.read_table(p) for p in sorted((ds / 'data').glob('*/*.parquet'))]
    for key in ('observation.state', 'action'):
        rows = np.concatenate([np.stack(t[key].to_numpy(zero_copy_only=False))
                               for t in tables])
        np.testing.assert_allclose(stats[key]['mean'], rows.mean(0), rtol=1e-5, atol=1e-6)
        np.testing.assert_allclose(stats[key]['std'], rows.std(0), rtol=1e-4, atol=1e-6)
        np.testing.assert_array_equal(stats[key]['min'], rows.min(0))
        np.testing.assert_array_equal(stats[key]['max'], rows.max(0))
        assert stats[key]['count'] == [len(rows)]
        # quantiles: per episode from a histogram, then count-weighted over the episodes
        # (LeRobot's aggregate); each within a few percent of the episode's exact quantile
        per_episode = [np.stack(t[key].to_numpy(zero_copy_only=False)) for t in tables]
        counts = np.array([len(r) for r in per_episode])[:, None]
        for name, q in (('q01', 0.01), ('q50', 0.5), ('q99', 0.99)):
            exact = np.array([np.quantile(r, q, axis=0) for r in per_episode])
            spans = np.array([r.max(0) - r.min(0) for r in per_episode])
            weighted = (exact * counts).sum(0) / counts.sum()
            slack = (0.05 * spans * counts).sum(0) / counts.sum() + 1e-6
            assert np.all(np.abs(np.array(stats[key][name]) - weighted) <= slack), name
    image = stats['observation.images.front']
    assert np.array(image['mean']).shape == (3, 1, 1)
    assert 0.0 <= np.min(image['min']) and np.max(image['max']) <= 1.0
    # the front camera is tinted red: its red channel is brighter than its blue one
    assert image['mean'][0][0][0] > image['mean'][2][0][0]


def test_refuses_an_existing_dataset_unless_append(exported, tmp_path):
    tmp, config, ds = exported
    before = sorted(p.relative_to(ds) for p in ds.rglob('*'))
    assert run([tmp / 'bag_a'], ds, config) == 2
    assert sorted(p.relative_to(ds) for p in ds.rglob('*')) == before
    copy = tmp_path / 'copy'
    import shutil
    shutil.copytree(ds, copy)
    assert run([tmp / 'bag_a'], copy, config, '--append') == 0
    info = json.loads((copy / 'meta/info.json').read_text())
    assert info['total_episodes'] == 4 and info['total_tasks'] == 2
    episodes = pq.read_table(copy / 'meta/episodes/chunk-000/file-000.parquet').to_pylist()
    assert episodes[3]['dataset_from_index'] == episodes[2]['dataset_to_index']
    last = pq.read_table(copy / 'data/chunk-000/file-003.parquet')
    assert set(last['task_index'].to_pylist()) == {0}
    assert last['index'].to_pylist()[0] == episodes[2]['dataset_to_index']


def test_rollout_reads_the_robot_joint_states_not_the_leader(tmp_path):
    from pi0fast_ros.recording.rollout import load_rollout
    written = db.write_bag(tmp_path / 'demo', seconds=1.0, commands=False, leader=True)
    rollout = load_rollout(tmp_path / 'demo')
    assert len(rollout.joint_states) == len(written['/joint_states']) == 100


def test_teleop_actions_come_from_the_leader_topic(tmp_path):
    config = db.write_config(tmp_path / 'robot.yaml')
    db.write_bag(tmp_path / 'demo', seconds=1.0, commands=False, leader=True)
    assert run([tmp_path / 'demo'], tmp_path / 'ds', config) == 2     # no commands
    assert run([tmp_path / 'demo'], tmp_path / 'ds', config,
               '--action-source', '/leader/joint_states') == 0
    table = pq.read_table(tmp_path / 'ds/data/chunk-000/file-000.parquet')
    action = np.stack(table['action'].to_numpy(zero_copy_only=False))
    for row, value in enumerate(action):
        grid = db.T0 + round((row + 1) * STEP)
        leader = grid // (db.NS // 50) * (db.NS // 50)
        np.testing.assert_allclose(value, 2 * (db.joint_position(leader) + 0.25) + 1,
                                   rtol=1e-6)


def test_a_bag_recorded_with_other_adapters_is_refused(tmp_path, capsys):
    config = db.write_config(tmp_path / 'robot.yaml')
    db.write_bag(tmp_path / 'same', seconds=1.0, config_text=db.CONFIG)
    assert run([tmp_path / 'same'], tmp_path / 'ds', config) == 0
    other = db.CONFIG.replace('scale: [2.0]', 'scale: [3.0]')
    db.write_bag(tmp_path / 'other', seconds=1.0, config_text=other)
    assert run([tmp_path / 'other'], tmp_path / 'ds2', config) == 2
    assert 'joints or adapters differ' in capsys.readouterr().err
    assert not (tmp_path / 'ds2').exists()


def test_an_instruction_change_starts_a_new_episode(tmp_path):
    config = db.write_config(tmp_path / 'robot.yaml')
    db.write_bag(tmp_path / 'bag', seconds=2.0, instruction='reach left',
                 instructions=[(0.0, 'reach left'), (1.0, 'reach right')])
    assert run([tmp_path / 'bag'], tmp_path / 'ds', config) == 0
    episodes = pq.read_table(tmp_path / 'ds/meta/episodes/chunk-000/file-000.parquet')
    assert episodes['tasks'].to_pylist() == [['reach left'], ['reach right']]
    # grid frame i is at i / 30 s: frames 1..29 before the change, 30..59 after it
    assert episodes['length'].to_pylist() == [29, 30]
    second = pq.read_table(tmp_path / 'ds/data/chunk-000/file-001.parquet')
    assert set(second['task_index'].to_pylist()) == {1}


@pytest.mark.parametrize('bag_args, message', [
    ({'joint_states': False}, 'no joint_states recorded'),
    ({'cameras': ('front',)}, 'camera observation.images.wrist'),
    ({'seconds': 0.25}, 'no run of at least 10 usable frames'),
    ({'instruction': ''}, 'no instruction recorded'),
    ({'nan_command': 7}, '/joint_commands message 7 (of 1) holds non-finite'),
])
def test_bad_bags_are_refused_with_the_reason(tmp_path, capsys, bag_args, message):
    config = db.write_config(tmp_path / 'robot.yaml')
    db.write_bag(tmp_path / 'bag', **bag_args)
    assert run([tmp_path / 'bag'], tmp_path / 'ds', config) == 2
    assert message in capsys.readouterr().err
    assert not (tmp_path / 'ds').exists()


def test_unfinished_bag_is_refused(tmp_path, capsys):
    config = db.write_config(tmp_path / 'robot.yaml')
    db.write_bag(tmp_path / 'bag')
    (tmp_path / 'bag' / 'metadata.yaml').unlink()       # what a killed recorder leaves
    assert run([tmp_path / 'bag'], tmp_path / 'ds', config) == 2
    assert 'pi0fast-recover-bag' in capsys.readouterr().err


def test_tokenizer_fits_on_the_exported_dataset(exported, tmp_path):
    from pi0fast_ros.core.fast.tokenizer import FastActionTokenizer
    from pi0fast_ros.tools.fit_tokenizer import main as fit_main
    _, _, ds = exported
    assert fit_main([str(ds), '-o', str(tmp_path / 'tok')]) == 2      # needs the horizon
    assert fit_main([str(ds), '-o', str(tmp_path / 'tok'), '--horizon', '10',
                     '--vocab-size', '512']) == 0
    tok = FastActionTokenizer.from_pretrained(tmp_path / 'tok')
    assert (tok.time_horizon, tok.action_dim) == (10, 3)
    episodes = pq.read_table(ds / 'meta/episodes/chunk-000/file-000.parquet').to_pylist()
    meta = json.loads((tmp_path / 'tok/metadata.json').read_text())
    assert meta['num_chunks'] == sum(e['length'] - 10 + 1 for e in episodes)
    # its chunks are the dataset's actions, MEAN_STD-normalized with meta/stats.json
    stats = json.loads((ds / 'meta/stats.json').read_text())['action']
    action = np.stack(pq.read_table(ds / 'data/chunk-000/file-000.parquet')['action']
                      .to_numpy(zero_copy_only=False))
    first = (action[:10] - np.array(stats['mean'])) / (np.array(stats['std']) + 1e-8)
    np.testing.assert_allclose(tok.decode(tok.encode(first)), first, atol=0.1)


def test_teleop_graph_has_no_policy_and_records_the_leader(tmp_path):
    from pi0fast_ros.graph import graph_nodes, GraphOptions
    config = db.write_config(tmp_path / 'robot.yaml')
    nodes = graph_nodes(GraphOptions(str(config), fake_hardware=True, record=True,
                                     teleop_topic='leader/joint_states'))
    assert [n.name for n in nodes] == ['fake_robot', 'rollout_recorder']
    assert nodes[0].overrides == {'leader_topic': 'leader/joint_states'}
    assert nodes[1].overrides['extra_topics'] == ['leader/joint_states']
    plain = graph_nodes(GraphOptions(str(config), fake_hardware=True, record=True))
    assert [n.name for n in plain][-2:] == ['executor_node', 'policy_node']
    assert 'extra_topics' not in plain[1].overrides and plain[0].overrides == {}


def test_scripted_leader_moves_within_the_limits():
    from pi0fast_ros.sim.fake_arm import ArmLimits, scripted_leader
    limits = ArmLimits.build(3, [-10.0, 0.0, -1.0], [10.0, 100.0, 1.0], [])
    start = np.array([0.0, 50.0, 0.9])
    path = np.array([scripted_leader(t, start, limits) for t in np.arange(0, 10, 0.01)])
    np.testing.assert_array_equal(path[0], start)
    assert np.all(path >= limits.lower) and np.all(path <= limits.upper)
    np.testing.assert_allclose(path.max(0) - path.min(0), [10.0, 50.0, 0.6], atol=0.05)
