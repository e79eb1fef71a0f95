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

"""Counters and rolling timing statistics of the policy node (ROS-free, thread-safe)."""

import collections
import threading
import time

import numpy as np

WINDOW = 100           # timings kept for percentiles
ATTEMPTS = 10          # /diagnostics judges the last this many inference attempts
RATE_WINDOW_S = 10.0   # chunks/s is measured over this many seconds


def percentile(values, q):
    """q-th percentile of values (NaN when there are none)."""
    return float(np.percentile(values, q)) if len(values) else float('nan')


class PolicyStats:
    """
    What the worker did: chunks, decode failures, drops, rejections, and rolling timings.

    Written by the worker thread, read by the diagnostics timer: every access takes the lock.
    """

    def __init__(self, clock=time.monotonic):
        self._lock = threading.Lock()
        self._clock = clock
        self.chunks = 0
        self.decode_failures = collections.Counter()   # status -> count
        self.inference_errors = 0
        self.dropped = collections.Counter()           # superseded / paused -> count
        self.rejected = collections.Counter()          # InputError.reason -> count
        self._times = {k: collections.deque(maxlen=WINDOW)
                       for k in ('latency', 'inference', 'overhead')}
        self._published = collections.deque()
        self._attempts = collections.deque(maxlen=ATTEMPTS)   # (succeeded, why not)

    def _attempt(self, ok, why=''):
        self._attempts.append((ok, why))

    def attempts(self):
        """Return (attempts, succeeded, last failure or '') over the last ATTEMPTS attempts."""
        with self._lock:
            failures = [why for ok, why in self._attempts if not ok]
            return (len(self._attempts), len(self._attempts) - len(failures),
                    failures[-1] if failures else '')

    def record_chunk(self, latency_ms, inference_ms, overhead_ms):
        with self._lock:
            self.chunks += 1
            self._attempt(True)
            now = self._clock()
            self._published.append(now)
            for key, value in (('latency', latency_ms), ('inference', inference_ms),
                               ('overhead', overhead_ms)):
                self._times[key].append(value)

    def record_decode_failure(self, status, inference_ms, message=''):
        with self._lock:
            self.decode_failures[status] += 1
            self._attempt(False, f'decode failed ({status}): {message}')
            self._times['inference'].append(inference_ms)

    def record_error(self, message=''):
        with self._lock:
            self.inference_errors += 1
            self._attempt(False, f'inference raised {message}')

    def record_drop(self, reason):
        with self._lock:
            self.dropped[reason] += 1

    def record_rejection(self, reason, message):
        with self._lock:
            self.rejected[reason] += 1
            self._attempt(False, f'{reason}: {message}')

    def chunks_per_s(self):
        with self._lock:
            horizon = self._clock() - RATE_WINDOW_S
            while self._published and self._published[0] < horizon:
                self._published.popleft()
            return len(self._published) / RATE_WINDOW_S

    def summary(self):
        """Return a flat dict of every figure, for /diagnostics."""
        rate = self.chunks_per_s()
        with self._lock:
            out = {'chunks_published': self.chunks, 'chunks_per_s': f'{rate:.2f}',
                   'decode_failures': sum(self.decode_failures.values()),
                   'inference_errors': self.inference_errors,
                   'dropped': sum(self.dropped.values()),
                   'rejected': sum(self.rejected.values())}
            for key, values in self._times.items():
                out[f'{key}_p50_ms'] = f'{percentile(values, 50):.1f}'
                out[f'{key}_p95_ms'] = f'{percentile(values, 95):.1f}'
            out.update({f'decode_failures.{k}': v for k, v in self.decode_failures.items()})
            out.update({f'dropped.{k}': v for k, v in self.dropped.items()})
            out.update({f'rejected.{k}': v for k, v in self.rejected.items()})
            return out
