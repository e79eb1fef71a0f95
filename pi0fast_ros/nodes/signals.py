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
Signal handling for node processes; imports nothing heavy, so it can be installed first.

A node's entry point (pi0fast_ros.nodes.entry) installs StopSignals before it imports the
node's module (rclpy, and torch for the policy node: seconds), so that a Ctrl-C at any moment
of a start-up is a clean stop; run_node then uses the same instance.
"""

import signal
import threading


class StopSignals:
    """
    SIGINT / SIGTERM of a node process, handled without tearing the node apart.

    rclpy's own handlers shut the context down and Python then raises KeyboardInterrupt
    wherever the main thread happens to be: inside rclpy's take_message (seen as `RuntimeError:
    Unable to convert call argument '0' to Python object`, exit 1), or, at a second signal from
    a supervisor signalling the whole process group, inside destroy_node (KeyboardInterrupt
    tracebacks, then an abort). Here a signal only sets `stop`; the spin loop sees it and the
    node is destroyed in order, whatever else arrives. While the node is still being built (a
    model may take minutes to load) the first signal raises KeyboardInterrupt, so that Ctrl-C
    stops a start-up at once.
    """

    _installed = None

    def __init__(self):
        self.stop = threading.Event()
        self.count = 0
        self.interrupt_startup = True

    @classmethod
    def for_process(cls):
        """Return the process's StopSignals, installing it on first use (main thread only)."""
        if cls._installed is None:
            signals = cls()
            for sig in (signal.SIGINT, signal.SIGTERM):
                signal.signal(sig, signals._on_signal)
            cls._installed = signals
        return cls._installed

    def ignore(self):
        """
        Ignore further signals: for the last moments of the process.

        At exit Python puts back the default action of every signal it handled, so a second
        SIGINT arriving then would kill the process (status -2) after a clean shutdown; an
        ignored signal stays ignored.
        """
        for sig in (signal.SIGINT, signal.SIGTERM):
            signal.signal(sig, signal.SIG_IGN)

    def _on_signal(self, signum, frame):
        self.count += 1
        self.stop.set()
        if self.interrupt_startup and self.count == 1:
            raise KeyboardInterrupt
