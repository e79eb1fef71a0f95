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
import sys
import threading

REDELIVER_AFTER_S = 0.005


class StartupInterrupted(KeyboardInterrupt):
    """
    What the first signal raises while a node is still being built.

    A subclass, not KeyboardInterrupt itself: CPython remembers a KeyboardInterrupt (the exact
    type) that leaves code run through PyRun_String (some extension modules run Python that
    way while torch and the model load) even when a caller catches it later, and then ends the
    process by SIGINT at exit: status -2 after a clean "stopped during start-up". A subclass is
    caught by every `except KeyboardInterrupt` and leaves no such mark.
    """


class StopSignals:
    """
    SIGINT / SIGTERM of a node process, handled without tearing the node apart.

    rclpy's own handlers shut the context down and Python then raises KeyboardInterrupt
    wherever the main thread happens to be: inside rclpy's take_message (seen as `RuntimeError:
    Unable to convert call argument '0' to Python object`, exit 1), or, at a second signal from
    a supervisor signalling the whole process group, inside destroy_node (KeyboardInterrupt
    tracebacks, then an abort). Here a signal only sets `stop`; the spin loop sees it and the
    node is destroyed in order, whatever else arrives. While the node is still being built (a
    model may take minutes to load) the first signal raises StartupInterrupted (a
    KeyboardInterrupt), so that Ctrl-C stops a start-up at once.
    """

    _installed = None

    def __init__(self):
        self.stop = threading.Event()
        self.count = 0
        self.interrupt_startup = True
        self._redeliver = False
        self._next_hook = sys.unraisablehook

    @classmethod
    def for_process(cls):
        """Return the process's StopSignals, installing it on first use (main thread only)."""
        if cls._installed is None:
            signals = cls()
            for sig in (signal.SIGINT, signal.SIGTERM):
                signal.signal(sig, signals._on_signal)
            sys.unraisablehook = signals._on_unraisable
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
        if self._redeliver:   # the first signal again, after its exception was swallowed
            self._redeliver = False
        else:
            self.count += 1
            self.stop.set()
            if self.count > 1:
                return
        if self.interrupt_startup:
            raise StartupInterrupted

    def _on_unraisable(self, unraisable):
        # The handler runs wherever the main thread is; in a __del__ or a weakref callback
        # (importlib's module locks have one) Python swallows what it raises and prints
        # "Exception ignored". Deliver the signal again, to be raised in the code that follows:
        # from another thread a moment later (from here it would be raised in this hook, and
        # lost again); should it land in such a place once more, this happens again.
        if isinstance(unraisable.exc_value, StartupInterrupted) and self.interrupt_startup:
            self._redeliver = True
            # a real signal to the main thread: it also ends a blocking call (a sleep, a wait)
            timer = threading.Timer(REDELIVER_AFTER_S, signal.pthread_kill,
                                    (threading.main_thread().ident, signal.SIGINT))
            timer.daemon = True
            timer.start()
            return
        self._next_hook(unraisable)
