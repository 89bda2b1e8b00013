#!/usr/bin/env python3
"""Floods an interface with garbage frames, as fast as the socket takes them.

usage: flood.py IFACE ROUTER_MAC ROUTER_IP SECONDS [MIX] [SEED] [PPS]
MIX (default "mixed"):
  mixed  random bytes behind the IPv4 ethertype; IPv4 headers with random version, IHL,
         total length, flags, TTL and destination (half with a valid checksum); ARP
         frames of random content, broadcast and unicast; runts with random ethertypes
  arp    well-formed ARP requests for ROUTER_IP from thousands of source addresses
         (10.0.0.0/8, random MACs), broadcast and unicast
PPS: the rate to send at (default 0: as fast as the socket takes them).
Frames are built once (a few thousand, from SEED) and sent round-robin. Prints one JSON
line: {"sent": N, "seconds": S, "pps": R, "errors": E}. ENOBUFS (the tap's queue full) is
counted in "errors" and the flood goes on.
"""
import json
import random
import socket
import struct
import sys
import time

FRAMES = 4096


def csum(b: bytes) -> int:
    if len(b) % 2:
        b += b"\0"
    s = sum(struct.unpack(f"!{len(b) // 2}H", b))
    while s >> 16:
        s = (s & 0xFFFF) + (s >> 16)
    return ~s & 0xFFFF


def rand_mac(r: random.Random) -> bytes:
    # Unicast, locally administered.
    return bytes([(r.randrange(256) & 0xFC) | 0x02] + [r.randrange(256) for _ in range(5)])


def arp_body(op, sha, spa, tha, tpa) -> bytes:
    return struct.pack("!HHBBH", 1, 0x0800, 6, 4, op) + sha + spa + tha + tpa


def garbage_ipv4(r: random.Random) -> bytes:
    ver_ihl = (r.choice([4, 4, 4, r.randrange(16)]) << 4) | r.randrange(16)
    total = r.choice([r.randrange(65536), 20 + r.randrange(64)])
    flags = r.choice([0, 0x4000, 0x2000, r.randrange(65536)])
    ttl = r.randrange(256)
    proto = r.choice([1, 6, 17, r.randrange(256)])
    src = bytes(r.randrange(256) for _ in range(4))
    dst = r.choice([
        bytes(r.randrange(256) for _ in range(4)),
        bytes([10, 0, r.randrange(1, 3), r.randrange(256)]),
    ])
    h = struct.pack("!BBHHHBBH4s4s", ver_ihl, 0, total, r.randrange(65536), flags, ttl,
                    proto, 0, src, dst)
    if r.random() < 0.5:
        h = h[:10] + struct.pack("!H", csum(h)) + h[12:]
    return h + bytes(r.randrange(256) for _ in range(r.randrange(0, 64)))


def mixed(r: random.Random, router_mac: bytes, _router_ip: bytes) -> bytes:
    kind = r.randrange(4)
    src_mac = rand_mac(r)
    if kind == 0:
        return router_mac + src_mac + b"\x08\x00" + bytes(
            r.randrange(256) for _ in range(r.randrange(1, 100)))
    if kind == 1:
        return router_mac + src_mac + b"\x08\x00" + garbage_ipv4(r)
    if kind == 2:
        dst = r.choice([b"\xff" * 6, router_mac])
        return dst + src_mac + b"\x08\x06" + bytes(
            r.randrange(256) for _ in range(r.randrange(0, 60)))
    ethertype = struct.pack("!H", r.randrange(65536))
    return router_mac + src_mac + ethertype + bytes(r.randrange(256) for _ in range(r.randrange(4)))


def arp(r: random.Random, router_mac: bytes, router_ip: bytes) -> bytes:
    src_mac = rand_mac(r)
    spa = bytes([10, r.randrange(256), r.randrange(256), r.randrange(1, 255)])
    dst = r.choice([b"\xff" * 6, router_mac])
    return dst + src_mac + b"\x08\x06" + arp_body(1, src_mac, spa, b"\0" * 6, router_ip)


def main():
    if len(sys.argv) < 5:
        sys.exit(__doc__)
    iface, mac, ip, seconds = sys.argv[1:5]
    mix = sys.argv[5] if len(sys.argv) > 5 else "mixed"
    seed = int(sys.argv[6]) if len(sys.argv) > 6 else 1
    pps = float(sys.argv[7]) if len(sys.argv) > 7 else 0.0
    build = {"mixed": mixed, "arp": arp}.get(mix)
    if build is None:
        sys.exit(f"unknown mix {mix!r}")
    r = random.Random(seed)
    router_mac = bytes.fromhex(mac.replace(":", ""))
    router_ip = socket.inet_aton(ip)
    frames = [build(r, router_mac, router_ip) for _ in range(FRAMES)]
    s = socket.socket(socket.AF_PACKET, socket.SOCK_RAW)
    s.bind((iface, 0))
    send = s.send
    sent = errors = 0
    start = time.monotonic()
    end = start + float(seconds)
    batch = 64
    while True:
        for i in range(0, FRAMES, batch):
            for f in frames[i:i + batch]:
                try:
                    send(f)
                    sent += 1
                except OSError:
                    errors += 1
            if pps > 0:
                ahead = start + sent / pps - time.monotonic()
                if ahead > 0:
                    time.sleep(ahead)
        if time.monotonic() >= end:
            break
    took = time.monotonic() - start
    print(json.dumps({"sent": sent, "seconds": round(took, 3), "pps": round(sent / took),
                      "errors": errors}))


if __name__ == "__main__":
    main()
