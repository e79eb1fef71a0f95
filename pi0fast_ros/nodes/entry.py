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
What `ros2 run pi0fast_ros <node>` and `python -m pi0fast_ros.nodes.<node>` run.

Importing a node's module takes seconds (rclpy; torch for the policy node). Python's own
SIGINT handler would turn a Ctrl-C in that window into a KeyboardInterrupt traceback, so
start_node installs StopSignals first (this module imports nothing heavy), then imports the
node's module and runs its main(); a signal at any point before the node is built is a clean
stop: one line, status 0, as for a signal while the model loads (common.run_node).
"""

import importlib
import sys

from .signals import StopSignals


def start_node(executable, module, args=None):
    """Import a node's module with signals handled, run its main(args); return the status."""
    signals = StopSignals.for_process()
    try:
        return importlib.import_module(module).main(args)
    except KeyboardInterrupt:
        if not signals.count:
            raise
        # Raised by the first signal before run_node took over (the import, or main() before
        # its try): nothing was built yet, so there is nothing to tear down.
        signals.ignore()
        print(f'[INFO] [{executable}]: stopped during start-up', file=sys.stderr, flush=True)
        return 0
