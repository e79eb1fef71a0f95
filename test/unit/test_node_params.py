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

"""The parameter tables and each node's validate(values), without ROS."""

import math
import pathlib

from pi0fast_ros.nodes.executor import params as executor
from pi0fast_ros.nodes.fake_robot import config as fake_robot
from pi0fast_ros.nodes.params import check_values, defaults, Param, SHARED, StartupError, table
from pi0fast_ros.nodes.policy import config as policy
from pi0fast_ros.nodes.recorder import params as recorder
import pytest
import yaml

CONFIG_DIR = pathlib.Path(__file__).resolve().parents[2] / 'config'
TABLES = {'policy_node': policy.TABLE, 'executor_node': executor.TABLE,
          'fake_robot': fake_robot.TABLE, 'rollout_recorder': recorder.TABLE}
NAMES = ('a', 'b', 'grip')

# -- the machinery ------------------------------------------------------------------------
RATE = Param('rate', 'float', 30.0, 'a rate', (0.1, 1000.0))
STEPS = Param('steps', 'int', 5, 'steps', (0, 10))
FLAG = Param('flag', 'bool', True, 'a flag')
LIMITS = Param('limits', 'number_list', (), 'numbers')
WORDS = Param('words', 'str_list', (), 'names')
TABLE = table(RATE, STEPS, FLAG, LIMITS, WORDS)


def test_missing_values_take_the_table_default_and_types_are_normalised():
    assert check_values(TABLE, {}) == {'rate': 30.0, 'steps': 5, 'flag': True, 'limits': (),
                                       'words': ()}
    got = check_values(TABLE, {'rate': 50, 'limits': [1, 2.5], 'words': ['x', 'y']})
    assert got['rate'] == 50.0 and isinstance(got['rate'], float)
    assert got['limits'] == (1.0, 2.5) and got['words'] == ('x', 'y')
    assert check_values(TABLE, {'limits': 3})['limits'] == (3.0,)   # YAML `limits: 3`


@pytest.mark.parametrize('values,match', [
    ({'rate': 'fast'}, "parameter rate: expected a number, got 'fast'"),
    ({'rate': True}, 'parameter rate: expected a number'),
    ({'steps': 2.0}, 'parameter steps: expected an integer, got 2.0'),
    ({'steps': True}, 'parameter steps: expected an integer'),
    ({'flag': 1}, 'parameter flag: expected true or false, got 1'),
    ({'limits': ['1']}, 'parameter limits: expected a list of numbers'),
    ({'limits': 'x'}, 'parameter limits: expected a list of numbers'),
    ({'words': 'xy'}, "parameter words: expected a list of strings, got 'xy'"),
    ({'words': ['x', 3]}, 'parameter words: expected a list of strings'),
    ({'rate': 0.0}, r'parameter rate: 0.0 is outside its range \[0.1, 1000.0\]'),
    ({'rate': math.nan}, 'parameter rate: nan is outside its range'),
    ({'steps': 11}, r'parameter steps: 11 is outside its range \[0, 10\]'),
    ({'step': 3}, r"unknown parameters: \['step'\]"),
])
def test_wrong_types_ranges_and_names_are_refused_with_the_parameter_named(values, match):
    with pytest.raises(StartupError, match=match):
        check_values(TABLE, values)


def test_bounds_are_inclusive():
    assert check_values(TABLE, {'steps': 0, 'rate': 1000.0}) == {**defaults(TABLE), 'steps': 0,
                                                                 'rate': 1000.0}


@pytest.mark.parametrize('args,match', [
    (('x', 'double', 1.0, ''), 'unknown parameter type'),
    (('x', 'str', 'a', '', (0, 1)), 'a range needs an int or float'),
    (('x', 'str_list', ('a',), ''), 'list parameters default to'),
    (('x', 'float', 1, ''), 'a float parameter needs a float default'),
])
def test_bad_table_entries_are_refused(args, match):
    with pytest.raises(ValueError, match=match):
        Param(*args)


def test_a_default_outside_its_own_range_is_refused():
    with pytest.raises(StartupError, match='outside its range'):
        Param('x', 'int', 5, '', (0, 4))


def test_a_name_declared_twice_in_a_table_is_refused():
    with pytest.raises(ValueError, match=r"declared twice: \['rate'\]"):
        table(RATE, RATE.describe('again'))


# -- the shared keys ----------------------------------------------------------------------
@pytest.mark.parametrize('name', ['realtime_priority', 'action_joint_names', 'action_rate_hz',
                                  'diagnostics_period_s', 'envelope_margin'])
def test_shared_keys_have_one_type_default_and_range_in_every_node(name):
    entries = [p for t in TABLES.values() for p in t if p.name == name]
    assert entries
    for entry in entries:
        assert (entry.kind, entry.default, entry.limits, entry.read_only) == (
            SHARED[name].kind, SHARED[name].default, SHARED[name].limits, SHARED[name].read_only)


