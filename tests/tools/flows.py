#!/usr/bin/env python3
"""Many UDP flows with per-flow sequence numbers, for tests/workers.rs.

usage: flows.py send SRC_IP DST_IP DST_PORT BASE_SPORT FLOWS
       flows.py recv BIND_IP PORT FLOWS

Flow i is the 5-tuple (SRC_IP, BASE_SPORT + i, DST_IP, DST_PORT, UDP). Each datagram's
payload is b"FRW1", the flow number and the flow's sequence number (both u32, network
order), padded to 64 octets; sequence numbers count from 0 per flow and go on across
commands.

Both read one command per line on stdin and answer with one line on stdout:
  send:  "one FLOW COUNT PPS"  COUNT datagrams of flow FLOW at PPS datagrams/s
         "all COUNT PPS"       COUNT datagrams of every flow, round robin, PPS in all
         -> "sent N" (datagrams the kernel took)
  recv:  "stats"               -> JSON {"total": N, "bad": N, "flows": [[received,
                                  reordered, duplicates, highest seq or -1], ...]}
A datagram is reordered when its sequence number is below the highest one its flow has
seen (late, not a duplicate); a duplicate when that number has been seen before.
Both exit at the end of stdin.
"""
import json
import os
import select
import socket
import struct
import sys
import time

MAGIC = b"FRW1"
SIZE = 64


def send(src, dst, dport, base, flows):
    socks = []
    for i in range(flows):
        s = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
        s.bind((src, base + i))
        s.connect((dst, dport))
        socks.append(s)
    seq = [0] * flows
    pad = b"\0" * (SIZE - 12)

    def burst(order, pps):
        start = time.monotonic()
        sent = 0
        for n, f in enumerate(order):
            due = start + n / pps
            ahead = due - time.monotonic()
            if ahead > 0.002:
                time.sleep(ahead)
            try:
                socks[f].send(MAGIC + struct.pack("!II", f, seq[f]) + pad)
                sent += 1
            except OSError:
                pass
            # A datagram the kernel refused is not sent: its number is not used.
            else:
                seq[f] += 1
        return sent

    for line in sys.stdin:
        w = line.split()
        if not w:
            continue
        if w[0] == "one":
            f, count, pps = int(w[1]), int(w[2]), float(w[3])
            n = burst([f] * count, pps)
        elif w[0] == "all":
            count, pps = int(w[1]), float(w[2])
            n = burst([f for _ in range(count) for f in range(flows)], pps)
        else:
            print(f"error: unknown command {w[0]!r}", flush=True)
            continue
        print(f"sent {n}", flush=True)


def recv(bind, port, flows):
    s = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
    # Root may pass net.core.rmem_max: room for every datagram of a test.
    s.setsockopt(socket.SOL_SOCKET, 33, 16 << 20)  # SO_RCVBUFFORCE
    s.bind((bind, port))
    s.setblocking(False)
    received = [0] * flows
    reordered = [0] * flows
    dups = [0] * flows
    top = [-1] * flows
    seen = [set() for _ in range(flows)]
    total = 0
    bad = 0
    buf = b""
    while True:
        r, _, _ = select.select([s, 0], [], [])
        if s in r:
            while True:
                try:
                    data = s.recv(2048)
                except BlockingIOError:
                    break
                total += 1
                if len(data) != SIZE or data[:4] != MAGIC:
                    bad += 1
                    continue
                f, q = struct.unpack("!II", data[4:12])
                if f >= flows:
                    bad += 1
                    continue
                if q in seen[f]:
                    dups[f] += 1
                    continue
                seen[f].add(q)
                received[f] += 1
                if q < top[f]:
                    reordered[f] += 1
                else:
                    top[f] = q
        if 0 in r:
            chunk = os.read(0, 4096)
            if not chunk:
                return
            buf += chunk
            while b"\n" in buf:
                line, buf = buf.split(b"\n", 1)
                if line.strip() == b"stats":
                    flows_out = [
                        [received[i], reordered[i], dups[i], top[i]] for i in range(flows)
                    ]
                    print(
                        json.dumps({"total": total, "bad": bad, "flows": flows_out}),
                        flush=True,
                    )


def main():
    a = sys.argv
    if len(a) == 7 and a[1] == "send":
        send(a[2], a[3], int(a[4]), int(a[5]), int(a[6]))
    elif len(a) == 5 and a[1] == "recv":
        recv(a[2], int(a[3]), int(a[4]))
    else:
        sys.exit(__doc__)


if __name__ == "__main__":
    main()
