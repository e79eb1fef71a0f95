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
launch_testing: launch/so100.launch.py with fake hardware, a tiny model and recording.

Needs ROS 2's launch_testing (a real ROS 2 installation; not on PyPI, so conftest.py leaves
this file out in the pip environment, where test_graph_bringup.py runs the same GraphChecks
on the graph pi0fast-bringup starts). Run it with pytest (colcon test) or `launch_test`.
"""

import os
import pathlib
import sys
import tempfile
import unittest

import launch_testing
import launch_testing.markers
import pytest

sys.path.insert(0, os.path.join(os.path.dirname(os.path.dirname(os.path.abspath(__file__))),
                                'support'))   # harness, graph_checks, launch_graph
from graph_checks import check_recorded_provenance, graph_test_config  # noqa: E402, I100
from harness import CONFIG_DIR  # noqa: E402
from launch_graph import check_exit_codes, check_graph_contract  # noqa: E402
from launch_graph import graph_test_description  # noqa: E402

NAMESPACE = f'/launch_{os.getpid()}'
INSTRUCTION = 'pick up the cube'
WORKDIR = pathlib.Path(tempfile.mkdtemp(prefix='pi0fast_launch_test_'))


@pytest.mark.launch_test
@launch_testing.markers.keep_alive
def generate_test_description():
    config = graph_test_config(WORKDIR, CONFIG_DIR / 'so100.yaml')
    return graph_test_description('so100.launch.py', config, WORKDIR, NAMESPACE, INSTRUCTION)


class TestSo100Graph(unittest.TestCase):
    """The same checks as test_graph_bringup.py, on the graph ros2 launch started."""

    def test_graph_contract(self, config):
        check_graph_contract(config, NAMESPACE, 'launch_test_probe')


@launch_testing.post_shutdown_test()
class TestAfterShutdown(unittest.TestCase):
    """Launch's SIGINT ends every node cleanly; the bag holds the provenance chain."""

    def test_exit_codes(self, proc_info):
        check_exit_codes(proc_info)

    def test_recorded_provenance(self, config):
        check_recorded_provenance(WORKDIR / 'rollouts', INSTRUCTION, config)
