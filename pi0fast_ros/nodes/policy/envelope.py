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
The policy node's envelope (core/control/envelope.py): what it accepts and what it publishes.

From the checkpoint's statistics, at start-up:
- the state envelope: a joint state (policy space, after the state adapters) outside it is
  refused like any bad input (reason ``state_out_of_envelope``: no inference, /diagnostics
  ERROR, a throttled warning);
- the action envelope: a decoded chunk (unnormalized, before the robot adapters) outside it
  is not published (chunk_info status ``out_of_envelope``); the envelope itself is published
  once on ``action_envelope`` (std_msgs/String, JSON, reliable + transient-local, like
  ``robot_description``) so that an executor on another machine, without the checkpoint,
  refuses chunks outside it too.

Parameters: ``envelope_margin`` (fraction of the data range added on each side, default 0.2)
and ``envelope_stats`` (auto: min/max, else q01/q99; minmax; quantiles; none). A checkpoint
whose statistics have neither min/max nor q01/q99 stops the node at start-up: the user either
gives such statistics or sets ``envelope_stats: none`` (and then relies on the executor's
``joint_limits``).
"""

import dataclasses

from std_msgs.msg import String

from .input_slots import InputError, JOINT_STATES
from ..common import StartupError
from ...core.control.envelope import checkpoint_envelopes, EnvelopeError
from ...core.policy.normalize import NormalizerError

STATE_OUT_OF_ENVELOPE = 'state_out_of_envelope'
OUT_OF_ENVELOPE = 'out_of_envelope'


@dataclasses.dataclass(frozen=True)
class PolicyEnvelopes:
    """The state and action envelopes (None when ``envelope_stats`` is none)."""

    state: object
    action: object

    def check_state(self, state):
        """Raise InputError when a policy-space state lies outside the state envelope."""
        problem = self.state.violations(state) if self.state is not None else ''
        if problem:
            raise InputError(STATE_OUT_OF_ENVELOPE, JOINT_STATES,
                             f'joint state outside the envelope of the training data: '
                             f'{problem}')

    def refuse_actions(self, result):
        """Return the PolicyResult, turned into an out_of_envelope failure if it leaves it."""
        if self.action is None or not result.ok:
            return result
        problem = self.action.violations(result.actions)
        if not problem:
            return result
        return dataclasses.replace(result, status=OUT_OF_ENVELOPE, actions=None,
                                   error=f'chunk outside the action envelope: {problem}')


def setup_envelopes(node, policy, action_names, qos, margin, which):
    """
    Derive the envelopes and publish the action envelope (latched).

    margin and which are the validated envelope_margin and envelope_stats parameters (config.py).
    Returns (PolicyEnvelopes, publisher or None). Raises StartupError when the statistics
    cannot give an envelope and ``envelope_stats`` is not none.
    """
    log = node.get_logger()
    if which == 'none':
        log.warn('envelope_stats is none: joint states and chunks are not checked against the '
                 'training data; the executor needs joint_limits for every joint')
        return PolicyEnvelopes(None, None), None
    action_names = list(action_names)
    state_names = action_names if policy.state_dim == len(action_names) else [
        f'state[{i}]' for i in range(policy.state_dim)]
    try:
        state, action, warnings = checkpoint_envelopes(policy.path, state_names, action_names,
                                                       margin, which,
                                                       getattr(policy, 'relative', None))
    except (EnvelopeError, NormalizerError) as exc:
        raise StartupError(f'{exc}. Set envelope_stats:=none to run without the envelope '
                           '(the executor then needs joint_limits for every joint)') from None
    for warning in warnings:
        log.warn(warning)
    log.info(f'envelopes: {state.source}; {action.source}')
    publisher = node.create_publisher(String, 'action_envelope', qos)
    publisher.publish(String(data=action.to_json()))
    return PolicyEnvelopes(state, action), publisher
