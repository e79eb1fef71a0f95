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
The policy node's realtime_priority: SCHED_FIFO for the per-chunk work around the model only.

PhasePriority switches the calling thread; the worker raises it for the input conversion and
the policy's prepare(), lowers it before the policy's run() (the model) and after publishing.
The scheduling class of a thread is read back from the kernel.
"""

import os
import subprocess
import sys
import threading

from harness import wait_for
import numpy as np
from pi0fast_ros.core.policy.facade import InvalidObservationError, Pi0FastPolicy
from pi0fast_ros.nodes.policy.inference_worker import PhasePriority
from pi0fast_ros.testing.random_checkpoint import make_random_checkpoint
from policy_node_msgs import SEC
import pytest
from worker_rig import ScriptedPolicy

FIFO_REFUSED = PhasePriority(1).error
needs_fifo = pytest.mark.skipif(
    bool(FIFO_REFUSED), reason=f'SCHED_FIFO is not permitted here: {FIFO_REFUSED}')


def _policy_of(thread_id=0):
    return os.sched_getscheduler(thread_id)


def test_priority_zero_changes_nothing():
    phases = PhasePriority(0)
    before = _policy_of()
    phases.raise_()
    assert _policy_of() == before and not phases.active and phases.error == ''
    phases.lower()
    assert _policy_of() == before


@needs_fifo
def test_raise_and_lower_switch_the_calling_thread_only():
    seen = {}

    def run():
        phases = PhasePriority(7)
        seen['after_init'] = _policy_of()      # the trial at construction is undone
        phases.raise_()
        seen['raised'] = (_policy_of(), os.sched_getparam(0).sched_priority)
        seen['main_meanwhile'] = _policy_of(main_id)
        phases.lower()
        seen['lowered'] = _policy_of()
    main_id = threading.get_native_id()
    thread = threading.Thread(target=run)
    thread.start()
    thread.join()
    assert seen['after_init'] == os.SCHED_OTHER
    assert seen['raised'] == (os.SCHED_FIFO, 7)
    assert seen['main_meanwhile'] == os.SCHED_OTHER
    assert seen['lowered'] == os.SCHED_OTHER


def test_refused_priority_says_why_and_does_nothing():
    # Without the privilege (here: an unprivileged user, or this process if it already is
    # one) the first try fails with a reason, and raise_() then leaves the thread alone.
    # (Imports first: the unprivileged user may not be able to read the interpreter's files.)
    code = ('import os\n'
            'from pi0fast_ros.nodes.policy.inference_worker import PhasePriority\n'
            'if os.geteuid() == 0:\n'
            '    os.setgid(65534)\n'
            '    os.setuid(65534)\n'
            'p = PhasePriority(30)\n'
            'p.raise_()\n'
            'print(repr(p.error), p.active, os.sched_getscheduler(0) == os.SCHED_OTHER)\n')
    out = subprocess.run([sys.executable, '-c', code], capture_output=True, text=True,
                         timeout=60, env=dict(os.environ, PYTHONDONTWRITEBYTECODE='1'))
    assert out.returncode == 0, out.stderr
    error, active, normal = out.stdout.strip().rsplit(' ', 2)
    assert 'CAP_SYS_NICE' in error and active == 'False' and normal == 'True'


class PolicyRecordingScheduling(ScriptedPolicy):
    """A ScriptedPolicy that notes the scheduling class its prepare() and run() run under."""

    def __init__(self):
        super().__init__()
        self.phases = []

    def prepare(self, images, state, instruction):
        self.phases.append(('prepare', _policy_of()))
        return super().prepare(images, state, instruction)

    def run(self, prepared):
        self.phases.append(('run', _policy_of()))
        return super().run(prepared)


@needs_fifo
def test_worker_raises_for_its_own_work_and_is_normal_between_chunks(rig_factory):  # noqa: F811
    policy = PolicyRecordingScheduling()
    rig = rig_factory(policy, priority=PhasePriority(9))
    published_under = []
    publish = rig.sink.publish
    rig.sink.publish = lambda record: (published_under.append(_policy_of()), publish(record))
    rig.slots.set_instruction('pick')
    rig.joints(5 * SEC)
    rig.worker.start()
    rig.wait('publish', 1)
    assert policy.phases[:2] == [('prepare', os.SCHED_FIFO), ('run', os.SCHED_OTHER)]
    assert published_under[0] == os.SCHED_FIFO
    # Idle, waiting for the next joint state: back to normal scheduling.
    worker_id = rig.worker._thread.native_id
    assert wait_for(lambda: _policy_of(worker_id) == os.SCHED_OTHER, 5.0)


@pytest.fixture(scope='module')
def tiny_policy(tmp_path_factory):
    path = make_random_checkpoint(tmp_path_factory.mktemp('ckpt') / 'tiny', cameras=('front',),
                                  state_dim=3, action_dim=3, chunk_size=4, scripted=True)
    return Pi0FastPolicy.from_pretrained(str(path))


def test_prepare_runs_no_model_and_run_runs_it_once(tiny_policy):
    calls = []
    generate = tiny_policy.engine.generate

    def watched_generate(*args, **kwargs):
        calls.append('model')
        return generate(*args, **kwargs)
    tiny_policy.engine.generate = watched_generate
    try:
        image = {'front': np.zeros((48, 64, 3), np.uint8)}
        prepared = tiny_policy.prepare(image, np.zeros(3, np.float32), 'pick')
        assert calls == []
        result = tiny_policy.run(prepared)
        assert result.ok
        assert calls == ['model']
        # infer() is the two phases in one call: the same chunk (greedy).
        again = tiny_policy.infer(image, np.zeros(3, np.float32), 'pick')
        assert calls == ['model', 'model']
        np.testing.assert_array_equal(again.tokens, result.tokens)
        np.testing.assert_array_equal(again.actions, result.actions)
        # An observation the facade refuses is refused by prepare(): no model.
        with pytest.raises(InvalidObservationError):
            tiny_policy.prepare(image, np.full(3, np.nan, np.float32), 'pick')
        assert calls == ['model', 'model']
    finally:
        del tiny_policy.engine.generate
