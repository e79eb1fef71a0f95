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
PI0-FAST on ALOHA (bimanual): policy_node + executor_node (+ fake_robot, rollout_recorder).

  ros2 launch pi0fast_ros aloha.launch.py checkpoint:=/path/to/ckpt [fake_hardware:=true]
      [record:=true record_dir:=DIR] [instruction:='pick up the cube'] [device:=cuda]
      [lerobot_version:=auto|0.4|0.5] [namespace:=robot1] [config_file:=my_aloha.yaml]
      [role:=all|robot|gpu]

`ros2 launch pi0fast_ros aloha.launch.py --show-args` lists every argument. The nodes and their
parameters come from pi0fast_ros/graph.py and config/aloha.yaml, shared with pi0fast-bringup.
"""

from pi0fast_ros.launch_support import generate_launch_description_for


def generate_launch_description():
    return generate_launch_description_for('aloha')
