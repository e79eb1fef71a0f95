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

"""The graph description (pi0fast_ros/graph.py) and the config files every launcher reads."""

from harness import CONFIG_DIR, wait_for
from pi0fast_ros import graph
from pi0fast_ros.tools import bringup
import pytest
import yaml

CONFIGS = sorted(CONFIG_DIR.glob('*.yaml'))


@pytest.mark.parametrize('path', CONFIGS, ids=lambda p: p.name)
def test_config_sections_survive_a_namespace(path):
    # rcl matches a section named `policy_node:` only against /policy_node, so a launch with
    # namespace:=robot1 would silently drop it; `/**/policy_node:` matches in any namespace.
    doc = yaml.safe_load(path.read_text())
    assert '/**' in doc
    for key, section in doc.items():
        assert key == '/**' or key.startswith('/**/'), f'{path.name}: section {key!r}'
        assert set(section) == {'ros__parameters'}, f'{path.name}: {key}'


@pytest.mark.parametrize('path', CONFIGS, ids=lambda p: p.name)
def test_every_graph_node_has_its_section(path):
    doc = yaml.safe_load(path.read_text())
    options = graph.GraphOptions(str(path), fake_hardware=True, record=True)
    for spec in graph.graph_nodes(options):
        if spec.name != graph.EXECUTOR_NODE:      # the executor may run on defaults only
            assert f'/**/{spec.name}' in doc, f'{path.name} has no section for {spec.name}'


def test_graph_nodes_follow_the_options(tmp_path):
    config = str(CONFIG_DIR / 'so100.yaml')
    plain = graph.graph_nodes(graph.GraphOptions(config))
    assert [s.name for s in plain] == ['executor_node', 'policy_node']
    full = graph.graph_nodes(graph.GraphOptions(
        config, checkpoint=str(tmp_path), device='cuda:1', instruction="it's done",
        lerobot_version='0.5', fake_hardware=True, record=True,
        record_dir=str(tmp_path / 'out')))
    by_name = {s.name: s for s in full}
    assert list(by_name) == ['fake_robot', 'rollout_recorder', 'executor_node', 'policy_node']
    assert by_name['policy_node'].overrides == {
        'checkpoint_path': str(tmp_path), 'device': 'cuda:1', 'instruction': "it's done",
        'lerobot_version': '0.5'}
    recorder = by_name['rollout_recorder'].overrides
    assert recorder['output_dir'] == str(tmp_path / 'out') and recorder['autostart'] is True
    assert recorder['checkpoint'] == str(tmp_path)
    with pytest.raises(FileNotFoundError):
        graph.graph_nodes(graph.GraphOptions(str(tmp_path / 'missing.yaml')))


@pytest.mark.parametrize('text, value', [('true', True), ('False', False), ('1', True),
                                         ('', False), ('no', False)])
def test_parse_bool(text, value):
    assert graph.parse_bool(text) is value


def test_parse_bool_refuses_other_words():
    with pytest.raises(ValueError, match='not a boolean'):
        graph.parse_bool('maybe')


@pytest.mark.parametrize('level', ['info', 'DEBUG', 'warn', 'policy_node:=debug'])
def test_graph_nodes_take_the_log_levels_rcl_takes(level):
    options = graph.GraphOptions(str(CONFIG_DIR / 'so100.yaml'), log_level=level)
    assert graph.graph_nodes(options)


@pytest.mark.parametrize('level', ['loud', 'warning', '', 'policy_node:=loud'])
def test_a_bad_log_level_is_refused_before_any_node_starts(level, capsys):
    # with the real launch, log_level:=loud started every node, which each failed in rclpy.init
    with pytest.raises(ValueError, match='not a log severity'):
        graph.graph_nodes(graph.GraphOptions(str(CONFIG_DIR / 'so100.yaml'), log_level=level))
    assert bringup.main(['--config', 'so100', '--log-level', level]) == 2
    assert 'not a log severity' in capsys.readouterr().err


@pytest.mark.ros
@pytest.mark.parametrize('namespace', ['', 'robot7'])
def test_overrides_beat_the_config_node_section(spawn, probe, tmp_path, namespace):
    # The config's rollout_recorder section sets output_dir; the per-run value must win, also
    # under a namespace (a `-p` rule would lose to the section: see graph.overrides_yaml).
    options = graph.GraphOptions(str(CONFIG_DIR / 'so100.yaml'), record=True,
                                 record_dir=str(tmp_path / 'mine'), namespace=namespace,
                                 instruction="don't 'quote' me: true")
    specs = {s.name: s for s in graph.graph_nodes(options)}
    recorder = specs['rollout_recorder']
    args = graph.ros_args(recorder, options, graph.write_overrides(recorder, str(tmp_path)))
    proc = spawn(recorder.module, args=args)
    name = graph.normalize_namespace(namespace) + '/rollout_recorder'
    assert wait_for(lambda: 'recording to' in proc.output(), 30), proc.output()
    values = probe.get_parameters(name, ['output_dir', 'autostart', 'topics'], timeout=15.0)
    config = yaml.safe_load((CONFIG_DIR / 'so100.yaml').read_text())
    assert values[0] == str(tmp_path / 'mine') and values[1] is True
    assert values[2] == config['/**/rollout_recorder']['ros__parameters']['topics']
    policy = specs['policy_node']
    text = graph.overrides_yaml(policy)
    assert yaml.safe_load(text)['/**/policy_node']['ros__parameters']['instruction'] == \
        "don't 'quote' me: true"
