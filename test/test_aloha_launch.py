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
launch_testing: launch/aloha.launch.py with fake hardware, a tiny model and recording.

The ALOHA twin of test_so100_launch.py: 14 joints, four fake cameras (three read by the
policy), 50 Hz, the joint flips and gripper maps in the executor. Needs ROS 2's launch_testing
(a real ROS 2 installation; not on PyPI, so conftest.py leaves this file out in the pip
environment, where test_graph_bringup.py runs the same GraphChecks on the graph
pi0fast-bringup starts). Run it with pytest (colcon test) or `launch_test`.
"""

import os
import pathlib
import sys
import tempfile
import unittest

from ament_index_python.packages import get_package_share_directory
import launch
from launch.actions import IncludeLaunchDescription
from launch.launch_description_sources import PythonLaunchDescriptionSource
import launch_testing
import launch_testing.actions
import launch_testing.markers
import pytest

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))   # harness, graph_checks
from graph_checks import check_recorded_provenance, GraphChecks  # noqa: E402, I100
from graph_checks import graph_test_config, make_test_checkpoint  # noqa: E402
from harness import CONFIG_DIR, Probe  # noqa: E402

NAMESPACE = f'/launch_aloha_{os.getpid()}'
INSTRUCTION = 'pick up the cube'
WORKDIR = pathlib.Path(tempfile.mkdtemp(prefix='pi0fast_aloha_launch_test_'))


@pytest.mark.launch_test
@launch_testing.markers.keep_alive
def generate_test_description():
    config = graph_test_config(WORKDIR, CONFIG_DIR / 'aloha.yaml')
    checkpoint = make_test_checkpoint(WORKDIR / 'checkpoint', config)
    aloha = os.path.join(get_package_share_directory('pi0fast_ros'), 'launch',
                         'aloha.launch.py')
    arguments = {'config_file': str(config), 'checkpoint': str(checkpoint),
                 'fake_hardware': 'true', 'record': 'true',
                 'record_dir': str(WORKDIR / 'rollouts'), 'instruction': INSTRUCTION,
                 'namespace': NAMESPACE}
    graph = IncludeLaunchDescription(PythonLaunchDescriptionSource(aloha),
                                     launch_arguments=arguments.items())
    return (launch.LaunchDescription([graph, launch_testing.actions.ReadyToTest()]),
            {'config': config})


class TestAlohaGraph(unittest.TestCase):
    """The same checks as test_graph_bringup.py, on the graph ros2 launch started."""

    def test_graph_contract(self, config):
        probe = Probe('aloha_launch_test_probe')
        try:
            checks = GraphChecks(probe, NAMESPACE, config)
            checks.run_all()
        finally:
            probe.close()


@launch_testing.post_shutdown_test()
class TestAfterShutdown(unittest.TestCase):
    """Launch's SIGINT ends every node cleanly; the bag holds the provenance chain."""

    def test_exit_codes(self, proc_info):
        for name in proc_info.process_names():
            expected = -9 if name.startswith('policy_node') else 0   # killed by the test
            launch_testing.asserts.assertExitCodes(proc_info, [expected], process=name)

    def test_recorded_provenance(self, config):
        check_recorded_provenance(WORKDIR / 'rollouts', INSTRUCTION, config)
