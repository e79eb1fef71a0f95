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
A two-host test bed: network namespaces "robot" and "gpu" joined by one veth pair.

    with TwoHosts(tag='t1') as bed:            # needs root and `ip netns`
        bed.limit_rate('20mbit')               # tbf on both ends (netem: bed.try_netem(...))
        bed.try_loss(1.0)                      # 1 % random loss each way (nftables)
        proc = bed.popen('gpu', [sys.executable, '-m', ...], env=bed.env('gpu'))
        bed.link_bytes()                       # {'robot_tx': ..., 'gpu_tx': ...}

Each namespace has only its own loopback and its end of the veth, on the private subnet
10.231.<n>.0/24 (robot .1, gpu .2), so DDS cannot reach anything beyond the test subnet. The
DDS settings are those a user sets on two real hosts: ROS_AUTOMATIC_DISCOVERY_RANGE=SUBNET and
ROS_STATIC_PEERS=<the other host> (see the README, "Robot + GPU host"). The namespaces (and
with them the veth pair and its qdiscs) are deleted on exit, on an exception, and at
interpreter exit. Used by test/test_two_host.py and benchmarks/bench_two_host.py.
"""

import atexit
import json
import os
import pathlib
import subprocess
import sys
import zlib

SIDES = ('robot', 'gpu')


def unavailable_reason():
    """Why the test bed cannot run here ('' when it can): root and `ip netns` are needed."""
    if os.geteuid() != 0:
        return 'the two-host test bed needs root (network namespaces)'
    try:
        subprocess.run(['ip', 'netns', 'list'], check=True, capture_output=True, timeout=10)
    except (OSError, subprocess.SubprocessError) as exc:
        return f'`ip netns` is not available: {exc}'
    return ''


def _ip(*args, ns=None, check=True):
    cmd = (['ip', 'netns', 'exec', ns] if ns else []) + list(args)
    return subprocess.run(cmd, check=check, capture_output=True, text=True, timeout=30)


class TwoHosts:
    """The two namespaces and their link; a context manager that always cleans up."""

    def __init__(self, tag, wire=False):
        self.tag = tag
        subnet = 1 + zlib.crc32(tag.encode()) % 250
        self.ns = {side: f'{side}_{tag}' for side in SIDES}
        self.ifname = {side: f'v{side[0]}{tag}'[:15] for side in SIDES}
        # wire: a third namespace between the hosts, where a delay line forwards the frames
        self.wire_ns = f'wire_{tag}' if wire else ''
        self.wire_if = {side: f'w{side[0]}{tag}'[:15] for side in SIDES}
        self.delay_proc = None
        self.delay_stats_path = None
        self.delay_stats = {}
        self.ip = {'robot': f'10.231.{subnet}.1', 'gpu': f'10.231.{subnet}.2'}
        self.qdisc = 'none'

    def __enter__(self):
        atexit.register(self.close)
        try:
            self._create()
        except BaseException:
            self.close()
            raise
        return self

    def __exit__(self, *exc):
        self.close()

    def _create(self):
        for side in SIDES:
            _ip('ip', 'netns', 'add', self.ns[side])
        if self.wire_ns:
            # robot's veth <-> wire namespace <-> gpu's veth: nothing crosses until
            # start_delay_line() forwards it
            _ip('ip', 'netns', 'add', self.wire_ns)
            for side in SIDES:
                _ip('ip', 'link', 'add', self.ifname[side], 'type', 'veth',
                    'peer', 'name', self.wire_if[side])
                _ip('ip', 'link', 'set', self.wire_if[side], 'netns', self.wire_ns)
                _ip('ip', 'link', 'set', self.wire_if[side], 'promisc', 'on', 'up',
                    ns=self.wire_ns)
        else:
            _ip('ip', 'link', 'add', self.ifname['robot'], 'type', 'veth',
                'peer', 'name', self.ifname['gpu'])
        for side in SIDES:
            ns, dev = self.ns[side], self.ifname[side]
            _ip('ip', 'link', 'set', dev, 'netns', ns)
            _ip('ip', 'addr', 'add', f'{self.ip[side]}/24', 'dev', dev, ns=ns)
            _ip('ip', 'link', 'set', 'lo', 'up', ns=ns)
            _ip('ip', 'link', 'set', dev, 'up', ns=ns)
            # DDS discovery multicast (239.255.0.1) leaves through the veth: without a default
            # route a multicast send has no way out.
            _ip('ip', 'route', 'add', '224.0.0.0/4', 'dev', dev, ns=ns)

    def close(self):
        """Stop the delay line, delete the namespaces (and the veths); safe to call twice."""
        self.stop_delay_line()
        for ns in [*self.ns.values(), self.wire_ns]:
            if ns:
                _ip('ip', 'netns', 'del', ns, check=False)

    def start_delay_line(self, delay_ms, jitter_ms, stats_path):
        """Forward frames across the wire namespace after delay_ms +/- jitter_ms (uniform)."""
        if not self.wire_ns:
            raise ValueError('start_delay_line needs TwoHosts(..., wire=True)')
        self.delay_stats_path = pathlib.Path(stats_path)
        self.delay_proc = subprocess.Popen(
            ['ip', 'netns', 'exec', self.wire_ns, sys.executable,
             str(pathlib.Path(__file__).with_name('delay_line.py')), self.wire_if['robot'],
             self.wire_if['gpu'], '--delay-ms', str(delay_ms), '--jitter-ms', str(jitter_ms),
             '--stats', str(stats_path)])

    def stop_delay_line(self):
        """Stop the delay line; its stats (held_ms: what it achieved) go to delay_stats."""
        proc, self.delay_proc = self.delay_proc, None
        if proc is None:
            return
        proc.terminate()
        try:
            proc.wait(30)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait(10)
        if self.delay_stats_path.is_file():
            self.delay_stats = json.loads(self.delay_stats_path.read_text())

    def other(self, side):
        return SIDES[1 - SIDES.index(side)]

    def env(self, side, base=None):
        """Environment for a process on side: DDS discovery across the link only."""
        env = dict(os.environ if base is None else base)
        env.update(ROS_AUTOMATIC_DISCOVERY_RANGE='SUBNET',
                   ROS_STATIC_PEERS=self.ip[self.other(side)])
        return env

    def popen(self, side, cmd, **kwargs):
        """Start cmd inside side's namespace (subprocess.Popen keyword arguments pass on)."""
        return subprocess.Popen(['ip', 'netns', 'exec', self.ns[side], *map(str, cmd)],
                                **kwargs)

    def limit_rate(self, rate, burst='64kb', latency='50ms'):
        """Rate-limit both directions with a tbf qdisc (e.g. rate='20mbit')."""
        for side in SIDES:
            _ip('tc', 'qdisc', 'replace', 'dev', self.ifname[side], 'root', 'tbf',
                'rate', rate, 'burst', burst, 'latency', latency, ns=self.ns[side])
        self.qdisc = f'tbf rate {rate}'

    def try_netem(self, *params):
        """Add netem (e.g. 'delay', '5ms', '2ms', 'loss', '1%'); False when the kernel lacks it."""
        for side in SIDES:
            done = _ip('tc', 'qdisc', 'replace', 'dev', self.ifname[side], 'root', 'netem',
                       *params, ns=self.ns[side], check=False)
            if done.returncode != 0:
                return False
        self.qdisc = 'netem ' + ' '.join(params)
        return True

    def try_loss(self, percent):
        """
        Lose percent % of the packets crossing the link each way, at random (nftables).

        The loss half of netem for kernels without it. Each end drops packets as they arrive
        from the veth (prerouting), not as they leave: a drop on output would fail the
        sender's sendto() with EPERM, which a lossy wire never does. Returns '' when in
        place, else why not (no nft binary, or no nf_tables in the kernel).
        """
        share = round(percent * 100)          # of 10,000: 0.01 % resolution
        for side in SIDES:
            rules = (f'add table inet loss\n'
                     f'add chain inet loss arrive '
                     f'{{ type filter hook prerouting priority -300; }}\n'
                     f'add rule inet loss arrive iifname "{self.ifname[side]}" '
                     f'numgen random mod 10000 < {share} counter drop\n')
            try:
                done = subprocess.run(['ip', 'netns', 'exec', self.ns[side], 'nft', '-f', '-'],
                                      input=rules, capture_output=True, text=True, timeout=30)
            except OSError as exc:
                return f'nft is not available: {exc}'
            if done.returncode != 0:
                return f'nft refused the loss rule: {done.stderr.strip()}'
        return ''

    def dropped(self):
        """Packets the loss rule dropped on arrival so far, per side ({} without try_loss)."""
        counts = {}
        for side in SIDES:
            done = _ip('nft', 'list', 'chain', 'inet', 'loss', 'arrive', ns=self.ns[side],
                       check=False)
            words = done.stdout.split()
            if done.returncode == 0 and 'packets' in words:
                counts[side] = int(words[words.index('packets') + 1])
        return counts

    def link_bytes(self):
        """Bytes sent by each end of the veth so far (its /sys statistics)."""
        counts = {}
        for side in SIDES:
            path = f'/sys/class/net/{self.ifname[side]}/statistics/tx_bytes'
            counts[f'{side}_tx'] = int(_ip('cat', path, ns=self.ns[side]).stdout)
        return counts
