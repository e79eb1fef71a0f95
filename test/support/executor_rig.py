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

"""An executor_node process with a probe: start it, publish chunks, read its status."""

from harness import trajectory as make_trajectory, wait_for
import yaml


NS = 1_000_000_000


NAMES = ['a', 'b', 'c']


def start_executor(spawn, tmp_path, shared=None, **params):
    """Spawn executor_node with a params file: `/**` = shared, executor_node = params."""
    shared = shared or {'action_joint_names': NAMES, 'action_rate_hz': 50.0}
    params.setdefault('control_rate_hz', 50.0)
    params.setdefault('use_joint_states', False)
    # these tests publish made-up chunks with no policy node: no action envelope (see
    # test_attack_envelope.py for the envelope)
    params.setdefault('require_envelope', False)
    path = tmp_path / 'executor.yaml'
    path.write_text(yaml.safe_dump({'/**': {'ros__parameters': shared},
                                    'executor_node': {'ros__parameters': params}}))
    proc = spawn('pi0fast_ros.nodes.executor', params_file=path)
    assert proc.wait_for_output('executor ready', 60), proc.output()
    return proc


def values(status_array):
    return {kv.key: kv.value for kv in status_array.status[0].values}


def statuses(received):
    """Parse collected executor_node/status messages into (stamp_ns, dict) pairs."""
    out = []
    for _, msg in list(received):
        out.append((msg.header.stamp.sec * NS + msg.header.stamp.nanosec, values(msg)))
    return out


def trajectory(stamp_ns, positions, names=NAMES, rate=50.0):
    return make_trajectory(stamp_ns, positions, names, rate)


def connected(probe, msg_type, topic):
    pub = probe.publisher(msg_type, topic)
    assert wait_for(lambda: pub.get_subscription_count() > 0, 30), f'nobody on {topic}'
    return pub
