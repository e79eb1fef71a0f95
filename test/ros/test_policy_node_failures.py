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

"""The policy node over DDS when decoding fails, and when its setup does not fit the model."""

from diagnostic_msgs.msg import DiagnosticArray
from harness import wait_for
from policy_node_feeder import CAMERAS, Feeder, JOINTS, make_checkpoint, node_params
import pytest
from trajectory_msgs.msg import JointTrajectory

pytestmark = pytest.mark.ros
TIMEOUT = 90.0
NS = 'decode_fail'   # a namespace of its own: no other policy node can answer for it


@pytest.fixture(scope='module')
def checkpoint(tmp_path_factory):
    return make_checkpoint(tmp_path_factory.mktemp('ckpt'))


def _values(status):
    return {kv.key: kv.value for kv in status.values}


def test_decode_failure_publishes_no_chunk(checkpoint, spawn, probe):
    # The scripted model emits "Action", ":", " ", FAST tokens, "|", EOS: a budget of five
    # tokens ends before the "|", so every decode fails for real (strict rules need it).
    node = spawn('pi0fast_ros.nodes.policy', namespace='/' + NS,
                 params=node_params(checkpoint, max_decoding_steps=5))
    chunks = probe.collect(JointTrajectory, f'{NS}/action_chunk')
    infos = probe.collect(DiagnosticArray, f'{NS}/policy_node/chunk_info')
    diags = probe.collect(DiagnosticArray, '/diagnostics')
    Feeder(probe, CAMERAS, JOINTS, prefix=f'{NS}/')
    assert wait_for(lambda: len(infos) >= 3, TIMEOUT), node.output()
    for _, msg in list(infos):
        values = _values(msg.status[0])
        assert values['status'] == 'no_end_marker' and values['horizon'] == '0'
        assert int(values['tokens']) == 5

    def node_status():
        for _, msg in reversed(list(diags)):
            for status in msg.status:
                if status.name == f'{NS}/policy_node':
                    return status.message, _values(status)
        return '', {}

    assert wait_for(lambda: int(node_status()[1].get('decode_failures', 0)) >= 3, TIMEOUT)
    assert node_status()[0].startswith('no chunk from the last ')
    assert 'decode failed (no_end_marker)' in node_status()[0]
    assert int(node_status()[1]['decode_failures.no_end_marker']) >= 3
    assert not chunks
    assert 'chunk rejected, decode failed (no_end_marker)' in node.output()


@pytest.mark.parametrize('overrides,text', [
    ({'camera_slots': ['front', 'top'], 'camera_topics': ['a', 'b']},
     "camera slot 'top' is not in the checkpoint; its image slots are "
     "['observation.images.front', 'observation.images.wrist', 'observation.images.side']"),
    ({'action_joint_names': JOINTS[:5]}, 'action_joint_names has 5 names'),
    ({'state_joint_names': JOINTS[:4]}, 'state_joint_names has 4 joints'),
])
def test_setup_that_does_not_fit_the_checkpoint_is_a_startup_error(checkpoint, spawn,
                                                                   overrides, text):
    proc = spawn('pi0fast_ros.nodes.policy', params=node_params(checkpoint, **overrides))
    assert proc.proc.wait(timeout=TIMEOUT) == 1, proc.output()
    assert text in proc.output()
