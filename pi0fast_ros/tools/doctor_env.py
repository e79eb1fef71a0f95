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

"""pi0fast-doctor's environment report: torch, the device, real-time scheduling, ROS 2 settings."""

import os
import platform
import resource
import threading

import torch

# Environment variables that decide which middleware runs and whom it discovers.
ROS_SETTINGS = ('ROS_DISTRO', 'RMW_IMPLEMENTATION', 'ROS_DOMAIN_ID',
                'ROS_AUTOMATIC_DISCOVERY_RANGE', 'ROS_STATIC_PEERS', 'ROS_LOCALHOST_ONLY',
                'FASTRTPS_DEFAULT_PROFILES_FILE', 'FASTDDS_DEFAULT_PROFILES_FILE',
                'CYCLONEDDS_URI', 'ZENOH_ROUTER_CONFIG_URI')
CPU_BF16_FLAGS = ('amx_bf16', 'avx512_bf16')


def environment(device, fifo_priority=50):
    """Return a dict describing this machine for `device` ('cpu' or 'cuda[:i]')."""
    env = {'python': platform.python_version(), 'torch': torch.__version__,
           'torch_threads': torch.get_num_threads(), 'cpu_count': os.cpu_count(),
           'cuda_available': torch.cuda.is_available(), 'cuda_version': torch.version.cuda}
    if torch.device(device).type == 'cuda' and torch.cuda.is_available():
        env.update(gpu(torch.device(device)))
    else:
        flags = cpu_flags()
        env['cpu_bf16_instructions'] = [f for f in CPU_BF16_FLAGS if f in flags]
        env['bf16_supported'] = True  # always runs on CPU; fast only with the flags above
    env['sched_fifo'] = sched_fifo(fifo_priority)
    env['ros'] = {name: os.environ.get(name) for name in ROS_SETTINGS}
    return env


def gpu(device):
    """Name, memory, compute capability and bf16 support of a CUDA device."""
    props = torch.cuda.get_device_properties(device)
    return {'gpu_name': props.name, 'gpu_memory_gib': round(props.total_memory / 2**30, 2),
            'gpu_capability': f'{props.major}.{props.minor}',
            'bf16_supported': bool(torch.cuda.is_bf16_supported())}


def cpu_flags():
    """Return the CPU feature flags from /proc/cpuinfo (empty where there is none)."""
    try:
        with open('/proc/cpuinfo', encoding='utf-8') as f:
            for line in f:
                if line.startswith('flags'):
                    return set(line.split(':', 1)[1].split())
    except OSError:
        pass
    return set()


def sched_fifo(priority):
    """
    Try SCHED_FIFO `priority` in a throwaway thread -> {'allowed', 'priority', 'error', ...}.

    The nodes' real-time threads (the executor's tick, the policy node's per-chunk work) need
    it; without CAP_SYS_NICE or an rtprio limit they run at normal priority.
    """
    out = {'priority': priority, 'allowed': False, 'error': ''}
    try:
        soft, hard = resource.getrlimit(resource.RLIMIT_RTPRIO)
        out['rlimit_rtprio'] = [_limit(soft), _limit(hard)]
    except (AttributeError, OSError):
        pass

    def probe():
        try:
            os.sched_setscheduler(0, os.SCHED_FIFO, os.sched_param(priority))
            out['allowed'] = True
        except (AttributeError, OSError) as exc:
            out['error'] = f'{exc} (needs CAP_SYS_NICE or an rtprio limit >= {priority})'

    thread = threading.Thread(target=probe, name='doctor-fifo-probe')
    thread.start()
    thread.join()
    return out


def _limit(value):
    return 'unlimited' if value == resource.RLIM_INFINITY else int(value)
