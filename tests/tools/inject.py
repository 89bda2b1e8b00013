#!/usr/bin/env python3
"""Sends crafted (mostly malformed) Ethernet/IPv4 frames out of an interface.

usage: inject.py IFACE DST_MAC SRC_IP DST_IP KIND COUNT
KIND: bad_checksum | version6 | ihl4 | hdr_truncated | total_len_beyond | ttl0 | ttl1 | good
"""
import socket
import struct
import sys


def csum(b: bytes) -> int:
    if len(b) % 2:
        b += b"\0"
    s = sum(struct.unpack(f"!{len(b) // 2}H", b))
    while s >> 16:
        s = (s & 0xFFFF) + (s >> 16)
    return ~s & 0xFFFF


def ip4(src, dst, ttl=64, payload=b"\x00" * 16, ver_ihl=0x45, total=None, proto=17, fix=True):
    total = 20 + len(payload) if total is None else total
    h = struct.pack("!BBHHHBBH4s4s", ver_ihl, 0, total, 0x4242, 0, ttl, proto, 0,
                    socket.inet_aton(src), socket.inet_aton(dst))
    if fix:
        h = h[:10] + struct.pack("!H", csum(h)) + h[12:]
    return h + payload


def udp(sport=40000, dport=33434, data=b"ferroute-test"):
    return struct.pack("!HHHH", sport, dport, 8 + len(data), 0) + data


def main():
    iface, dst_mac, src, dst, kind, count = sys.argv[1:7]
    s = socket.socket(socket.AF_PACKET, socket.SOCK_RAW)
    s.bind((iface, 0))
    src_mac = s.getsockname()[4]
    eth = bytes.fromhex(dst_mac.replace(":", "")) + src_mac + b"\x08\x00"
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
    else:
        sys.exit(f"unknown kind {kind}")
    for _ in range(int(count)):
        s.send(eth + pkt)


if __name__ == "__main__":
    main()
