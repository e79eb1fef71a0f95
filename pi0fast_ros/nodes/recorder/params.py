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

"""The rollout_recorder's parameters: one table (TABLE), validated into a frozen config."""

import dataclasses

from ..params import check_values, Param, StartupError, table

# Every one is read-only (a restart applies it).
TABLE = table(
    Param('output_dir', 'str', 'rollouts', 'Directory that receives one bag directory per '
          'rollout (created if missing; ~ expands).'),
    Param('topics', 'str_list', (), 'Topics to record (relative names resolve in the node '
          'namespace).'),
    Param('extra_topics', 'str_list', (), 'More topics to record, e.g. a teleoperation leader '
          'arm (set by the teleop_topic launch argument).'),
    Param('autostart', 'bool', False, 'Start a rollout at start-up.'),
    Param('instruction_starts_rollout', 'bool', True, 'A new instruction closes the open '
          'rollout and starts the next one (also when stopped).'),
    Param('min_rollout_s', 'float', 2.0, 'An instruction change starts at most one new bag per '
          'this many seconds: changes sooner after a rollout began are coalesced, and the '
          'rollover happens when the time is up, under the instruction current then (0: every '
          'change at once).', (0.0, 3600.0)),
    Param('instruction_topic', 'str', 'policy_node/active_instruction', 'Topic of the active '
          'instruction (policy node); each new bag begins with its current message.'),
    Param('checkpoint', 'str', '', 'Checkpoint path, stored as metadata.'),
    Param('config_file', 'str', '', 'The config file the graph was started with; its text is '
          'stored as metadata.'),
    Param('compress', 'bool', True, 'zstd-compress MCAP chunks.'),
    Param('flush_period_s', 'float', 1.0, 'Put the open bag on disk as complete chunks this '
          'often, so a crash loses at most this much (0: only when the bag closes).',
          (0.0, 60.0)),
    Param('max_queue_mb', 'float', 256.0, 'Bound of the queue between the subscriptions and '
          'the disk, in MiB of message data: a message that does not fit is dropped and '
          'counted (/diagnostics).', (1.0, 65536.0)),
    Param('recover_unfinished', 'bool', True, 'At start-up, rebuild the bags in output_dir that '
          'a crashed recorder left unfinished (in the background; bags open in a live recorder '
          'are left alone).'),
    Param('discovery_period_s', 'float', 0.5, 'How often to look for configured topics not yet '
          'subscribed.', (0.05, 10.0)),
)


@dataclasses.dataclass(frozen=True)
class RecorderConfig:
    """Validated rollout_recorder parameters (see TABLE for their meaning)."""

    output_dir: str
    topics: tuple           # topics then extra_topics, as given (the node resolves them)
    autostart: bool
    instruction_starts_rollout: bool
    min_rollout_s: float
    instruction_topic: str
    checkpoint: str
    config_file: str
    compress: bool
    flush_period_s: float
    max_queue_mb: float
    recover_unfinished: bool
    discovery_period_s: float


def validate(values):
    """
    Check the recorder's parameter values; return a RecorderConfig or raise StartupError.

    values: {name: value} for TABLE's names (missing ones take the table's default).
    """
    v = check_values(TABLE, values)
    topics = tuple(t for t in v['topics'] + v.pop('extra_topics') if t)
    if not topics:
        raise StartupError('rollout_recorder: topics is empty; list the topics to record')
    v['topics'] = topics
    return RecorderConfig(**v)
