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

"""Every source file carries the Apache-2.0 header (ament_copyright where it is installed)."""

import importlib.util
import re

from lint_paths import lint_args, python_sources, REPO
import pytest

HEADER = (REPO / 'docs' / 'license-header.txt').read_text().strip().splitlines()
COPYRIGHT = re.compile(r'^# Copyright (\d{4})(-\d{4})? The pi0fast_ros Authors$')


def _header_problem(path):
    lines = path.read_text(encoding='utf-8').splitlines()
    if lines and lines[0].startswith('#!'):
        lines = lines[1:]
    if not lines or not COPYRIGHT.match(lines[0]):
        return 'no "# Copyright <year> The pi0fast_ros Authors" first line'
    if lines[1:len(HEADER)] != HEADER[1:]:
        return 'the Apache-2.0 notice differs from docs/license-header.txt'
    return None


@pytest.mark.copyright
@pytest.mark.linter
def test_every_source_has_the_apache_header():
    problems = {str(p.relative_to(REPO)): _header_problem(p) for p in python_sources()}
    problems = {k: v for k, v in problems.items() if v}
    assert not problems, '\n'.join(f'{k}: {v}' for k, v in sorted(problems.items()))


@pytest.mark.copyright
@pytest.mark.linter
@pytest.mark.skipif(importlib.util.find_spec('ament_copyright') is None,
                    reason='ament_copyright is not on PyPI; it runs under a ROS 2 installation')
def test_ament_copyright():
    from ament_copyright.main import main
    assert main(argv=lint_args()) == 0, 'Found errors'
