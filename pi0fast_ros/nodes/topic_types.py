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
Topic types found on the ROS graph, and the message classes for them.

Used where a node subscribes to a topic whose type another node chooses: the fake robot's
`joint_commands` (the executor's command type is a parameter there) and the recorder's topics.
rosidl_runtime_py would do this, but it is not in the pip environment, so the small part we
need is here.
"""

import importlib


def message_class(type_name):
    """
    Import the Python class of a ROS message type, e.g. 'sensor_msgs/msg/JointState'.

    Raises ValueError for a malformed name and ImportError when the package is not installed.
    """
    parts = type_name.split('/')
    if len(parts) != 3 or parts[1] != 'msg' or not all(parts):
        raise ValueError(f'not a message type name: {type_name!r} (want pkg/msg/Name)')
    module = importlib.import_module(f'{parts[0]}.msg')
    try:
        return getattr(module, parts[2])
    except AttributeError:
        raise ImportError(f'{parts[0]}.msg has no message {parts[2]!r}') from None


def discovered_types(node, topic):
    """
    Return the types currently published or subscribed on topic (resolved against node).

    An empty list means the topic is not on the graph (yet).
    """
    name = node.resolve_topic_name(topic)
    for found, types in node.get_topic_names_and_types():
        if found == name:
            return list(types)
    return []
