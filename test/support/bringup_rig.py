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

"""The whole graph started by pi0fast-bringup, as a test drives it."""

import os
import signal
import subprocess
import sys


class Bringup:
    """pi0fast-bringup in its own process group, output to a file."""

    def __init__(self, args, log_path):
        self.log_path = log_path
        self._log = open(log_path, 'wb')
        self.proc = subprocess.Popen(
            [sys.executable, '-u', '-m', 'pi0fast_ros.tools.bringup', *map(str, args)],
            stdout=self._log, stderr=subprocess.STDOUT, start_new_session=True)

    def output(self):
        return self.log_path.read_text(errors='replace')

    def stop(self, timeout=90.0):
        """SIGINT, as Ctrl-C; bringup then stops its nodes itself."""
        if self.proc.poll() is None:
            self.proc.send_signal(signal.SIGINT)
        try:
            return self.proc.wait(timeout)
        except subprocess.TimeoutExpired:
            os.killpg(self.proc.pid, signal.SIGKILL)
            return self.proc.wait(10)
        finally:
            self._log.close()