def test_realtime_priority_takes_the_whole_sched_fifo_range_in_both_nodes():
    for values in ({'realtime_priority': 99}, {'realtime_priority': 0}):
        assert executor_config(**values)[2].realtime_priority == values['realtime_priority']
    for table_ in (policy.TABLE, executor.TABLE):
        with pytest.raises(StartupError, match='realtime_priority: 100 is outside'):
            check_values(table_, {'realtime_priority': 100})


# -- executor -----------------------------------------------------------------------------
def executor_config(**values):
    return executor.validate({'action_joint_names': NAMES, **values})


def test_executor_defaults_reach_the_core_config():
    config, adapters, options = executor_config()
    assert config.joint_names == NAMES and config.blend_steps == 5
    assert config.blend_step_budget == 1.0 and config.blend_max_steps == 100
    assert config.control_rate_hz == 30.0 and config.max_future_s == 0.5
    assert config.lower_limits == () and config.require_envelope is True
    assert options.command_joint_names == NAMES and options.command_type == 'float64_multi_array'
    assert options.realtime_priority == 0 and options.diagnostics_period_s == 1.0


def test_executor_values_reach_the_core_config():
    config, _, options = executor_config(
        blend_step_budget=0.0, blend_max_steps=60, max_velocity=3, hard_switch_joints=['grip'],
        **{'joint_limits.lower': [-1, -1, 0], 'joint_limits.upper': [1.0]},
        command_joint_names=['x', 'y', 'z'], command_type='joint_state')
    assert config.blend_step_budget == 0.0 and config.blend_max_steps == 60
    assert config.max_velocity == (3.0,) and config.hard_switch_joints == ('grip',)
    assert config.lower_limits == (-1.0, -1.0, 0.0) and config.upper_limits == (1.0,)
    assert options.command_joint_names == ('x', 'y', 'z')
    assert options.command_type == 'joint_state'


@pytest.mark.parametrize('values,match', [
    ({'action_joint_names': []}, 'parameter action_joint_names: expected unique non-empty'),
    ({'action_joint_names': ['a', 'a']}, 'parameter action_joint_names: expected unique'),
    ({'interpolation': 'cubic'}, "parameter interpolation: 'cubic' is not one of"),
    ({'blend_schedule': 'cosine'}, "parameter blend_schedule: 'cosine' is not one of"),
    ({'hard_switch_joints': ['wrist']}, r"hard_switch_joints: \['wrist'\] are not in"),
    ({'command_type': 'twist'}, "parameter command_type: 'twist' is not one of"),
    ({'command_joint_names': ['x']}, 'command_joint_names: 1 names for 3 action joints'),
    ({'max_velocity': [1.0, 2.0]}, 'max_velocity: needs 1 or 3 values'),
    ({'joint_limits.lower': [math.nan]}, 'joint_limits.lower: NaN is not a limit'),
    ({'blend_steps': -1}, 'blend_steps: -1 is outside its range'),
    ({'control_rate_hz': 5000.0}, 'control_rate_hz: 5000.0 is outside its range'),
    ({'adapters': {'chain': ['flip'], 'flip': {'type': 'joint_flip', 'mask': [1, -1]}}},
     'invalid adapter parameters: adapters.flip'),
])
def test_bad_executor_values_are_refused(values, match):
    with pytest.raises(StartupError, match=match):
        executor.validate({'action_joint_names': NAMES, **values})


def test_executor_adapters_give_the_default_command_names():
    spec = {'chain': ['names'], 'names': {'type': 'name_map', 'robot_names': ['grip', 'a', 'b']}}
    _, adapters, options = executor_config(adapters=spec)
    assert len(adapters) == 1 and options.command_joint_names == ('grip', 'a', 'b')


# -- policy -------------------------------------------------------------------------------
def policy_config(tmp_path, **values):
    return policy.validate({'checkpoint_path': str(tmp_path), 'action_joint_names': NAMES,
                            **values})


def test_policy_defaults_and_values_reach_the_config(tmp_path):
    config = policy_config(tmp_path, camera_slots=['front'], camera_topics=['cam/compressed'])
    assert config.checkpoint_path == str(tmp_path) and config.device == 'cpu'
    assert config.engine_mode == 'auto' and config.max_decoding_steps == 0
    assert config.cameras == (policy.CameraInput('front', 'cam/compressed', True),)
    assert config.envelope_margin == 0.2 and config.envelope_stats == 'auto'
    assert config.realtime_priority == 0 and config.action_rate_hz == 30.0


def test_live_policy_parameters_are_not_in_the_frozen_config(tmp_path):
    # max_input_age_s and inference_period_s are read live from the node, in one place
    config = policy_config(tmp_path, max_input_age_s=0.25, inference_period_s=0.2)
    assert not hasattr(config, 'max_input_age_s') and not hasattr(config, 'inference_period_s')
    assert {p.name for p in policy.TABLE if not p.read_only} == {
        'max_input_age_s', 'inference_period_s', 'instruction'}


