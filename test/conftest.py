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

"""Shared pytest set-up: an isolated DDS domain on loopback, and the ROS test fixtures."""

import importlib.util
import os
import pathlib
import random
import sys

import pytest

# Multi-process tests talk over DDS. Keep that traffic on this machine and give every pytest
# session its own domain, so that parallel runs (or a robot on the same LAN) never cross-talk.
os.environ.setdefault('ROS_AUTOMATIC_DISCOVERY_RANGE', 'LOCALHOST')
os.environ.setdefault('ROS_DOMAIN_ID', str(random.SystemRandom().randint(5, 100)))
os.environ.setdefault('PYTHONUNBUFFERED', '1')

# The tree: unit/ (no ROS needed), ros/ (rclpy, DDS, node processes), launch/ (launch_testing),
# lint/ (flake8, pep257, copyright headers) and support/ (the helpers tests share; no test
# module imports another).
sys.path.insert(0, str(pathlib.Path(__file__).resolve().parent / 'support'))

HAVE_LAUNCH_TESTING = importlib.util.find_spec('launch_testing') is not None
HAVE_RCLPY = importlib.util.find_spec('rclpy') is not None

# launch_testing is not on PyPI: in the pip environment the launch tests cannot even be
# imported. They run wherever ROS 2 is installed (the GitHub workflow); the same node graph is
# exercised here by the multi-process tests. Only those files are left out.
collect_ignore_glob = [] if HAVE_LAUNCH_TESTING else ['launch/*.py']


# Multi-process ROS tests depend on how 2 busy cores schedule several processes and DDS; one
# that fails is run again, up to ROS_RERUNS times (pytest-rerunfailures; each rerun shows as R
# in the progress and in the summary), and fails the run if it fails every time.
ROS_RERUNS = 2


def pytest_collection_modifyitems(config, items):
    if not config.pluginmanager.hasplugin('rerunfailures'):
        return
    for item in items:
        if item.get_closest_marker('ros') and not item.get_closest_marker('flaky'):
            item.add_marker(pytest.mark.flaky(reruns=ROS_RERUNS, reruns_delay=1))


def pytest_report_header(config):
    return (f'ROS_DOMAIN_ID={os.environ["ROS_DOMAIN_ID"]} '
            f'ROS_AUTOMATIC_DISCOVERY_RANGE={os.environ["ROS_AUTOMATIC_DISCOVERY_RANGE"]} '
            f'launch_testing={"yes" if HAVE_LAUNCH_TESTING else "NOT importable"}')


def pytest_terminal_summary(terminalreporter):
    if not HAVE_LAUNCH_TESTING:
        terminalreporter.write_line(
            'launch tests (test/launch/) SKIPPED: launch_testing is not importable in '
            'this environment (it is not on PyPI). They run under a real ROS 2 installation, '
            'e.g. .github/workflows/ci.yml; the same graph is tested here by multi-process '
            'tests.', yellow=True)


@pytest.fixture
def probe():
    """Yield a test-side rclpy node, spinning in a background thread of its own context."""
    from harness import Probe
    p = Probe()
    try:
        yield p
    finally:
        p.close()


@pytest.fixture
def spawn(tmp_path):
    """Start node processes (see harness.NodeProcess); all are stopped at teardown."""
    from harness import NodeProcess
    started = []

    def _spawn(module, **kwargs):
        kwargs.setdefault('log_dir', tmp_path)
        proc = NodeProcess(module, **kwargs)
        started.append(proc)
        return proc

    yield _spawn
    for proc in reversed(started):
        proc.stop()
