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

"""The source paths the linters check (never build/, install/, log/ or a venv)."""

import pathlib

REPO = pathlib.Path(__file__).resolve().parents[2]


def python_sources():
    roots = ['pi0fast_ros', 'test', 'launch', 'benchmarks', 'scripts']
    files = [REPO / 'setup.py']
    for root in roots:
        files += sorted((REPO / root).rglob('*.py'))
    return [f for f in files if f.is_file()]


def lint_args():
    return [str(p) for p in python_sources()]
