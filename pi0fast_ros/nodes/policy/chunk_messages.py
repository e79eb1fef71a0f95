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
chunk): core/status.py's ChunkInfo, which documents its keys.
"""

from builtin_interfaces.msg import Duration, Time
from diagnostic_msgs.msg import DiagnosticArray, DiagnosticStatus, KeyValue
from pi0fast_ros.core.status import ChunkInfo
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
    """Build the chunk_info DiagnosticArray: one status holding the {key: text} `values`."""
    status = DiagnosticStatus(level=level, name=name, hardware_id=hardware_id,
                              message=values.get('status', ''))
    status.values = [KeyValue(key=k, value=v) for k, v in values.items()]
    msg = DiagnosticArray()
    msg.header.stamp = ns_to_time(stamp_ns)
    msg.status = [status]
    return msg


def chunk_info_values(record, masked, timings, latency_ms, publish_ms, weights_sha256='',
                      engine_path=''):
    """Return the chunk_info {key: text} of one InferenceRecord (core/status.py ChunkInfo)."""
    obs, result = record.observation, record.result
    actions = result.actions
    info = ChunkInfo(
        status=result.status, error=result.error or '', instruction=obs.instruction,
        stamps_ns=dict(obs.stamps_ns), masked=tuple(masked),
        tokens=len(result.tokens) if result.tokens is not None else 0,
        decode_steps=result.decode_steps,
        horizon=actions.shape[0] if actions is not None else 0,
        action_dim=actions.shape[1] if actions is not None else 0,
        latency_ms=latency_ms, convert_ms=record.convert_ms,
        preprocess_ms=timings.get('preprocess', float('nan')),
        prefill_ms=timings.get('prefill', float('nan')),
        decode_ms=timings.get('decode', float('nan')),
        detokenize_ms=timings.get('detokenize', float('nan')),
        inference_ms=timings.get('total', float('nan')), publish_ms=publish_ms,
        overhead_ms=overhead_ms(record, timings, publish_ms),
        inputs_during_inference=record.inputs_during_inference,
        weights_sha256=weights_sha256, engine_path=engine_path)
    return info.encode()


def overhead_ms(record, timings, publish_ms):
    """Return the node's per-chunk cost beside the model: conversion, preprocessing, publish."""
    return record.convert_ms + timings.get('preprocess', 0.0) + publish_ms
