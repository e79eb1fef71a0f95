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

"""pi0fast-doctor's readable report: the JSON report (doctor.run) as text."""


def render(report):
    """Return the report as lines of text."""
    lines = [f'pi0fast-doctor: {report["checkpoint"]} on {report["device"]}', '']
    lines += _environment(report['environment'])
    model = report['model']
    lines += ['', f'checkpoint: loaded in {report["load_s"]:.1f} s; {model["parameters_m"]:.0f} M '
              f'parameters, {model["dtype"]}, cameras {model["cameras"]}, chunks of '
              f'{model["horizon"]} x {model["action_dim"]}', '',
              'engine self-check against exact (one synthetic observation, greedy):']
    for check in report['self_check']:
        lines.append(f'  {"PASS" if check["ok"] else "FAIL"}  {check["path"]:<18} '
                     f'{check["reason"]}')
    lines.append(f'  the node would run: {report["engine_path"]}')
    lines += [''] + _latency(report['latency'], report['bound'], report['memory'])
    lines += [''] + _advice(report['advice'], report['settings'])
    lines += ['', 'result: ' + ('all engine modes passed their self-check' if report['ok'] else
                                'an engine mode FAILED its self-check: the node falls back to '
                                'exact (slower); please report it')]
    return '\n'.join(lines)


def _environment(env):
    lines = [f'environment: python {env["python"]}, torch {env["torch"]} '
             f'({env["torch_threads"]} threads, {env["cpu_count"]} CPUs), CUDA '
             f'{env["cuda_version"] or "not built in"}'
             f'{"" if env["cuda_available"] else " (no CUDA device)"}']
    if 'gpu_name' in env:
        lines.append(f'  GPU {env["gpu_name"]}, {env["gpu_memory_gib"]} GiB, compute '
                     f'capability {env["gpu_capability"]}, bf16 '
                     f'{"yes" if env["bf16_supported"] else "NO"}')
    else:
        fast = ', '.join(env['cpu_bf16_instructions']) or 'none (bf16 runs, but slowly)'
        lines.append(f'  CPU bf16 instructions: {fast}')
    fifo = env['sched_fifo']
    lines.append(f'  SCHED_FIFO priority {fifo["priority"]}: '
                 + ('allowed' if fifo['allowed'] else f'NOT allowed: {fifo["error"]}')
                 + (f' (RLIMIT_RTPRIO {fifo["rlimit_rtprio"]})' if 'rlimit_rtprio' in fifo
                    else ''))
    ros = ', '.join(f'{k}={v}' for k, v in env['ros'].items() if v is not None)
    lines.append(f'  ROS 2 settings: {ros or "none set (default middleware and discovery)"}')
    return lines


def _latency(lat, bound, mem):
    def pair(key, fmt='.1f'):
        return f'p50 {lat[key]["p50"]:{fmt}} / p99 {lat[key]["p99"]:{fmt}}'

    return [f'latency over {lat["runs"]} chunks of {lat["tokens"]} tokens (engine path '
            f'{lat["path"]}, no stop at "|"):',
            f'  preprocess {pair("preprocess_ms")} ms; prefill {pair("prefill_ms")} ms',
            f'  decode {pair("decode_ms_per_token", ".2f")} ms/token; chunk '
            f'{pair("chunk_ms")} ms',
            f'  the per-token check for the stop at "|": the host sync alone '
            f'{lat["host_sync_us"]:.1f} us; in a decode {lat["stop_check_us_per_token"]:+.0f} '
            'us/token (difference of medians, noisy)',
            f'  weight-streaming bound: a decode step reads {bound["decode_weights_mb"]:.0f} MB; '
            f'one streaming read takes {bound["stream_ms"]:.2f} ms here '
            f'({bound["gb_per_s"]:.1f} GB/s): decode is {bound["decode_x_bound"]:.2f}x the '
            'bound',
            f'  memory: weights {mem["weights_gib"]:.2f} GiB, peak {mem["peak_gib"]:.2f} GiB '
            f'({mem["peak_kind"]})']


def _advice(advice, settings):
    source = settings['config'] or 'node defaults (no --config)'
    lines = [f'recommendation for {source}: action_rate_hz {settings["action_rate_hz"]:g}, '
             f'control_rate_hz {settings["control_rate_hz"]:g}; a chunk covers '
             f'{advice["chunk_s"]:.3f} s, p99 chunk latency {advice["latency_s"]:.3f} s']
    if not advice['in_time']:
        lines.append('  the chunk does NOT arrive in time:')
    else:
        lines.append(f'  inference_period_s: {advice["inference_period_s"]:g}; blend_steps: '
                     f'{advice["blend_steps"]}; blend_max_steps: {advice["blend_max_steps"]}'
                     + ('' if advice['keeps_up'] else ' (cannot keep a chunk ahead)'))
    lines += [f'  - {note}' for note in advice['notes']]
    lines.append('  (add the node overhead, a few ms, and the camera transport delay)')
    return lines
