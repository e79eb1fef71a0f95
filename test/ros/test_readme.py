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
README.md's code blocks, run verbatim, so that they cannot drift from the code.

Every fenced block is ```text (a drawing), or has a marker comment on the line above it:

    <!-- readme-test: run[; expect: TEXT] -->  python: run in one interpreter, in README order
                                                (later blocks continue the session); bash: run
                                                by bash -e. TEXT must appear in the output.
    <!-- readme-test: graph -->                 bash, started in the background (the graph),
    <!-- readme-test: with-graph -->            run while the graph block runs
    <!-- readme-test: skip: REASON -->          not runnable here, and why

A block without a marker, or a skip without a reason, fails test_every_block_is_run_or_excused.
Blocks run from the repository root with HOME set to a fresh directory (so ~/ paths are the
test's), in the environment of scripts/test.sh (scripts/env.sh sourced).
"""

import dataclasses
import json
import os
import re
import signal
import subprocess
import sys
import time

from harness import Probe, REPO, wait_for
import pytest

README = REPO / 'README.md'
MARKER = re.compile(r'<!--\s*readme-test:\s*(?P<kind>[\w-]+)\s*(?::\s*(?P<reason>.*?))?'
                    r'(?:;\s*expect:\s*(?P<expect>.*?))?\s*-->')
KINDS = ('run', 'graph', 'with-graph', 'skip')
RUNNER = r"""
import json, sys
namespace = {'__name__': '__main__'}
for line, code in json.load(open(sys.argv[1])):
    print(f'--- README.md block at line {line}', flush=True)
    exec(compile(code, f'README.md:{line}', 'exec'), namespace)
"""


@dataclasses.dataclass
class Block:
    line: int          # line of the opening fence, 1-based
    lang: str
    code: str
    kind: str = None   # None: no marker
    reason: str = ''
    expect: str = ''


def readme_blocks(text):
    """Return every fenced code block of the text with the marker above it (if any)."""
    lines = text.splitlines()
    blocks, i = [], 0
    while i < len(lines):
        fence = re.match(r'^```(\S*)\s*$', lines[i])
        if not fence:
            i += 1
            continue
        end = next(j for j in range(i + 1, len(lines)) if lines[j].startswith('```'))
        block = Block(i + 1, fence.group(1), '\n'.join(lines[i + 1:end]) + '\n')
        marker = MARKER.search(lines[i - 1]) if i else None
        if marker:
            block.kind = marker.group('kind')
            block.reason = (marker.group('reason') or '').strip()
            block.expect = (marker.group('expect') or '').strip()
        blocks.append(block)
        i = end + 1
    return blocks


BLOCKS = readme_blocks(README.read_text(encoding='utf-8'))


def _env(home):
    return {**os.environ, 'HOME': str(home), 'PYTHONUNBUFFERED': '1'}


def _check_output(block, proc):
    out = proc.stdout + proc.stderr
    assert proc.returncode == 0, f'README.md block at line {block.line} failed:\n{out[-6000:]}'
    if block.expect:
        assert block.expect in proc.stdout, \
            f'README.md block at line {block.line}: {block.expect!r} not in its output:\n{out}'


def cli_publish_waits(blocks):
    """(topic, N) of every `ros2 topic pub --once` in the blocks: N its -w (default 1)."""
    found = []
    for block in blocks:
        for line in block.code.splitlines():
            words = line.split('#')[0].split()
            if words[:3] != ['ros2', 'topic', 'pub'] or '--once' not in words:
                continue
            wait = int(words[words.index('-w') + 1]) if '-w' in words else 1
            found.append((next(w for w in words[3:] if w.startswith('/')), wait))
    return found


def check_cli_publish_waits(probe):
    """Each README `ros2 topic pub --once` waits for every subscriber the graph has."""
    waits = cli_publish_waits(BLOCKS)
    assert waits, 'the README lost its `ros2 topic pub --once` example'
    for topic, wait in waits:
        def subscribers(topic=topic):
            return sorted(i.node_name for i in probe.node.get_subscriptions_info_by_topic(topic))
        assert wait_for(lambda: 'policy_node' in subscribers(), 30), \
            f'no policy_node subscribes to {topic}: {subscribers()}'
        time.sleep(2.0)   # the other subscribers of the graph (it has run for a while)
        # Fewer than the graph has: pub --once may publish as soon as another subscriber matched,
        # and the volatile policy_node subscription never gets the message.
        assert len(subscribers()) == wait, \
            f'README: `ros2 topic pub --once -w {wait} {topic}`, but {subscribers()} subscribe'


