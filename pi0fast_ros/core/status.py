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
The status and provenance records the nodes publish, typed: one schema for writers and readers.

Both records travel as diagnostic_msgs key/values (every value a string). This module owns the
keys and the text of every value: the nodes encode with it; the rollout reader, provenance, the
plot and the seam metrics decode with it. The text is a recorded format (old bags must keep
loading): test/unit/test_status_schema.py holds messages as the nodes published them.

`decode` takes the {key: value} of one status. A key that is absent takes its field's default
(a partial record, e.g. a hand-written test bag); a value that does not parse raises
StatusFormatError naming the key; keys it does not know are ignored (a newer writer).

TickStatus: ``executor_node/status``, one DiagnosticArray per control tick, header.stamp = the
tick time, one status named ``<node>/status`` -- the provenance of every command:

==========================  ===============================================================
``seq``                     tick counter (1, 2, ...); ticks without a command count too
``state``                   waiting | tracking | blending | holding | disabled
``active_chunk_stamp_ns``   header.stamp (integer ns) of the chunk the command came from;
                            when holding, of the chunk that produced the held command
``previous_chunk_stamp_ns`` stamp of the chunk being blended out (blending only; after a
                            hold, of the chunk whose command was held; 0 otherwise or when
                            blending in from the measured pose)
``blend_weight``            weight of that previous chunk in [0, 1] (0 when not blending;
                            each joint fades at its own pace: the largest over the blended
                            joints)
``chunk_index``             fractional action index in the active chunk at the tick time
``hold_reason``             '' or disabled | hold_requested | policy_silent | no_chunk |
                            chunk_exhausted | non_finite
``clamped_joints``          command joints changed by the position limits this tick
``step_limited_joints``     command joints changed by the per-tick step limit this tick
``joint_names``             command joint names (comma-separated)
``command``                 the command sent this tick (comma-separated, exact float64
                            repr), '' when nothing was sent
==========================  ===============================================================

Floats are written with repr (exact), integers in decimal, name lists comma-separated.

ChunkInfo: ``policy_node/chunk_info``, one DiagnosticArray per finished inference (decode
failures too, which publish no chunk), header.stamp = the chunk stamp, one status named
``<node>/chunk`` whose message is ``status``:

| key | value |
|---|---|
| `status` | `ok`, or the policy's decode-failure status (`no_end_marker`, ...) |
| `error` | the failure reason ('' when ok) |
| `instruction` | the instruction the chunk was computed for |
| `stamp_ns.joint_states` | header stamp (integer ns) of the joint state used |
| `stamp_ns.<slot>` | header stamp of the frame used for each checkpoint camera slot |
| `masked.<slot>` | `true` for each checkpoint slot with no topic (masked) |
| `tokens` | number of generated tokens |
| `decode_steps` | decode steps the engine ran for them |
| `horizon`, `action_dim` | chunk shape (0 on failure) |
| `latency_ms` | joint-state stamp -> publish, ROS time |
| `convert_ms`, `preprocess_ms`, `prefill_ms`, `decode_ms`, `detokenize_ms` | stage times |
| `inference_ms` | the policy's total (preprocess .. detokenize) |
| `publish_ms` | building and publishing the chunk message |
| `overhead_ms` | convert + preprocess + publish: the node's cost beside the model |
| `inputs_during_inference` | input messages the callbacks stored while the model ran |
| `weights_sha256` | sha256 of the checkpoint's weight files, hashed once at load |
| `engine_path` | the decode path and why (core/model/selfcheck.py): `<path>: verified ...` |

