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

"""The `ros2 run pi0fast_ros policy_node` entry point (nodes/entry.py)."""

import sys

from pi0fast_ros.nodes.entry import start_node


def main(args=None):
    return start_node('policy_node', 'pi0fast_ros.nodes.policy.node', args)


if __name__ == '__main__':
    sys.exit(main())
