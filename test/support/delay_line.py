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
A delay line: Ethernet frames between two interfaces, each held a random delay (netem's delay).

This kernel has no netem qdisc, so the two-host test bed can put a third namespace, "wire",
between its hosts (netns.TwoHosts(wire=True)) and run this forwarder there:

    python delay_line.py IF_A IF_B --delay-ms 5 --jitter-ms 2 --stats stats.json

Every frame that arrives on one interface is sent out of the other after delay +/- jitter
(uniform), frames may pass each other as with netem's jitter. Raw AF_PACKET sockets, so
multicast discovery and ARP cross as on a wire. At SIGTERM/SIGINT it writes what it did to
--stats: frames each way, and the hold times it achieved (p50/p99/max, ms) next to the ones it
drew: a Python forwarder on a loaded machine wakes late, and the figures say by how much.
"""

import argparse
import heapq
import json
import random
import select
import signal
import socket
import time

ETH_P_ALL = 0x0003
PACKET_OUTGOING = 4        # sll_pkttype of a frame this host sent (seen by AF_PACKET too)


def open_raw(ifname):
    sock = socket.socket(socket.AF_PACKET, socket.SOCK_RAW, socket.htons(ETH_P_ALL))
    sock.bind((ifname, 0))
    sock.setblocking(False)
    return sock


def without_udp_checksum(frame):
    """
    Return frame with an IPv4 UDP checksum of 0 ("none", valid for IPv4: RFC 768).

    A veth hands locally sent UDP over with its checksum not yet computed (checksum offload);
    forwarded as is, the receiving kernel would drop it as corrupt. Other frames pass as
    they are (DDS is UDP; TCP would need its checksum computed).
    """
    if frame[12:14] != b'\x08\x00' or frame[23] != 17:
        return frame
    if int.from_bytes(frame[20:22], 'big') & 0x1fff:    # a later fragment: no UDP header
        return frame
    start = 14 + 4 * (frame[14] & 0x0f) + 6
    return frame[:start] + b'\x00\x00' + frame[start + 2:]


def percentiles(values):
    if not values:
        return {}
    ordered = sorted(values)
    pick = lambda q: ordered[min(len(ordered) - 1, int(q * len(ordered)))]  # noqa: E731
    return {'p50': pick(0.5), 'p99': pick(0.99), 'max': ordered[-1]}


def run(if_a, if_b, delay_s, jitter_s, seed=0):
    """Forward until SIGTERM/SIGINT; return the stats dict."""
    rng = random.Random(seed)
    socks = {if_a: open_raw(if_a), if_b: open_raw(if_b)}
    other = {socks[if_a]: socks[if_b], socks[if_b]: socks[if_a]}
    names = {socks[if_a]: f'{if_a}->{if_b}', socks[if_b]: f'{if_b}->{if_a}'}
    frames = dict.fromkeys(names.values(), 0)
    errors = {}
    held, drawn = [], []
    queue, seq = [], 0
    stop = []
    for sig in (signal.SIGTERM, signal.SIGINT):
        signal.signal(sig, lambda *_: stop.append(True))
    while not stop:
        now = time.monotonic()
        timeout = max(0.0, queue[0][0] - now) if queue else 0.1
        try:
            ready, _, _ = select.select(list(other), [], [], timeout)
        except InterruptedError:
            continue
        for sock in ready:
            while True:
                try:
                    frame, address = sock.recvfrom(65535)
                except BlockingIOError:
                    break
                if address[2] == PACKET_OUTGOING:
                    continue
                hold = max(0.0, delay_s + rng.uniform(-jitter_s, jitter_s))
                arrived = time.monotonic()
                heapq.heappush(queue, (arrived + hold, seq, arrived, hold, sock,
                                       without_udp_checksum(frame)))
                seq += 1
        now = time.monotonic()
        while queue and queue[0][0] <= now:
            _, _, arrived, hold, sock, frame = heapq.heappop(queue)
            try:
                other[sock].send(frame)
            except OSError as exc:
                errors[exc.strerror] = errors.get(exc.strerror, 0) + 1
                continue
            frames[names[sock]] += 1
            held.append(1e3 * (time.monotonic() - arrived))
            drawn.append(1e3 * hold)
    return {'frames': frames, 'send_errors': errors, 'held_ms': percentiles(held),
            'drawn_ms': percentiles(drawn)}


def main(argv=None):
    ap = argparse.ArgumentParser(description=__doc__.split('\n\n')[0])
    ap.add_argument('if_a')
    ap.add_argument('if_b')
    ap.add_argument('--delay-ms', type=float, default=5.0)
    ap.add_argument('--jitter-ms', type=float, default=2.0)
    ap.add_argument('--stats', default='')
    args = ap.parse_args(argv)
    stats = run(args.if_a, args.if_b, args.delay_ms / 1e3, args.jitter_ms / 1e3)
    if args.stats:
        with open(args.stats, 'w') as out:
            json.dump(stats, out)


if __name__ == '__main__':
    main()