Times are written with two decimals (``f'{ms:.2f}'``; ``nan`` when a stage did not run).
"""

import dataclasses

TICK_STATE_LEVELS = {'waiting': 'ok', 'tracking': 'ok', 'blending': 'ok', 'disabled': 'ok',
                     'holding': 'warn'}   # tick state -> diagnostic level of its status
JOINT_STATES = 'joint_states'           # the stamp_ns.<input> of the joint state
STAMP_PREFIX = 'stamp_ns.'
MASKED_PREFIX = 'masked.'
TIMINGS_MS = ('latency_ms', 'convert_ms', 'preprocess_ms', 'prefill_ms', 'decode_ms',
              'detokenize_ms', 'inference_ms', 'publish_ms', 'overhead_ms')
NAN = float('nan')


class StatusFormatError(ValueError):
    """A status value that is not in the documented format (the key and the text say which)."""

    def __init__(self, record, key, text, expected):
        super().__init__(f'{record} {key!r}: {text!r} is not {expected}')
        self.key = key


def _int(record, values, key, default=0):
    text = values.get(key, '')
    if text == '':
        return default
    try:
        return int(text)    # not via float: stamps in ns (~1.8e18) do not survive a float64
    except ValueError:
        raise StatusFormatError(record, key, text, 'an integer') from None


def _float(record, values, key, default):
    text = values.get(key, '')
    if text == '':
        return default
    try:
        return float(text)
    except ValueError:
        raise StatusFormatError(record, key, text, 'a number') from None


def _names(values, key):
    text = values.get(key, '')
    return tuple(text.split(',')) if text else ()


def _floats_text(values):
    return ','.join(repr(float(v)) for v in values)


@dataclasses.dataclass(frozen=True)
class TickStatus:
    """One executor_node/status record (see the module docstring for the keys)."""

    seq: int = 0
    state: str = ''
    active_chunk_stamp_ns: int = 0
    previous_chunk_stamp_ns: int = 0
    blend_weight: float = 0.0
    chunk_index: float = NAN
    hold_reason: str = ''
    clamped_joints: tuple = ()
    step_limited_joints: tuple = ()
    joint_names: tuple = ()
    command: tuple = None         # floats, robot space; None when nothing was sent

    @classmethod
    def from_tick(cls, tick, joint_names):
        """Return the record of an ExecutorCore Tick, sent to ``joint_names``."""
        return cls(tick.seq, tick.state, tick.active_stamp_ns, tick.previous_stamp_ns,
                   float(tick.blend_weight), float(tick.chunk_index), tick.hold_reason,
                   tuple(tick.clamped), tuple(tick.step_limited), tuple(joint_names),
                   None if tick.command is None else tuple(float(v) for v in tick.command))

    @property
    def level(self):
        """Diagnostic level of the status: 'ok', or 'warn' while holding."""
        return TICK_STATE_LEVELS[self.state]

    @property
    def message(self):
        """Status message: the state, and the hold reason in brackets."""
        return self.state + (f' ({self.hold_reason})' if self.hold_reason else '')

    def encode(self):
        """Return the status key/values, {key: text}, in the published order."""
        return {'seq': str(int(self.seq)), 'state': self.state,
                'active_chunk_stamp_ns': str(int(self.active_chunk_stamp_ns)),
                'previous_chunk_stamp_ns': str(int(self.previous_chunk_stamp_ns)),
                'blend_weight': repr(float(self.blend_weight)),
                'chunk_index': repr(float(self.chunk_index)),
                'hold_reason': self.hold_reason,
                'clamped_joints': ','.join(self.clamped_joints),
                'step_limited_joints': ','.join(self.step_limited_joints),
                'joint_names': ','.join(self.joint_names),
                'command': '' if self.command is None else _floats_text(self.command)}

    @classmethod
    def decode(cls, values):
        """Parse the {key: text} of one status; raise StatusFormatError on a malformed value."""
        name = 'executor_node/status'
        command = values.get('command', '')
        try:
            command = tuple(float(x) for x in command.split(',')) if command else None
        except ValueError:
            raise StatusFormatError(name, 'command', command,
                                    'comma-separated numbers') from None
        return cls(
            seq=_int(name, values, 'seq'), state=values.get('state', ''),
            active_chunk_stamp_ns=_int(name, values, 'active_chunk_stamp_ns'),
            previous_chunk_stamp_ns=_int(name, values, 'previous_chunk_stamp_ns'),
            blend_weight=_float(name, values, 'blend_weight', 0.0),
            chunk_index=_float(name, values, 'chunk_index', NAN),
            hold_reason=values.get('hold_reason', ''),
            clamped_joints=_names(values, 'clamped_joints'),
            step_limited_joints=_names(values, 'step_limited_joints'),
            joint_names=_names(values, 'joint_names'), command=command)


@dataclasses.dataclass(frozen=True)
class ChunkInfo:
    """One policy_node/chunk_info record (see the module docstring for the keys)."""

    status: str = ''
    error: str = ''
    instruction: str = ''
    stamps_ns: dict = dataclasses.field(default_factory=dict)  # input -> header stamp (ns)
    masked: tuple = ()            # checkpoint camera slots with no topic
    tokens: int = 0
    decode_steps: int = 0
    horizon: int = 0
    action_dim: int = 0
    latency_ms: float = NAN
    convert_ms: float = NAN
    preprocess_ms: float = NAN
    prefill_ms: float = NAN
    decode_ms: float = NAN
    detokenize_ms: float = NAN
    inference_ms: float = NAN
    publish_ms: float = NAN
    overhead_ms: float = NAN
    inputs_during_inference: int = 0
    weights_sha256: str = ''
    engine_path: str = ''

    @property
    def ok(self):
        """Whether the inference produced a chunk."""
        return self.status == 'ok'

    @property
    def joint_state_stamp_ns(self):
        """Stamp of the joint state the chunk was computed from (0 when not recorded)."""
        return self.stamps_ns.get(JOINT_STATES, 0)

    @property
    def frame_stamps_ns(self):
        """Return {camera slot: stamp of the frame used}: every input but the joint state."""
        return {k: v for k, v in self.stamps_ns.items() if k != JOINT_STATES}

    def encode(self):
        """Return the status key/values, {key: text}, in the published order."""
        values = {'status': self.status, 'error': self.error, 'instruction': self.instruction}
        values.update({STAMP_PREFIX + k: str(int(v)) for k, v in self.stamps_ns.items()})
        values.update({MASKED_PREFIX + slot: 'true' for slot in self.masked})
        values.update({'tokens': str(int(self.tokens)),
                       'decode_steps': str(int(self.decode_steps)),
                       'horizon': str(int(self.horizon)), 'action_dim': str(int(self.action_dim))})
        values.update({key: f'{getattr(self, key):.2f}' for key in TIMINGS_MS})
        values['inputs_during_inference'] = str(int(self.inputs_during_inference))
        values['weights_sha256'] = self.weights_sha256
        values['engine_path'] = self.engine_path
        return values

    @classmethod
    def decode(cls, values):
        """Parse the {key: text} of one status; raise StatusFormatError on a malformed value."""
        name = 'policy_node/chunk_info'
        stamps = {key[len(STAMP_PREFIX):]: _int(name, values, key)
                  for key in values if key.startswith(STAMP_PREFIX)}
        masked = []
        for key, text in values.items():
            if key.startswith(MASKED_PREFIX):
                if text != 'true':
                    raise StatusFormatError(name, key, text, "'true'")
                masked.append(key[len(MASKED_PREFIX):])
        counts = {key: _int(name, values, key) for key in
                  ('tokens', 'decode_steps', 'horizon', 'action_dim', 'inputs_during_inference')}
        timings = {key: _float(name, values, key, NAN) for key in TIMINGS_MS}
        return cls(status=values.get('status', ''), error=values.get('error', ''),
                   instruction=values.get('instruction', ''), stamps_ns=stamps,
                   masked=tuple(masked), weights_sha256=values.get('weights_sha256', ''),
                   engine_path=values.get('engine_path', ''), **counts, **timings)
