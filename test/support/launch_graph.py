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
What the launch tests (test_so100_launch.py, test_aloha_launch.py) share.

Needs launch / launch_testing (a real ROS 2 installation): only the launch tests import it.
"""

import os

from ament_index_python.packages import get_package_share_directory
from graph_checks import GraphChecks, make_test_checkpoint
from harness import Probe
import launch
from launch.actions import IncludeLaunchDescription
from launch.launch_description_sources import PythonLaunchDescriptionSource
import launch_testing
import launch_testing.actions
import launch_testing.asserts


def graph_test_description(launch_file, config, workdir, namespace, instruction):
    """
    Include launch/<launch_file> with fake hardware, a tiny scripted checkpoint and recording.

    config: the graph test config (graph_checks.graph_test_config); the bags go to
    <workdir>/rollouts. Returns generate_test_description's (description, {'config': config}).
    """
    checkpoint = make_test_checkpoint(workdir / 'checkpoint', config)
    path = os.path.join(get_package_share_directory('pi0fast_ros'), 'launch', launch_file)
    arguments = {'config_file': str(config), 'checkpoint': str(checkpoint),
                 'fake_hardware': 'true', 'record': 'true',
                 'record_dir': str(workdir / 'rollouts'), 'instruction': instruction,
                 'namespace': namespace}
    graph = IncludeLaunchDescription(PythonLaunchDescriptionSource(path),
                                     launch_arguments=arguments.items())
    return (launch.LaunchDescription([graph, launch_testing.actions.ReadyToTest()]),
            {'config': config})


def check_graph_contract(config, namespace, probe_name):
    """Run GraphChecks.run_all on the launched graph from a probe of its own."""
    probe = Probe(probe_name)
    try:
        GraphChecks(probe, namespace, config).run_all()
    finally:
        probe.close()


def check_exit_codes(proc_info):
    """Check that SIGINT ended every node cleanly; only the policy node was killed (by a check)."""
    for name in proc_info.process_names():
        expected = -9 if name.startswith('policy_node') else 0
        launch_testing.asserts.assertExitCodes(proc_info, [expected], process=name)
