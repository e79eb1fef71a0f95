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

"""pi0fast-doctor on the committed demo checkpoint (small N), and its recommendation rules."""

import json
import pathlib

from pi0fast_ros.core.model.decode import StaticStep
from pi0fast_ros.tools import doctor
from pi0fast_ros.tools.doctor_advice import advise
import pytest
import torch

REPO = pathlib.Path(__file__).resolve().parents[2]
DEMO = str(REPO / 'demo' / 'so100_synthetic')
SO100 = str(REPO / 'config' / 'so100.yaml')
ARGS = [DEMO, '--config', SO100, '--runs', '2', '--tokens', '8', '--threads', '1']


@pytest.fixture(autouse=True)
def _keep_torch_threads():
    # doctor.main(--threads 1) sets torch's thread count for the process: put it back, or the
    # tests after these run single-threaded (and bilinear resizes round differently).
    threads = torch.get_num_threads()
    yield
    torch.set_num_threads(threads)


def test_json_report_on_the_demo_checkpoint(capsys, monkeypatch):
    monkeypatch.setenv('ROS_DOMAIN_ID', '188')
    assert doctor.main(ARGS + ['--json']) == 0
    out, err = capsys.readouterr()
    report = json.loads(out)
    assert 'loading 100.0%' in err                          # progress while loading
    env = report['environment']
    assert env['torch'] == torch.__version__ and env['ros']['ROS_DOMAIN_ID'] == '188'
    assert isinstance(env['sched_fifo']['allowed'], bool) and env['sched_fifo']['priority'] == 50
    checks = [(c['path'], c['ok']) for c in report['self_check']]
    assert checks == [('compact', True), ('static', True)]
    assert report['engine_path'].startswith('compact: verified against exact at warm-up')
    lat = report['latency']
    assert (lat['runs'], lat['tokens'], lat['path']) == (2, 8, 'compact')
    for key in ('preprocess_ms', 'prefill_ms', 'decode_ms_per_token', 'chunk_ms'):
        assert 0 < lat[key]['p50'] <= lat[key]['p99'], key
    assert lat['host_sync_us'] > 0
    # the demo model: a 30-action horizon; so100.yaml: 30 Hz, blend 5 ticks, replan 0.2 s
    assert report['model']['horizon'] == 30
    settings = report['settings']
    assert (settings['action_rate_hz'], settings['control_rate_hz']) == (30.0, 30.0)
    assert (settings['inference_period_s'], settings['blend_steps']) == (0.2, 5)
    assert report['advice']['chunk_s'] == pytest.approx(1.0)
    assert report['advice']['latency_s'] == pytest.approx(lat['chunk_ms']['p99'] / 1e3)
    bound = report['bound']
    assert bound['stream_ms'] > 0
    assert bound['decode_x_bound'] == pytest.approx(lat['decode_ms_per_token']['p50'] /
                                                    bound['stream_ms'])
    assert report['ok'] is True


class StaleStepBuffer(StaticStep):
    """The step index buffer is never refreshed before the run (a CUDA-graph-style bug)."""

    def __call__(self, token, t):
        self.token.copy_(token)
        return self.replay()


def test_a_failed_self_check_exits_1_and_says_which_mode(capsys, monkeypatch):
    # The fault sits in the engine's static step seam: the default class every new engine uses.
    monkeypatch.setattr('pi0fast_ros.core.model.engine.StaticStep', StaleStepBuffer)
    assert doctor.main(ARGS) == 1
    out = capsys.readouterr().out
    assert 'PASS  compact' in out
    assert 'FAIL  static ' in out and 'tokens differ at step' in out
    assert 'an engine mode FAILED its self-check' in out
    assert 'weight-streaming bound: a decode step reads' in out and 'inference_period_s: ' in out


@pytest.mark.skipif(torch.cuda.is_available(), reason='checks the message without CUDA')
def test_cuda_without_a_device_exits_2_with_the_reason(capsys):
    assert doctor.main([DEMO, '--device', 'cuda']) == 2
    assert 'sees no CUDA device' in capsys.readouterr().err


def test_a_missing_checkpoint_exits_2(capsys, tmp_path):
    assert doctor.main([str(tmp_path / 'nothing')]) == 2
    assert 'pi0fast-doctor:' in capsys.readouterr().err


# the blend settings of config/so100.yaml, back to back, the executor's watchdog
SO100 = {'blend_steps': 5, 'blend_max_steps': 60, 'inference_period_s': 0.0,
         'watchdog_timeout_s': 1.0}


def test_advice_period_and_blend_from_the_timing_model():
    # D = 30 / 30 = 1 s; L = 0.38 s; blend 5 ticks = 0.167 s -> longest period 0.453 s.
    # 1.25 L = 0.475 -> 0.5 > 0.453, so 0.45; overlap (1 - 0.45 - 0.38) s = 5.1 ticks -> 5.
    a = advise(0.38, 30, 30.0, 30.0, **dict(SO100, inference_period_s=0.2))
    assert a.in_time and a.keeps_up
    assert a.inference_period_s == pytest.approx(0.45)
    assert (a.blend_steps, a.blend_max_steps) == (5, 5)
    # A fast device: 1.25 x 0.05 -> 0.1 s; overlap (1 - 0.1 - 0.05) s = 25 ticks.
    a = advise(0.05, 30, 30.0, 30.0, **SO100)
    assert a.inference_period_s == pytest.approx(0.1)
    assert (a.blend_steps, a.blend_max_steps) == (5, 25)


def test_advice_when_the_chunk_cannot_keep_up_or_arrives_too_late():
    # 2 x 0.45 + 0.167 > 1: not even back to back; the overlap is 0.1 s = 3 ticks.
    a = advise(0.45, 30, 30.0, 30.0, **SO100)
    assert a.in_time and not a.keeps_up and a.inference_period_s == 0.0
    assert a.blend_steps == 3 and 'even back to back' in a.notes[0]
    late = advise(1.2, 30, 30.0, 30.0, **SO100)
    assert not late.in_time and late.inference_period_s is None
    assert 'arrives after its last action' in late.notes[0]


def test_advice_flags_a_too_long_configured_period_and_the_watchdog():
    a = advise(0.2, 30, 30.0, 30.0, **dict(SO100, inference_period_s=0.9))
    assert any('inference_period_s 0.9 is too long' in n for n in a.notes)
    # D = 3 s, L = 0.5 s -> period 0.65 s, above a 0.5 s watchdog
    a = advise(0.5, 90, 30.0, 30.0, **dict(SO100, watchdog_timeout_s=0.5))
    assert a.inference_period_s == pytest.approx(0.65)
    assert any('watchdog_timeout_s 0.5' in n for n in a.notes)
