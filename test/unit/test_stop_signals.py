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
A signal that interrupts a node's start-up ends the process with status 0 (nodes/entry.py).

The node tests (test/ros/test_node_exits.py) signal real nodes at random moments of their
start-up; this one makes two moments that once went wrong happen every time:

- the signal arrives while the interpreter runs code through PyRun_String (as extension modules
  do while torch and the model load): CPython marks a plain KeyboardInterrupt that leaves such
  code and kills the process by SIGINT at exit (status -2), even when start_node caught it;
- the signal is handled inside a __del__ or a weakref callback, where Python swallows what the
  handler raises: the start-up went on, with an "Exception ignored" traceback.
"""

import pathlib
import subprocess
import sys

import pytest

REPO = pathlib.Path(__file__).resolve().parents[2]

SLOW_START = """
import ctypes

RUN = ctypes.pythonapi.PyRun_String
RUN.restype = ctypes.py_object
RUN.argtypes = [ctypes.c_char_p, ctypes.c_int, ctypes.py_object, ctypes.py_object]
CODE = b"import os, signal, time\\nos.kill(os.getpid(), signal.SIGINT)\\ntime.sleep(30)\\n"


def main(args=None):
    RUN(CODE, 257, {}, {})   # 257: Py_file_input
    raise AssertionError('the signal did not interrupt the start-up')
"""

SWALLOWED = """
import os
import signal
import time


class Resource:
    def __del__(self):
        # The signal is handled in here: Python swallows what a __del__ raises ("Exception
        # ignored"), as it does in the weakref callbacks of importlib's module locks.
        os.kill(os.getpid(), signal.SIGINT)
        for _ in range(100_000):
            pass


def main(args=None):
    resource = Resource()
    del resource
    time.sleep(20)
    raise AssertionError('the signal did not interrupt the start-up')
"""

RUNNER = """
import sys

from pi0fast_ros.nodes.entry import start_node

if __name__ == '__main__':
    sys.exit(start_node('slow_node', 'slow_start'))
"""


@pytest.mark.parametrize('where', ['embedded code', 'a __del__'])
@pytest.mark.parametrize('how', ['python -m', 'python script'])
def test_a_signal_during_startup_exits_0_at_once(how, where, tmp_path):
    (tmp_path / 'slow_start.py').write_text(SLOW_START if where == 'embedded code' else
                                            SWALLOWED)
    (tmp_path / 'runner.py').write_text(RUNNER)
    cmd = [sys.executable, '-m', 'runner'] if how == 'python -m' else [sys.executable,
                                                                       'runner.py']
    done = subprocess.run(cmd, cwd=tmp_path, capture_output=True, text=True, timeout=60,
                          env={'PYTHONPATH': f'{tmp_path}:{REPO}', 'PATH': '/usr/bin:/bin'})
    assert done.returncode == 0, (done.returncode, done.stdout, done.stderr)
    assert done.stderr.strip() == '[INFO] [slow_node]: stopped during start-up', done.stderr
