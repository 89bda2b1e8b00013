#!/usr/bin/env python3
"""Sends crafted (mostly malformed) Ethernet/IPv4 frames out of an interface.

usage: inject.py IFACE DST_MAC SRC_IP DST_IP KIND COUNT
KIND: bad_checksum | version6 | ihl4 | hdr_truncated | total_len_beyond | total_len_short
      | ttl0 | ttl1 | good (UDP to port 33434) | proto253 | icmp_bad_checksum
      | icmp_timestamp | fragment (MF set) | big (1600-byte IP packet) | big_df (same, DF)
      | ethertype (0x88b5) | arp_short | arp_other (request for DST_IP from SRC_IP)
Fragments (UDP, each of the COUNT datagrams with its own IP identification; the ranges
of different kinds do not meet, so their datagrams never mix):
      frag_first (offset 0, MF, 1000 octets) | frag_nofirst (offset 1000, MF)
      | frag_overlap ([0,16) then [8,24)) | frag_dup ([0,16) twice)
      | frag_inconsistent (last [16,24) then [24,32) with MF) | frag_oversize (offset 65528,
      16 octets: past 65535) | frag_storm (as frag_first, at most 10000 a second)
"""
import socket
import struct
import sys
import time


def csum(b: bytes) -> int:
    if len(b) % 2:
        b += b"\0"
    s = sum(struct.unpack(f"!{len(b) // 2}H", b))
    while s >> 16:
        s = (s & 0xFFFF) + (s >> 16)
    return ~s & 0xFFFF


def ip4(src, dst, ttl=64, payload=b"\x00" * 16, ver_ihl=0x45, total=None, proto=17, fix=True,
        frag=0, ident=0x4242):
    total = 20 + len(payload) if total is None else total
    h = struct.pack("!BBHHHBBH4s4s", ver_ihl, 0, total, ident, frag, ttl, proto, 0,
                    socket.inet_aton(src), socket.inet_aton(dst))
    if fix:
        h = h[:10] + struct.pack("!H", csum(h)) + h[12:]
    return h + payload


def udp(sport=40000, dport=33434, data=b"ferroute-test"):
    return struct.pack("!HHHH", sport, dport, 8 + len(data), 0) + data


def icmp(msg_type, code=0, rest=b"\x00\x01\x00\x01", data=b"ferroute", fix=True):
    m = struct.pack("!BBH", msg_type, code, 0) + rest + data
    c = csum(m) if fix else csum(m) ^ 0x5555
    return m[:2] + struct.pack("!H", c) + m[4:]


# First IP identification of each fragment kind.
FRAG_IDS = {"frag_first": 0x1000, "frag_nofirst": 0x2000, "frag_overlap": 0x3000,
            "frag_dup": 0x4000, "frag_inconsistent": 0x5000, "frag_oversize": 0x6000,
            "frag_storm": 0x8000}


def fragments(kind, src, dst, i):
    """The fragments of datagram number i of this kind."""
    ident = (FRAG_IDS[kind] + i) & 0xFFFF

    def frag(off, mf, data):
        return ip4(src, dst, payload=data, frag=(0x2000 if mf else 0) | off // 8, ident=ident)

    first = udp(data=b"f" * (1000 - 8))
    return {
        "frag_first": [frag(0, True, first)],
        "frag_storm": [frag(0, True, first)],
        "frag_nofirst": [frag(1000, True, b"n" * 1000)],
        "frag_overlap": [frag(0, True, b"a" * 16), frag(8, True, b"b" * 16)],
        "frag_dup": [frag(0, True, b"d" * 16), frag(0, True, b"d" * 16)],
        "frag_inconsistent": [frag(16, False, b"l" * 8), frag(24, True, b"x" * 8)],
        "frag_oversize": [frag(65528, False, b"p" * 16)],
    }[kind]


def main():
    iface, dst_mac, src, dst, kind, count = sys.argv[1:7]
    s = socket.socket(socket.AF_PACKET, socket.SOCK_RAW)
    s.bind((iface, 0))
    src_mac = s.getsockname()[4]
    ethertype = b"\x08\x00"
    good = ip4(src, dst, payload=udp())
    if kind == "good":
        pkt = good
    elif kind == "bad_checksum":
        pkt = good[:10] + bytes([good[10] ^ 0xFF, good[11]]) + good[12:]
    elif kind == "version6":
        pkt = ip4(src, dst, payload=udp(), ver_ihl=0x65)
    elif kind == "ihl4":
        pkt = ip4(src, dst, payload=udp(), ver_ihl=0x44)
    elif kind == "hdr_truncated":
        pkt = good[:12]
    elif kind == "total_len_beyond":
        pkt = ip4(src, dst, payload=udp(), total=1000)
    elif kind == "ttl0":
        pkt = ip4(src, dst, ttl=0, payload=udp())
    elif kind == "ttl1":
        pkt = ip4(src, dst, ttl=1, payload=udp())
    elif kind == "total_len_short":
        pkt = ip4(src, dst, payload=udp(), total=10)
    elif kind == "proto253":
        pkt = ip4(src, dst, payload=b"\x00" * 16, proto=253)
    elif kind == "icmp_bad_checksum":
        pkt = ip4(src, dst, payload=icmp(8, fix=False), proto=1)
    elif kind == "icmp_timestamp":
        pkt = ip4(src, dst, payload=icmp(13, data=b"\x00" * 12), proto=1)
    elif kind == "fragment":
        pkt = ip4(src, dst, payload=udp(), frag=0x2000)
    elif kind in ("big", "big_df"):
        data = b"x" * (1600 - 20 - 8)
        pkt = ip4(src, dst, payload=udp(data=data), frag=0x4000 if kind == "big_df" else 0)
    elif kind == "ethertype":
        ethertype, pkt = b"\x88\xb5", b"ferroute-test" * 4
    elif kind == "arp_short":
        ethertype, pkt = b"\x08\x06", b"\x00\x01\x08\x00\x06\x04"
    elif kind in FRAG_IDS:
        pkt = None
    elif kind == "arp_other":
        ethertype = b"\x08\x06"
        pkt = (struct.pack("!HHBBH", 1, 0x0800, 6, 4, 1) + src_mac + socket.inet_aton(src)
               + b"\x00" * 6 + socket.inet_aton(dst))
    else:
        sys.exit(f"unknown kind {kind}")
    eth = bytes.fromhex(dst_mac.replace(":", "")) + src_mac + ethertype
    if kind in FRAG_IDS:
        for i in range(int(count)):
            for f in fragments(kind, src, dst, i):
                s.send(eth + f)
            # The storm is paced (at most 10000 datagrams/s): faster, the kernel's tap
            # queue would drop the test's concurrent pings before the router sees them.
            if kind == "frag_storm" and i % 100 == 99:
                time.sleep(0.01)
        return
    for _ in range(int(count)):
        s.send(eth + pkt)


if __name__ == "__main__":
    main()