def test_every_block_is_run_or_excused():
    assert len(BLOCKS) >= 5, 'the README lost its code blocks, or this parser broke'
    for block in BLOCKS:
        where = f'README.md block at line {block.line} (```{block.lang})'
        if block.lang == 'text':
            assert block.kind is None, f'{where}: a drawing is not run; drop its marker'
            continue
        assert block.lang in ('python', 'bash'), f'{where}: only python, bash or text blocks'
        assert block.kind in KINDS, f'{where}: add <!-- readme-test: ... --> above it'
        if block.kind == 'skip':
            assert len(block.reason.split()) >= 3, f'{where}: say why it cannot run here'
        if block.kind in ('graph', 'with-graph'):
            assert block.lang == 'bash', f'{where}: graph blocks are shell commands'
    kinds = [b.kind for b in BLOCKS]
    assert ('graph' in kinds) == ('with-graph' in kinds), 'with-graph blocks need a graph'


def test_python_blocks_run_verbatim(tmp_path):
    blocks = [b for b in BLOCKS if b.lang == 'python' and b.kind == 'run']
    assert blocks
    script = tmp_path / 'blocks.json'
    script.write_text(json.dumps([(b.line, b.code) for b in blocks]))
    proc = subprocess.run([sys.executable, '-c', RUNNER, str(script)], cwd=REPO,
                          env=_env(tmp_path), capture_output=True, text=True, timeout=900)
    parts = re.split(r'--- README.md block at line (\d+)\n', proc.stdout)[1:]
    outputs = dict(zip(map(int, parts[::2]), parts[1::2]))
    assert proc.returncode == 0, f'{proc.stdout[-3000:]}\n{proc.stderr[-6000:]}'
    for block in blocks:
        assert block.expect in outputs.get(block.line, ''), \
            f'README.md block at line {block.line}: {block.expect!r} not in its output'


BASH_RUN = [b for b in BLOCKS if b.lang == 'bash' and b.kind == 'run']
if BASH_RUN:   # defined only when the README has such blocks (no empty, skipped test)
    @pytest.mark.parametrize('block', BASH_RUN, ids=[f'line{b.line}' for b in BASH_RUN])
    def test_bash_blocks_run_verbatim(tmp_path, block):
        proc = subprocess.run(['bash', '-euo', 'pipefail', '-c', block.code], cwd=REPO,
                              env=_env(tmp_path), capture_output=True, text=True, timeout=600)
        _check_output(block, proc)


@pytest.mark.ros
@pytest.mark.slow
def test_graph_blocks_run_verbatim(tmp_path):
    graph = [b for b in BLOCKS if b.kind == 'graph']
    assert len(graph) == 1, 'one README block starts the graph'
    log = open(tmp_path / 'graph.log', 'w')
    proc = subprocess.Popen(['bash', '-euo', 'pipefail', '-c', 'exec ' + graph[0].code.strip()],
                            cwd=REPO, env=_env(tmp_path), stdout=log,
                            stderr=subprocess.STDOUT, start_new_session=True)

    def output():
        return (tmp_path / 'graph.log').read_text(errors='replace')

    try:
        # the policy node's own 'ready' line (other nodes print one too)
        assert wait_for(lambda: '[policy_node]: ready:' in output()
                        or proc.poll() is not None, 240, interval=0.5)
        assert proc.poll() is None, f'the graph block exited:\n{output()[-6000:]}'
        for block in (b for b in BLOCKS if b.kind == 'with-graph'):
            done = subprocess.run(['bash', '-euo', 'pipefail', '-c', block.code], cwd=REPO,
                                  env=_env(tmp_path), capture_output=True, text=True,
                                  timeout=600)
            _check_output(block, done)
        probe = Probe('readme_probe')
        try:
            check_cli_publish_waits(probe)
        finally:
            probe.close()
    finally:
        if proc.poll() is None:
            proc.send_signal(signal.SIGINT)     # bringup stops its nodes itself
        try:
            proc.wait(120)
        except subprocess.TimeoutExpired:
            os.killpg(proc.pid, signal.SIGKILL)
            proc.wait(10)
        log.close()
    pngs = list((tmp_path / 'pi0fast_rollouts').glob('*.png'))
    assert pngs, 'pi0fast-plot-rollout wrote no plot next to the bag'
