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

"""A rollout_recorder process and the clients a test drives it with."""

import pathlib

from harness import wait_for
from pi0fast_ros.recording.bag_writer import TYPESTORE
from rclpy.qos import DurabilityPolicy, QoSProfile, ReliabilityPolicy
from rosbags.highlevel import AnyReader
from std_srvs.srv import Trigger
import yaml


MODULE = 'pi0fast_ros.nodes.recorder'


LATCHED = QoSProfile(depth=1, reliability=ReliabilityPolicy.RELIABLE,
                     durability=DurabilityPolicy.TRANSIENT_LOCAL)


def read_bag(path):
    with AnyReader([pathlib.Path(path)], default_typestore=TYPESTORE) as reader:
        return [(c.topic, t, reader.deserialize(raw, c.msgtype))
                for c, t, raw in reader.messages()]


def custom_data(path):
    meta = yaml.safe_load((pathlib.Path(path) / 'metadata.yaml').read_text())
    return meta['rosbag2_bagfile_information']['custom_data']


def trigger(probe, service, duplicate_prefix=None, attempts=2):
    """
    Call a Trigger service, again while no answer comes (see harness.Probe.call).

    Only for calls whose repetition is recognisable: a repeated start answers 'already
    recording to <bag>' and a repeated stop 'not recording'. duplicate_prefix is that answer's
    prefix; a retry that gets it reports the first call's success.
    """
    for attempt in range(attempts):
        try:
            response = probe.call(Trigger, service, Trigger.Request(), timeout=8.0)
        except TimeoutError:
            if duplicate_prefix is None or attempt == attempts - 1:
                raise
            continue
        if attempt and not response.success and response.message.startswith(duplicate_prefix):
            response.success, response.message = True, response.message[len(duplicate_prefix):]
        return response


def prepare_clients(probe):
    for name in ('rollout_recorder/start', 'rollout_recorder/stop'):
        probe.client(Trigger, name)


def publish_until(probe, pub, make_msg, done, timeout=20.0):
    """Publish make_msg() every 20 ms until done() (a count-based condition) or timeout."""
    stop = probe.every(0.02, lambda: pub.publish(make_msg()))
    try:
        return wait_for(done, timeout)
    finally:
        stop()
