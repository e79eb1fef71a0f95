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
The policy node's output messages: the action chunk and its provenance record.

`action_chunk` (trajectory_msgs/JointTrajectory, DESIGN §3): header.stamp = the stamp of the
joint state the chunk was computed from (also the chunk's id); joint_names = action_joint_names;
points[i].positions = action i in policy space; points[i].time_from_start = i / action_rate_hz.

`policy_node/chunk_info` (diagnostic_msgs/DiagnosticArray, one status, header.stamp = the chunk
stamp), published for every finished inference, including decode failures (which publish no
chunk). Its key/values, all strings:

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
"""

from builtin_interfaces.msg import Duration, Time
from diagnostic_msgs.msg import DiagnosticArray, DiagnosticStatus, KeyValue
from trajectory_msgs.msg import JointTrajectory, JointTrajectoryPoint


def ns_to_time(ns):
    """Integer nanoseconds -> builtin_interfaces/Time."""
    return Time(sec=int(ns // 1_000_000_000), nanosec=int(ns % 1_000_000_000))


def ns_to_duration(ns):
    """Integer nanoseconds (>= 0) -> builtin_interfaces/Duration."""
    return Duration(sec=int(ns // 1_000_000_000), nanosec=int(ns % 1_000_000_000))


def chunk_message(stamp_ns, joint_names, actions, action_rate_hz):
    """Build the JointTrajectory for actions float [horizon, action_dim] (policy space)."""
    msg = JointTrajectory()
    msg.header.stamp = ns_to_time(stamp_ns)
    msg.joint_names = list(joint_names)
    rows = actions.tolist()
    points = []
    for i, row in enumerate(rows):
        point = JointTrajectoryPoint()
        point.positions = row
        point.time_from_start = ns_to_duration(round(i * 1e9 / action_rate_hz))
        points.append(point)
    msg.points = points
    return msg


def chunk_info_message(stamp_ns, level, name, hardware_id, values):
    """Build the chunk_info DiagnosticArray: one status holding the dict `values`."""
    status = DiagnosticStatus(level=level, name=name, hardware_id=hardware_id,
                              message=str(values.get('status', '')))
    status.values = [KeyValue(key=str(k), value=str(v)) for k, v in values.items()]
    msg = DiagnosticArray()
    msg.header.stamp = ns_to_time(stamp_ns)
    msg.status = [status]
    return msg


def chunk_info_values(record, masked, timings, latency_ms, publish_ms):
    """Return the chunk_info key/values of one InferenceRecord (see the module docstring)."""
    obs, result = record.observation, record.result
    values = {'status': result.status, 'error': result.error or '',
              'instruction': obs.instruction}
    values.update({f'stamp_ns.{name}': ns for name, ns in obs.stamps_ns.items()})
    values.update({f'masked.{slot}': 'true' for slot in masked})
    actions = result.actions
    values.update({
        'tokens': len(result.tokens) if result.tokens is not None else 0,
        'decode_steps': result.decode_steps,
        'horizon': actions.shape[0] if actions is not None else 0,
        'action_dim': actions.shape[1] if actions is not None else 0,
        'latency_ms': f'{latency_ms:.2f}', 'convert_ms': f'{record.convert_ms:.2f}'})
    for stage in ('preprocess', 'prefill', 'decode', 'detokenize'):
        values[f'{stage}_ms'] = f'{timings.get(stage, float("nan")):.2f}'
    values['inference_ms'] = f'{timings.get("total", float("nan")):.2f}'
    values['publish_ms'] = f'{publish_ms:.2f}'
    values['overhead_ms'] = f'{overhead_ms(record, timings, publish_ms):.2f}'
    values['inputs_during_inference'] = record.inputs_during_inference
    return values


def overhead_ms(record, timings, publish_ms):
    """Return the node's per-chunk cost beside the model: conversion, preprocessing, publish."""
    return record.convert_ms + timings.get('preprocess', 0.0) + publish_ms
