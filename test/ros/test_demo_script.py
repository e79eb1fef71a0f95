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

"""scripts/demo.sh when a node fails: the reason on the terminal, and the bag still plotted."""

import os
import re
import shutil
import subprocess

from harness import REPO
import pytest

pytestmark = [pytest.mark.ros, pytest.mark.slow]


def test_a_failed_node_is_explained_on_the_terminal_and_the_bag_still_plotted(tmp_path):
    checkpoint = tmp_path / 'broken_checkpoint'
    checkpoint.mkdir()
    (checkpoint / 'config.json').write_text('{')          # the policy node cannot start
    env = {**os.environ, 'PI0FAST_DEMO_CHECKPOINT': str(checkpoint),
           'PI0FAST_DEMO_SECONDS': '120'}   # ends early: the node fails
    env.setdefault('PI0FAST_VENV', str(REPO / '.venv'))
    run = subprocess.run(['bash', str(REPO / 'scripts' / 'demo.sh')], env=env, cwd=REPO,
                         capture_output=True, text=True, timeout=600)
    out = run.stdout + run.stderr
    (tmp_path / 'demo.out').write_text(out)
    logs = re.search(r'node logs: (\S+)/logs\)', out)
    try:
        assert run.returncode != 0, out
        # Before: only 'see .../logs/*.log'; now the failed node and its own last error lines.
        assert '[demo] policy_node exited with code 1' in out, out
        assert re.search(r'\[demo\] +\[FATAL\].*config\.json.*not readable JSON', out), out
        # The recorder ran until the graph stopped: its bag is plotted all the same.
        plots = re.findall(r'\[demo\] plot: (\S+\.png)', out)
        assert plots and all(os.path.isfile(p) for p in plots), out
    finally:
        if logs and logs.group(1).startswith(str(REPO / 'runs')):
            shutil.rmtree(logs.group(1), ignore_errors=True)
