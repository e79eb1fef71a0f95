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
pi0fast_ros: PI0-FAST vision-language-action policies on ROS 2 robots.

Two layers: `pi0fast_ros.core` is ROS-free (tokenizer, model engine, policy facade, chunk
blending, adapters, safety) and `pi0fast_ros.nodes` holds the thin rclpy nodes.
"""

from importlib import metadata as _metadata


def _version():
    try:
        return _metadata.version('pi0fast_ros')
    except _metadata.PackageNotFoundError:  # running from a source checkout
        return '0+unknown'


__version__ = _version()
