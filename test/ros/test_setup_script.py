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
scripts/setup.sh says what it is doing: a line per stage when it starts and when it ends, timed.

setup.sh runs for real on a copy of the repository, against a fresh virtual environment that
sees this environment's packages through a .pth file (so pip finds every requirement already
satisfied and nothing is downloaded): every stage of a first run happens (torch check, pip,
import check, colcon build), then a second run finds the environment up to date.
"""

import os
import pathlib
import re
import shutil
import subprocess
import sys
import sysconfig

from harness import REPO
import pytest

pytestmark = pytest.mark.slow
STAGES = ('torch (', 'ROS 2 Jazzy wheels, libraries and test tools',
          'checking that the environment imports', 'colcon build')
DONE = re.compile(r'^\[setup\] (?P<name>.+): done in \d+\.\d s$')


def _repo_copy(dest):
    files = subprocess.run(['git', 'ls-files', '--cached', '--others', '--exclude-standard'],
                           cwd=REPO, capture_output=True, text=True, check=True).stdout.split()
    for name in files:
        if (REPO / name).is_file():
            (dest / name).parent.mkdir(parents=True, exist_ok=True)
            shutil.copy2(REPO / name, dest / name)
    return dest


def _shim_venv(path):
    """Make a venv without packages of its own that imports this environment's via a .pth."""
    subprocess.run([sys.executable, '-m', 'venv', '--without-pip', str(path)], check=True)
    purelib = pathlib.Path(sysconfig.get_paths(vars={'base': str(path),
                                                     'platbase': str(path)})['purelib'])
    (purelib / 'outer_env.pth').write_text(sysconfig.get_paths()['purelib'] + '\n')
    pip = path / 'bin' / 'pip'
    pip.write_text('#!/bin/sh\nexec "$(dirname "$0")/python" -m pip "$@"\n')
    pip.chmod(0o755)
    (path / 'bin' / 'colcon').symlink_to(shutil.which('colcon'))
    return path


def _setup(repo, venv):
    env = {**os.environ, 'PI0FAST_VENV': str(venv), 'PIP_NO_INPUT': '1'}
    proc = subprocess.run(['bash', str(repo / 'scripts' / 'setup.sh')], cwd=repo, env=env,
                          capture_output=True, text=True, timeout=1200)
    assert proc.returncode == 0, proc.stdout + proc.stderr
    return proc.stdout.splitlines()


def _started_and_done(lines, prefix):
    started = [i for i, line in enumerate(lines)
               if line.startswith(f'[setup] {prefix}') and line.endswith(' ...')]
    done = [i for i, line in enumerate(lines)
            if DONE.match(line) and DONE.match(line).group('name').startswith(prefix)]
    assert len(started) == 1 and len(done) == 1 and started[0] < done[0], \
        f'stage {prefix!r}: no start and timed end line in\n' + '\n'.join(lines)
    return started[0], done[0]


def test_every_stage_is_announced_and_timed(tmp_path):
    repo = _repo_copy(tmp_path / 'repo')
    venv = _shim_venv(tmp_path / 'venv')
    first = _setup(repo, venv)
    order = [_started_and_done(first, stage) for stage in STAGES]
    assert order == sorted(order), 'stages out of order:\n' + '\n'.join(first)
    assert re.match(r'^\[setup\] ready in \d+\.\d s\. ', first[-1]), first[-1]
    again = _setup(repo, venv)
    assert any('environment up to date' in line for line in again), again
    _started_and_done(again, 'colcon build')
    assert not any(line.startswith('[setup] torch (') for line in again), again
    assert re.match(r'^\[setup\] ready in \d+\.\d s\. ', again[-1]), again[-1]
