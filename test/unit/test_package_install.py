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

"""After colcon build the ament index finds the package, its launch/ and config/ and scripts."""

import importlib.util
import os
import pathlib
import shutil
import subprocess

from ament_index_python.packages import get_package_prefix, get_package_share_directory
import pytest

NODES = ['policy_node', 'executor_node', 'fake_robot', 'rollout_recorder']
TOOLS = ['pi0fast-bringup', 'pi0fast-ctl', 'pi0fast-plot-rollout', 'pi0fast-provenance',
         'pi0fast-recover-bag', 'pi0fast-fit-tokenizer', 'pi0fast-train-demo', 'pi0fast-doctor',
         'pi0fast-export-dataset']


def test_share_directory_has_launch_and_config():
    share = pathlib.Path(get_package_share_directory('pi0fast_ros'))
    assert (share / 'package.xml').is_file()
    repo = pathlib.Path(__file__).resolve().parents[2]
    for sub in ('launch', 'config'):
        installed = sorted(p.name for p in (share / sub).glob('*'))
        patterns = ('*.launch.py',) if sub == 'launch' else ('*.yaml', '*.xml')
        in_repo = sorted(p.name for pattern in patterns for p in (repo / sub).glob(pattern))
        assert installed == in_repo, f'{sub}/ in the share directory differs from the source tree'


@pytest.mark.parametrize('name', NODES + TOOLS)
def test_node_executables_are_where_ros2_run_looks(name):
    # ros2 run and launch_ros look in <prefix>/lib/<package>, not in bin/
    exe = pathlib.Path(get_package_prefix('pi0fast_ros')) / 'lib' / 'pi0fast_ros' / name
    assert exe.is_file() and os.access(exe, os.X_OK), exe


@pytest.mark.parametrize('symlink', [False, True], ids=['install', 'symlink-install'])
def test_tools_are_on_path_after_sourcing_a_colcon_install(tmp_path, symlink):
    # What a robot user does: colcon build, source install/setup.bash, type the tool's name.
    # A clean environment (no env.sh, no venv on PATH) sees only what colcon's setup adds.
    repo = pathlib.Path(__file__).resolve().parents[2]
    build = subprocess.run(
        [shutil.which('colcon'), 'build', '--base-paths', str(repo),
         '--build-base', str(tmp_path / 'build'), '--install-base', str(tmp_path / 'install'),
         '--event-handlers', 'console_cohesion-', 'summary-',
         *(['--symlink-install'] if symlink else [])],
        cwd=tmp_path, capture_output=True, text=True, timeout=600)
    assert build.returncode == 0, build.stdout + build.stderr
    script = f'source {tmp_path}/install/setup.bash && ' + ' && '.join(
        f'command -v {name} && {name} --help >/dev/null' for name in TOOLS)
    env = {'HOME': str(tmp_path), 'PATH': '/usr/bin:/bin'}
    found = subprocess.run(['bash', '-c', script], env=env, capture_output=True, text=True,
                           timeout=600)
    assert found.returncode == 0, found.stdout + found.stderr
    where = found.stdout.split()
    assert where == [str(tmp_path / 'install' / 'pi0fast_ros' / 'bin' / n) for n in TOOLS]


@pytest.mark.parametrize('name', NODES)
def test_bringup_runs_the_module_ros2_run_runs(name):
    # pi0fast-bringup starts `python -m <package>`; ros2 run starts the console script. Both
    # must run the same main() (the package's __main__, nodes/entry.py), runnable with -m.
    from importlib.metadata import entry_points
    from pi0fast_ros.graph import NODE_MODULES
    scripts = {e.name: e.value for e in entry_points(group='console_scripts')}
    assert scripts[name] == f'{NODE_MODULES[name]}.__main__:main'
    main = f'{NODE_MODULES[name]}.__main__'
    source = pathlib.Path(importlib.util.find_spec(main).origin).read_text()
    assert "if __name__ == '__main__':" in source
