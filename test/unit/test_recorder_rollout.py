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
Reading rollouts back, provenance and the plot, on bags written here message by message.

The bags follow the documented contracts (docs/architecture.md; core/status.py for the status
and chunk_info keys), so every provenance link can be made present or broken on purpose.
test_graph_bringup.py does the same on a bag the real graph recorded.
"""

import cv2
import numpy as np
from pi0fast_ros.recording.bag_writer import RolloutBagWriter
from pi0fast_ros.recording.provenance import (find_tick, moving_indices, sample_indices,
                                              trace_command)
from pi0fast_ros.recording.rollout import load_rollout, parse_floats
from pi0fast_ros.tools import plot_rollout
from pi0fast_ros.tools import provenance
import pytest
from rollout_builder import RolloutBuilder, status, T0


@pytest.fixture
def rollout_bag(tmp_path):
    stamps = RolloutBuilder(tmp_path / 'bag').build()
    return tmp_path / 'bag', stamps


def test_load_rollout_reads_every_stream(rollout_bag):
    bag, stamps = rollout_bag
    rollout = load_rollout(bag)
    assert [c.stamp_ns for c in rollout.chunks] == stamps
    assert rollout.chunks[0].delay_s == pytest.approx(0.1)
    assert rollout.chunks[0].positions.shape == (30, 2)
    assert len(rollout.ticks) == len(rollout.commands) == 60
    assert rollout.ticks.state[-1] == 'holding' and rollout.ticks.hold_reason[-1]
    np.testing.assert_array_equal(rollout.ticks.command[10], rollout.commands.values[10])
    assert set(rollout.chunk_info) == set(stamps)
    assert rollout.metadata['pi0fast.instruction'] == 'wave'
    assert list(rollout.images) == ['/r/cameras/front/image_raw/compressed']


def test_every_command_traces_to_its_chunk_and_observation(rollout_bag):
    bag, stamps = rollout_bag
    rollout = load_rollout(bag)
    for i in range(len(rollout.commands)):
        prov = trace_command(rollout, i)
        assert prov.complete, prov.problems
        assert prov.tick_index == i      # identical commands while holding: the nearest
        assert prov.chunk_stamp_ns == rollout.ticks.active_ns[i]
        assert prov.joint_state_t_ns == prov.chunk_stamp_ns + 1000
        topic, _ = prov.frames['observation.images.front']
        assert topic.endswith('/front/image_raw/compressed')
    held = trace_command(rollout, len(rollout.commands) - 1)
    assert held.held and held.hold_reason == 'policy_silent'
    assert trace_command(rollout, 1).blended


@pytest.mark.parametrize('dropped, problem', [
    ('/r/action_chunk', 'is not in the bag'),
    ('/r/policy_node/chunk_info', 'no policy_node/chunk_info'),
    ('/r/joint_states', 'joint state'),
    ('/r/cameras/front/image_raw/compressed', 'camera slot observation.images.front'),
    ('/r/executor_node/status', 'no executor_node/status tick'),
])
def test_broken_links_are_reported(tmp_path, dropped, problem):
    RolloutBuilder(tmp_path / 'bag', drop=[dropped]).build()
    prov = trace_command(load_rollout(tmp_path / 'bag'), 20)
    assert not prov.complete
    assert any(problem in p for p in prov.problems), prov.problems


def test_a_command_with_no_matching_status_values_is_not_guessed(rollout_bag):
    bag, _ = rollout_bag
    rollout = load_rollout(bag)
    rollout.commands.values[5] += 1e-3
    assert find_tick(rollout, 5) == -1


def test_a_status_not_in_the_schema_is_skipped_and_counted(tmp_path):
    builder = RolloutBuilder(tmp_path / 'bag')
    builder.write('/r/executor_node/status', T0, status(T0, {'seq': 'one', 'command': '1,2'}))
    builder.write('/r/policy_node/chunk_info', T0, status(T0, {'stamp_ns.joint_states': 'x'}))
    stamps = builder.build()
    rollout = load_rollout(tmp_path / 'bag')
    assert len(rollout.ticks) == 60 and set(rollout.chunk_info) == set(stamps)
    assert {topic: n for topic, (n, _) in rollout.unreadable.items()} == {
        '/r/executor_node/status': 1, '/r/policy_node/chunk_info': 1}
    assert "'seq': 'one' is not an integer" in rollout.unreadable_summary()
    assert all(trace_command(rollout, i).complete for i in range(len(rollout.commands)))


def test_parse_floats_and_samples():
    np.testing.assert_array_equal(parse_floats('1.0,-2e-3, nan'), [1.0, -2e-3, np.nan])
    assert parse_floats('').size == 0
    assert sample_indices(5, 10) == [0, 1, 2, 3, 4]
    picked = sample_indices(1000, 7, seed=3)
    assert picked == sorted(set(picked)) and len(picked) == 7 and picked == \
        sample_indices(1000, 7, seed=3)


def test_plot_rollout_writes_a_readable_png(rollout_bag, tmp_path, capsys):
    bag, _ = rollout_bag
    out = tmp_path / 'plot.png'
    assert plot_rollout.main([str(bag), '-o', str(out)]) == 0
    assert capsys.readouterr().out.strip() == str(out)
    image = cv2.imread(str(out))
    assert image is not None and image.shape[0] > 500 and image.shape[1] > 800
    assert len(np.unique(image.reshape(-1, 3), axis=0)) > 20    # not a blank canvas


def test_plot_rollout_refuses_a_directory_without_a_bag(tmp_path, capsys):
    assert plot_rollout.main([str(tmp_path)]) == 2
    assert 'not a rosbag2 directory' in capsys.readouterr().err


def test_provenance_cli_prints_the_chain_and_fails_on_a_broken_one(rollout_bag, tmp_path, capsys):
    bag, stamps = rollout_bag
    assert provenance.main([str(bag), '--index', '3', '-1', '--sample', '4']) == 0
    out = capsys.readouterr().out
    assert f'chunk {stamps[0]}: arrived 100 ms after its observation' in out
    assert 'holding (policy_silent)' in out and '6/6 commands traced' in out
    RolloutBuilder(tmp_path / 'broken', drop=['/r/action_chunk']).build()
    assert provenance.main([str(tmp_path / 'broken'), '--index', '3']) == 1
    assert 'PROBLEM: action_chunk' in capsys.readouterr().out


def test_plot_rollout_points_an_unfinished_bag_to_recover_bag(tmp_path, capsys):
    bag = RolloutBagWriter(tmp_path / 'open', {})
    bag.add_topic('/r/joint_states', 'sensor_msgs/msg/JointState')
    bag.abort()                            # as a recorder that crashed leaves it
    assert plot_rollout.main([str(tmp_path / 'open')]) == 2
    err = capsys.readouterr().err
    assert 'unfinished bag' in err and f'pi0fast-recover-bag {tmp_path / "open"}' in err
    assert provenance.main([str(tmp_path / 'open')]) == 2
    assert 'pi0fast-recover-bag' in capsys.readouterr().err


def test_provenance_traces_commands_from_the_middle_of_the_rollout(rollout_bag, capsys):
    # Before: the demo traced only the last command, a hold after the end of the rollout.
    bag, _ = rollout_bag
    rollout = load_rollout(bag)
    indices = moving_indices(rollout, 3)
    states = [rollout.ticks.state[find_tick(rollout, i)] for i in indices]
    assert len(indices) == 3 and set(states) <= {'tracking', 'blending'}, states
    assert indices == sorted(set(indices))
    assert indices[0] < len(rollout.commands) // 2 < indices[-1]
    assert provenance.main([str(bag), '--moving', '3']) == 0
    out = capsys.readouterr().out
    assert '3/3 commands traced' in out and 'holding' not in out