@pytest.mark.parametrize('values,match', [
    ({'checkpoint_path': ''}, 'checkpoint_path is required'),
    ({'checkpoint_path': '/nonexistent/ckpt'}, "checkpoint_path '/nonexistent/ckpt' is not a"),
    ({'engine_mode': 'fastest'}, "engine_mode 'fastest': use one of"),
    ({'lerobot_version': '0.6'}, r"lerobot_version '0.6': use one of \['auto', '0.4', '0.5'\]"),
    ({'dtype': 'float16'}, "dtype 'float16': use one of"),
    ({'envelope_stats': 'mean'}, "envelope_stats 'mean': use one of"),
    ({'image_backend': 'pil'}, "image_backend 'pil': use auto"),
    ({'device': 'tpu'}, "device 'tpu'"),
    ({'action_joint_names': []}, 'action_joint_names is empty'),
    ({'state_joint_names': ['a', 'a']}, 'state_joint_names must be unique'),
    ({'camera_slots': ['a', 'b'], 'camera_topics': ['t']}, 'camera_topics has 1 entries'),
    ({'action_rate_hz': -5.0}, 'parameter action_rate_hz: -5.0 is outside its range'),
    ({'max_input_age_s': 0.0}, 'parameter max_input_age_s: 0.0 is outside its range'),
    ({'max_decoding_steps': 5000}, 'max_decoding_steps: 5000 is outside its range'),
    ({'torch_threads': 'all'}, "torch_threads: expected an integer, got 'all'"),
])
def test_bad_policy_values_are_refused(tmp_path, values, match):
    with pytest.raises(StartupError, match=match):
        policy_config(tmp_path, **values)


# -- fake_robot and recorder --------------------------------------------------------------
def test_fake_robot_defaults_and_cameras():
    config = fake_robot.validate({'action_joint_names': NAMES, 'cameras': ['top'],
                                  'camera_views': ['top']})
    assert config.joint_names == NAMES and config.image_size == (320, 240)
    assert config.time_constant_s == 0.08 and config.command_type == 'auto'
    assert config.cameras == (fake_robot.Camera('top', 'top', None),)
    assert config.leader_topic == ''


@pytest.mark.parametrize('values,match', [
    ({'action_joint_names': []}, 'joint_names and action_joint_names are both empty'),
    ({'cameras': ['a'], 'camera_views': []}, 'cameras has 1 entries'),
    ({'render.angle_unit': 'grad'}, "render.angle_unit 'grad'"),
    ({'command_type': 'twist'}, "command_type 'twist'"),
    ({'position_min': [0.0, 1.0]}, 'fake_robot limits'),
    ({'jpeg_quality': 0}, 'jpeg_quality: 0 is outside its range'),
])
def test_bad_fake_robot_values_are_refused(values, match):
    with pytest.raises(StartupError, match=match):
        fake_robot.validate({'action_joint_names': NAMES, **values})


def test_recorder_records_topics_then_extra_topics():
    config = recorder.validate({'topics': ['a', ''], 'extra_topics': ['leader/joint_states']})
    assert config.topics == ('a', 'leader/joint_states')
    assert config.output_dir == 'rollouts' and config.max_queue_mb == 256.0
    with pytest.raises(StartupError, match='topics is empty'):
        recorder.validate({'topics': [''], 'extra_topics': []})
    with pytest.raises(StartupError, match='min_rollout_s: -1.0 is outside its range'):
        recorder.validate({'topics': ['a'], 'min_rollout_s': -1.0})


# -- the shipped config files -------------------------------------------------------------
def _sections(name):
    doc = yaml.safe_load((CONFIG_DIR / name).read_text())
    shared = dict(doc['/**']['ros__parameters'])
    return shared.pop('adapters', {}), shared, {
        key.split('/')[-1]: section['ros__parameters'] for key, section in doc.items()
        if key != '/**'}


def _flat(tree, prefix=''):
    for key, value in tree.items():
        if isinstance(value, dict):
            yield from _flat(value, f'{prefix}{key}.')
        else:
            yield f'{prefix}{key}', value


@pytest.mark.parametrize('name', ['so100.yaml', 'aloha.yaml'])
def test_shipped_config_files_validate_and_set_only_declared_keys(tmp_path, name):
    adapters, shared, sections = _sections(name)
    assert set(sections) == set(TABLES)
    for node, params in sections.items():
        names = {p.name for p in TABLES[node]}
        values = dict(_flat(params))
        assert set(values) <= names, f'{node}: undeclared keys {set(values) - names}'
        values.update({k: v for k, v in shared.items() if k in names})
        if node == 'executor_node':
            config, chain, _ = executor.validate({**values, 'adapters': adapters})
            assert config.joint_names == tuple(shared['action_joint_names'])
            assert len(chain) == len(adapters.get('chain', []))
        elif node == 'policy_node':
            policy.validate({**values, 'checkpoint_path': str(tmp_path)})
        else:
            {'fake_robot': fake_robot, 'rollout_recorder': recorder}[node].validate(values)
