#!/usr/bin/python3
"""ferroute's IPv4 conformance suite: crafted packets (scapy) through a router between two
network namespaces, h1 (10.0.1.2/24, router 10.0.1.1) and h2 (10.0.2.2/24, router
10.0.2.1), with what comes out on either side reduced to one observation per case.

Every case states what Linux does (the observation a Linux router, ip_forward=1, gives);
a case where ferroute deliberately differs names the RFC behind it and the observation
ferroute must give instead, so it is checked both ways. Cases that name a ferroute drop
reason also check that its counter moved (from the router's /metrics).

  conformance.py linux                       Linux only: builds its own three namespaces
  conformance.py attach H1NS H1IF H2NS H2IF  a router already between two namespaces
                 [--metrics HOST:PORT] [--name ferroute] [--json FILE]
  conformance.py both H1NS H1IF H2NS H2IF [--metrics ..] [--json FILE]
                                             Linux, then the attached router; one report

Options shared: --only SUBSTRING (cases whose name contains it), --list.
The Linux router's namespaces and veths are named fc<pid>-*, and deleted on exit, also
on failure or a signal. Nothing is sent anywhere but those namespaces' interfaces.

The ICMP rate-limit cases (variant "ratelimit": both routers with Linux's default limits)
send bursts and check counts against the buckets' bounds, not exact numbers: Linux's
global bucket takes a random 0-2 credits per message (icmp_global_consume).
"""
import argparse
import atexit
import ctypes
import json
import os
import select
import signal
import socket
import struct
import subprocess
import sys
import time
import urllib.request

from scapy.all import ARP, ICMP, IP, TCP, UDP, Ether, Raw  # noqa: E402

H1, H2, R1, R2 = "10.0.1.2", "10.0.2.2", "10.0.1.1", "10.0.2.1"
ETH_P_ALL = 0x0003
# Extra seconds to wait for an answer that has not come (see Lab.exchange).
LATE = 1.0
PACKET_OUTGOING = 4
CLONE_NEWNET = 0x40000000
LIBC = ctypes.CDLL("libc.so.6", use_errno=True)


def sh(*cmd, check=True):
    r = subprocess.run(cmd, capture_output=True, text=True)
    if check and r.returncode != 0:
        raise RuntimeError(f"{' '.join(cmd)}: {r.stdout}{r.stderr}")
    return r.stdout


def setns(path):
    fd = os.open(path, os.O_RDONLY)
    try:
        if LIBC.setns(fd, CLONE_NEWNET) != 0:
            raise OSError(ctypes.get_errno(), f"setns {path}")
    finally:
        os.close(fd)


def csum(b):
    if len(b) % 2:
        b += b"\0"
    s = sum(struct.unpack(f"!{len(b) // 2}H", b))
    while s >> 16:
        s = (s & 0xFFFF) + (s >> 16)
    return ~s & 0xFFFF


class Port:
    """An AF_PACKET socket on interface IF of namespace NS (opened inside it)."""

    def __init__(self, ns, ifname):
        self.ns, self.ifname = ns, ifname
        home = os.open("/proc/self/ns/net", os.O_RDONLY)
        try:
            setns(f"/var/run/netns/{ns}")
            self.sock = socket.socket(socket.AF_PACKET, socket.SOCK_RAW, socket.htons(ETH_P_ALL))
            self.sock.bind((ifname, 0))
            # Room for the rate-limit cases' bursts of answers (SO_RCVBUFFORCE, as root).
            self.sock.setsockopt(socket.SOL_SOCKET, 33, 8 << 20)
            self.sock.setblocking(False)
        finally:
            LIBC.setns(home, CLONE_NEWNET)
            os.close(home)
        link = json.loads(sh("ip", "-n", ns, "-j", "link", "show", ifname))
        self.mac = link[0]["address"]

    def send(self, frame):
        self.sock.send(bytes(frame))

    def drain(self):
        while True:
            try:
                self.sock.recv(65535)
            except BlockingIOError:
                return

    def recv(self, timeout):
        """Frames received (not sent) by the interface within `timeout` seconds."""
        out, end = [], time.time() + timeout
        while True:
            left = end - time.time()
            if left <= 0:
                return out
            r, _, _ = select.select([self.sock], [], [], left)
            if not r:
                return out
            try:
                data, addr = self.sock.recvfrom(65535)
            except BlockingIOError:
                continue
            if addr[2] != PACKET_OUTGOING:
                out.append(Ether(data))


def ip_bytes(pkt):
    return bytes(pkt[IP]) if IP in pkt else b""


def with_options(ip_pkt, opts):
    """The bytes of scapy packet `ip_pkt` (no options) with raw `opts` after the header."""
    b = bytearray(bytes(ip_pkt))
    assert len(opts) % 4 == 0 and len(opts) <= 40
    b[20:20] = opts
    b[0] = 0x40 | (5 + len(opts) // 4)
    struct.pack_into("!H", b, 2, len(b))
    struct.pack_into("!H", b, 10, 0)
    struct.pack_into("!H", b, 10, csum(bytes(b[: (b[0] & 15) * 4])))
    return bytes(b)


def opts_of(ipb):
    """(ihl, options bytes) of raw IP bytes."""
    ihl = ipb[0] & 15
    return ihl, ipb[20 : ihl * 4]


def parse_opts(opts):
    """Options as a list of (type, bytes of the whole option)."""
    out, i = [], 0
    while i < len(opts):
        t = opts[i]
        if t == 0:
            break
        if t == 1:
            i += 1
            continue
        n = opts[i + 1] if i + 1 < len(opts) else 2
        out.append((t, opts[i : i + max(n, 2)]))
        i += max(n, 2)
    return out


def addrs(b):
    return [socket.inet_ntoa(b[i : i + 4]) for i in range(0, len(b) - 3, 4)]


def rr_desc(o):
    ptr = o[2]
    return f"rr ptr={ptr} {addrs(o[3:ptr - 1])}"


def ts_desc(o):
    ptr, oflw, flag = o[2], o[3] >> 4, o[3] & 15
    body = o[4:ptr - 1]
    if flag == 0:
        entries = ["stamped" if int.from_bytes(body[i:i + 4], "big") else "zero" for i in range(0, len(body), 4)]
    else:
        entries = []
        for i in range(0, len(body) - 7, 8):
            a = socket.inet_ntoa(body[i:i + 4])
            stamped = "stamped" if int.from_bytes(body[i + 4:i + 8], "big") else "zero"
            entries.append(f"{a}/{stamped}")
    return f"ts ptr={ptr} oflw={oflw} flag={flag} {entries}"


def describe_opts(ipb):
    ihl, opts = opts_of(ipb)
    if ihl == 5:
        return "no options"
    parts = []
    for t, o in parse_opts(opts):
        if t == 7:
            parts.append(rr_desc(o))
        elif t == 68:
            parts.append(ts_desc(o))
        else:
            parts.append(f"opt{t} {o.hex()}")
    return "; ".join(parts) or "nop/eol only"


class Lab:
    """The two hosts' sockets, the router's MAC on h1's side, and a counter reader."""

    def __init__(self, name, h1ns, h1if, h2ns, h2if, metrics=None):
        self.name = name
        self.ns = (h1ns, h2ns)
        self.h1 = Port(h1ns, h1if)
        self.h2 = Port(h2ns, h2if)
        self.metrics = metrics
        self.ident = 0x4000
        for ns in self.ns:
            sh("ip", "netns", "exec", ns, "sysctl", "-qw", "net.ipv6.conf.all.disable_ipv6=1", check=False)
        # Resolve both ways (router <-> hosts) before the cases.
        sh("ip", "netns", "exec", h1ns, "ping", "-c", "2", "-i", "0.2", "-W", "2", H2)
        sh("ip", "netns", "exec", h2ns, "ping", "-c", "1", "-W", "2", H1)
        neigh = json.loads(sh("ip", "-n", h1ns, "-j", "neigh", "show", R1))
        self.rmac = neigh[0]["lladdr"]
        neigh = json.loads(sh("ip", "-n", h2ns, "-j", "neigh", "show", R2))
        self.rmac2 = neigh[0]["lladdr"]

    def next_id(self):
        self.ident = (self.ident + 1) & 0xFFFF
        return self.ident

    def drops(self):
        if not self.metrics:
            return None
        body = urllib.request.urlopen(f"http://{self.metrics}/metrics", timeout=5).read().decode()
        out = {}
        for line in body.splitlines():
            if line.startswith("ferroute_drops_total{"):
                k, v = line.rsplit(" ", 1)
                r = k.split('reason="', 1)[1].split('"', 1)[0]
                out[r] = out.get(r, 0) + float(v)
        return out

    def counter(self, name):
        """A ferroute counter from /metrics (summed over labels), None without metrics."""
        if not self.metrics:
            return None
        body = urllib.request.urlopen(f"http://{self.metrics}/metrics", timeout=5).read().decode()
        return sum(float(line.rsplit(" ", 1)[1]) for line in body.splitlines()
                   if line.startswith(name + " ") or line.startswith(name + "{"))

    def eth1(self, dst=None):
        return Ether(dst=dst or self.rmac, src=self.h1.mac, type=0x0800)

    def send1(self, ipb, dst=None):
        """Sends raw IP bytes (or a scapy IP packet) from h1 to the router."""
        self.h1.send(bytes(self.eth1(dst)) + bytes(ipb))

    def exchange(self, ipb, wait=0.6, dst=None, raw_frame=None):
        """Sends from h1; returns (frames at h1, frames at h2) that arrived meanwhile.
        When nothing came from the router or with the datagram's IP id, waits up to
        LATE seconds more: on a loaded machine a router process may be descheduled for
        a while, and "nothing" must mean nothing, not "not yet"."""
        self.h1.drain()
        self.h2.drain()
        if raw_frame is not None:
            self.h1.send(raw_frame)
            ident = None
        else:
            self.send1(ipb, dst)
            ident = struct.unpack("!H", bytes(ipb)[4:6])[0] if len(bytes(ipb)) >= 6 else None
        time.sleep(wait)
        f1, f2 = self.h1.recv(0.05), self.h2.recv(0.05)

        def seen():
            return any(IP in f and f[IP].src in (R1, R2) for f in f1) or any(
                IP in f and f[IP].id == ident for f in f2)
        end = time.time() + LATE
        while not seen() and time.time() < end:
            f1 += self.h1.recv(0.1)
            f2 += self.h2.recv(0.0)
        return f1, f2


# ---------------------------------------------------------------------------------------
# Observations

def icmp_errors(frames, ident):
    """ICMP errors at h1 from the router whose quote has IP id `ident`."""
    out = []
    for f in frames:
        if IP in f and f[IP].proto == 1 and f[IP].src in (R1, R2):
            b = ip_bytes(f)
            ihl = (b[0] & 15) * 4
            icmp = b[ihl:]
            if len(icmp) < 8 + 20 or icmp[0] not in (3, 4, 5, 11, 12):
                continue
            q = icmp[8:]
            if struct.unpack("!H", q[4:6])[0] == ident:
                out.append((f, icmp, q))
    return out


def error_desc(icmp, q, sent):
    t, c = icmp[0], icmp[1]
    s = f"icmp {t}/{c}"
    if t == 12:
        s += f" ptr={icmp[4]}"
    if t == 3 and c == 4:
        s += f" mtu={struct.unpack('!H', icmp[6:8])[0]}"
    s += f" quote={len(q)}"
    # The quote is the datagram as received, from its first octet (TTL as it came).
    n = min(len(q), len(sent))
    s += " exact" if q[:n] == sent[:n] else " differs"
    return s


def at_h2(frames, ident):
    return [f for f in frames if IP in f and f[IP].id == ident and f[IP].dst != H1]


def outcome(lab, ipb, ident, wait=0.6, dst=None, show=None):
    """What became of a datagram sent from h1: forwarded to h2, answered with an ICMP
    error, or nothing."""
    f1, f2 = lab.exchange(ipb, wait, dst)
    parts = []
    fwd = at_h2(f2, ident)
    if fwd:
        b = ip_bytes(fwd[0])
        d = f"fwd ttl={b[8]}"
        if show:
            d += " " + show(b)
        if len(fwd) > 1:
            d += f" x{len(fwd)}"
        parts.append(d)
    for _, icmp, q in icmp_errors(f1, ident):
        parts.append(error_desc(icmp, q, bytes(ipb)))
    return "; ".join(parts) or "nothing"


def udp_to(dst, ident, ttl=64, payload=b"conformance!", src=H1, **kw):
    return IP(src=src, dst=dst, id=ident, ttl=ttl, **kw) / UDP(sport=40000, dport=33434) / Raw(payload)


def patch(ipb, off, value, fix=True):
    b = bytearray(bytes(ipb))
    b[off] = value
    if fix:
        ihl = (b[0] & 15) * 4 if 5 <= (b[0] & 15) and (b[0] >> 4) == 4 else 20
        struct.pack_into("!H", b, 10, 0)
        struct.pack_into("!H", b, 10, csum(bytes(b[:ihl])))
    return bytes(b)


def set16(ipb, off, value, fix=True):
    b = bytearray(bytes(ipb))
    struct.pack_into("!H", b, off, value)
    if fix:
        struct.pack_into("!H", b, 10, 0)
        struct.pack_into("!H", b, 10, csum(bytes(b[:(b[0] & 15) * 4])))
    return bytes(b)


# ---------------------------------------------------------------------------------------
# Cases: name -> (section, function(lab) -> observation, Linux's observation,
# ferroute's deviation or None, drop reason or None)

CASES = []


def case(section, linux, reason=None, deviation=None, variant="default"):
    """`deviation`: (observation, "RFC ... why") when ferroute deliberately differs.
    `variant`: the router settings the case needs (see VARIANTS)."""
    def reg(fn):
        CASES.append(dict(name=fn.__name__.replace("_", "-"), section=section, fn=fn,
                          linux=linux, reason=reason, deviation=deviation, variant=variant))
        return fn
    return reg


def plain(lab, mutate, dst=H2, **kw):
    i = lab.next_id()
    return outcome(lab, mutate(bytes(udp_to(dst, i, **kw))), i)


# --- validation (RFC 1812 §5.2.2, Linux ip_rcv_core) -----------------------------------

@case("validation", "nothing", "ip4_bad_version")
def bad_version(lab):
    return plain(lab, lambda b: patch(b, 0, 0x65))


@case("validation", "nothing", "ip4_bad_ihl")
def ihl_below_5(lab):
    return plain(lab, lambda b: patch(b, 0, 0x44, fix=False))


@case("validation", "nothing", "ip4_bad_ihl")
def ihl_beyond_frame(lab):
    return plain(lab, lambda b: patch(b, 0, 0x4F, fix=False)[:40])


@case("validation", "nothing", "ip4_bad_checksum")
def bad_checksum(lab):
    return plain(lab, lambda b: patch(b, 10, b[10] ^ 0x5A, fix=False))


@case("validation", "nothing", "ip4_truncated")
def total_length_beyond_frame(lab):
    return plain(lab, lambda b: set16(b, 2, 1000))


@case("validation", "nothing", "ip4_bad_total_length")
def total_length_below_header(lab):
    return plain(lab, lambda b: set16(b, 2, 19))


@case("validation", "nothing", "ip4_hdr_truncated")
def header_truncated(lab):
    return plain(lab, lambda b: b[:12])


@case("validation", "fwd ttl=63 len=40")
def padding_trimmed(lab):
    i = lab.next_id()
    b = bytes(udp_to(H2, i)) + b"\xee" * 20  # trailing octets past the total length
    f1, f2 = lab.exchange(b)
    fwd = at_h2(f2, i)
    return f"fwd ttl={ip_bytes(fwd[0])[8]} len={len(ip_bytes(fwd[0]))}" if fwd else "nothing"


@case("validation", "nothing", "eth_unhandled_ethertype")
def unknown_ethertype(lab):
    i = lab.next_id()
    frame = bytes(Ether(dst=lab.rmac, src=lab.h1.mac, type=0x88B5)) + bytes(udp_to(H2, i))
    f1, f2 = lab.exchange(None, raw_frame=frame)
    return "fwd" if at_h2(f2, i) else "nothing"


@case("validation", "nothing", "eth_other_host")
def other_host_mac(lab):
    i = lab.next_id()
    return outcome(lab, udp_to(H2, i), i, dst="02:aa:bb:cc:dd:ee")


@case("validation", "nothing", "ip4_not_host")
def unicast_ip_in_l2_broadcast(lab):
    i = lab.next_id()
    return outcome(lab, udp_to(H2, i), i, dst="ff:ff:ff:ff:ff:ff")


# --- martians and source/destination checks (ip_route_input_slow, fib_validate_source) --

@case("martians", "fwd ttl=63", "ip4_martian_source",
      deviation=("nothing", "RFC 1812 §5.3.7: a source on network 0 is not forwarded "
                 "(Linux 5.3+ forwards 0/8 sources but 0.0.0.0)"))
def source_zeronet(lab):
    return plain(lab, lambda b: b, src="0.1.2.3")


@case("martians", "nothing", "ip4_martian_source")
def source_loopback(lab):
    return plain(lab, lambda b: b, src="127.0.0.1")


@case("martians", "nothing", "ip4_martian_source")
def source_multicast(lab):
    return plain(lab, lambda b: b, src="224.0.0.5")


@case("martians", "nothing", "ip4_broadcast_source")
def source_limited_broadcast(lab):
    return plain(lab, lambda b: b, src="255.255.255.255")


@case("martians", "nothing", "ip4_martian_destination")
def destination_loopback(lab):
    return plain(lab, lambda b: b, dst="127.0.0.1")


@case("martians", "icmp 3/0 quote=40 exact", "ip4_martian_destination",
      deviation=("nothing", "RFC 1812 §5.3.7 and RFC 1122 §3.2.1.3: 0/8 is no destination; "
                 "dropped as a martian (Linux only lacks a route to it)"))
def destination_zeronet(lab):
    return plain(lab, lambda b: b, dst="0.0.0.9")


@case("martians", "nothing", "ip4_multicast")
def destination_multicast(lab):
    return plain(lab, lambda b: b, dst="239.1.2.3")


@case("martians", "nothing", "ip4_broadcast")
def destination_limited_broadcast(lab):
    return plain(lab, lambda b: b, dst="255.255.255.255")


@case("source checks", "nothing", "ip4_local_source")
def source_is_our_address(lab):
    return plain(lab, lambda b: b, src=R1)


@case("source checks", "nothing", "ip4_local_source")
def source_is_our_other_address(lab):
    return plain(lab, lambda b: b, src=R2)


@case("source checks", "fwd ttl=63", "ip4_broadcast_source",
      deviation=("nothing", "RFC 1812 §5.3.7 and §4.2.2.11: a directed broadcast is no "
                 "valid source; Linux with rp_filter 0 takes fib_validate_source's fast "
                 "path, which only looks for its own addresses"))
def source_is_arrival_subnet_broadcast(lab):
    return plain(lab, lambda b: b, src="10.0.1.255")


@case("source checks", "fwd ttl=63", "ip4_broadcast_source",
      deviation=("nothing", "RFC 1812 §5.3.7 and §4.2.2.11, as above"))
def source_is_other_subnet_broadcast(lab):
    return plain(lab, lambda b: b, src="10.0.2.255")


@case("source checks", "fwd ttl=63")
def source_without_route_back_rp_filter_off(lab):
    return plain(lab, lambda b: b, src="10.7.7.7")


@case("source checks", "nothing", "ip4_directed_broadcast")
def directed_broadcast_not_forwarded(lab):
    i = lab.next_id()
    f1, f2 = lab.exchange(udp_to("10.0.2.255", i))
    return "fwd" if [f for f in f2 if IP in f and f[IP].id == i] else "nothing"


@case("routing", "icmp 3/0 quote=40 exact", "ip4_no_route")
def no_route_net_unreachable(lab):
    i = lab.next_id()
    return outcome(lab, udp_to("192.0.2.9", i), i)


# --- TTL and ICMP errors (RFC 1812 §5.3.1, §4.3.2.3, §4.3.2.7) -------------------------

@case("ttl", "fwd ttl=1")
def ttl_2_forwarded(lab):
    i = lab.next_id()
    return outcome(lab, udp_to(H2, i, ttl=2), i)


@case("ttl", "icmp 11/0 quote=40 exact", "ip4_ttl_exceeded")
def ttl_1_time_exceeded(lab):
    i = lab.next_id()
    return outcome(lab, udp_to(H2, i, ttl=1), i)


@case("ttl", "icmp 11/0 quote=40 exact", "ip4_ttl_exceeded")
def ttl_0_time_exceeded(lab):
    i = lab.next_id()
    return outcome(lab, udp_to(H2, i, ttl=0), i)


@case("ttl", "src=10.0.1.1 tos=0xc0 ttl=64 df=0")
def time_exceeded_header(lab):
    i = lab.next_id()
    f1, _ = lab.exchange(udp_to(H2, i, ttl=1))
    e = icmp_errors(f1, i)
    if not e:
        return "nothing"
    b = ip_bytes(e[0][0])
    return f"src={e[0][0][IP].src} tos={b[1]:#04x} ttl={b[8]} df={int(bool(b[6] & 0x40))}"


@case("ttl", "icmp 11/0 quote=548 exact", "ip4_ttl_exceeded")
def time_exceeded_quote_is_576_octets_at_most(lab):
    i = lab.next_id()
    return outcome(lab, udp_to(H2, i, ttl=1, payload=b"q" * 1000), i)


@case("ttl", "nothing", "ip4_ttl_exceeded")
def no_error_about_an_icmp_error(lab):
    i = lab.next_id()
    inner = bytes(IP(src=H2, dst=H1, id=7) / UDP(sport=1, dport=2))
    p = IP(src=H1, dst=H2, id=i, ttl=1) / ICMP(type=3, code=3) / Raw(inner)
    return outcome(lab, p, i)


@case("ttl", "icmp 11/0 quote=36 exact", "ip4_ttl_exceeded")
def error_about_an_echo_request(lab):
    i = lab.next_id()
    p = IP(src=H1, dst=H2, id=i, ttl=1) / ICMP(type=8, id=i, seq=1) / Raw(b"pingping")
    return outcome(lab, p, i)


@case("ttl", "nothing", "ip4_ttl_exceeded")
def no_error_about_a_non_first_fragment(lab):
    i = lab.next_id()
    return outcome(lab, udp_to(H2, i, ttl=1, frag=100), i)


@case("ttl", "icmp 11/0 quote=40 exact", "ip4_ttl_exceeded")
def error_about_a_first_fragment(lab):
    i = lab.next_id()
    return outcome(lab, udp_to(H2, i, ttl=1, flags="MF"), i)


# --- fragmentation (RFC 791, RFC 1191; egress MTU 1280 towards h2) ----------------------

def frag_sizes(frames):
    return [(len(ip_bytes(f)), f[IP].frag * 8, int(f[IP].flags.MF)) for f in frames]


@case("fragmentation", "icmp 3/4 mtu=1280 quote=548 exact", "ip4_frag_needed")
def df_over_mtu_frag_needed(lab):
    i = lab.next_id()
    return outcome(lab, udp_to(H2, i, payload=b"d" * 1372, flags="DF"), i)


@case("fragmentation", "[(1276, 0, 1), (144, 1256, 0)]")
def fragmented_at_egress_mtu(lab):
    i = lab.next_id()
    _, f2 = lab.exchange(udp_to(H2, i, payload=b"f" * 1372))
    return str(frag_sizes(at_h2(f2, i)))


@case("fragmentation", "[(1280, 0, 1, 'opt148'), (144, 1256, 0, 'opt148')]")
def fragments_copy_only_copied_options(lab):
    # Router alert (type 148, copy flag set) goes into every fragment; then NOP padding.
    i = lab.next_id()
    b = with_options(udp_to(H2, i, payload=b"f" * 1368), bytes([148, 4, 0, 0]))
    _, f2 = lab.exchange(b)
    out = []
    for f in at_h2(f2, i):
        ib = ip_bytes(f)
        kinds = "+".join(f"opt{t}" for t, _ in parse_opts(opts_of(ib)[1]))
        out.append((len(ib), f[IP].frag * 8, int(f[IP].flags.MF), kinds or "none"))
    return str(out)


@case("fragmentation", "[(1276, 0, 1, 'opt7'), (152, 1248, 0, 'none')]",
      deviation=("[(1276, 0, 1, 'opt7'), (144, 1248, 0, 'none')]",
                 "RFC 791 §3.2 (fragmentation): options without the copy flag are left "
                 "out of later fragments' headers; Linux overwrites them with NOPs"))
def fragments_leave_record_route_in_the_first(lab):
    i = lab.next_id()
    b = with_options(udp_to(H2, i, payload=b"f" * 1364), bytes([7, 7, 4, 0, 0, 0, 0, 1]))
    _, f2 = lab.exchange(b)
    out = []
    for f in at_h2(f2, i):
        ib = ip_bytes(f)
        kinds = "+".join(f"opt{t}" for t, _ in parse_opts(opts_of(ib)[1]))
        out.append((len(ib), f[IP].frag * 8, int(f[IP].flags.MF), kinds or "none"))
    return str(out)


@case("fragmentation", "fwd ttl=63 mf=1 off=0")
def fragment_forwarded_as_it_is(lab):
    i = lab.next_id()
    _, f2 = lab.exchange(udp_to(H2, i, flags="MF"))
    fwd = at_h2(f2, i)
    return f"fwd ttl={fwd[0][IP].ttl} mf={int(fwd[0][IP].flags.MF)} off={fwd[0][IP].frag}" if fwd else "nothing"


# --- reassembly of fragments addressed to the router ------------------------------------

def echo_frags(ident, data, cuts, dst=R1):
    """An echo request to `dst` cut at octet offsets `cuts` of its IP payload."""
    whole = bytes(ICMP(type=8, id=ident, seq=1) / Raw(data))
    bounds = [0] + list(cuts) + [len(whole)]
    out = []
    for a, z in zip(bounds, bounds[1:]):
        mf = "MF" if z < len(whole) else 0
        out.append(IP(src=H1, dst=dst, id=ident, flags=mf, frag=a // 8, proto=1) / Raw(whole[a:z]))
    return out


def echo_replies(frames, ident):
    """Echo replies at h1 (fragments of a reply are reassembled by length)."""
    tot = 0
    n = 0
    for f in frames:
        if IP in f and f[IP].src in (R1, R2) and f[IP].proto == 1 and f[IP].id == ident or (
            ICMP in f and f[ICMP].type == 0 and f[ICMP].id == ident
        ):
            n += 1
            tot += len(ip_bytes(f)) - (ip_bytes(f)[0] & 15) * 4
    return f"reply {tot}" + (f" in {n}" if n > 1 else "") if n else "nothing"


def send_frags(lab, frags, wait=0.8):
    lab.h1.drain()
    for f in frags:
        lab.send1(f)
    time.sleep(wait)
    return lab.h1.recv(0.05)


@case("reassembly", "reply 1208")
def reassembled_echo(lab):
    i = lab.next_id()
    return echo_replies(send_frags(lab, echo_frags(i, b"r" * 1200, [400, 800])), i)


@case("reassembly", "reply 1208")
def reassembled_out_of_order(lab):
    i = lab.next_id()
    return echo_replies(send_frags(lab, list(reversed(echo_frags(i, b"r" * 1200, [400, 800])))), i)


@case("reassembly", "reply 1208", "ip4_reasm_duplicate")
def reassembled_with_a_duplicate(lab):
    i = lab.next_id()
    f = echo_frags(i, b"r" * 1200, [400, 800])
    return echo_replies(send_frags(lab, [f[0], f[1], f[1], f[2]]), i)


@case("reassembly", "nothing", "ip4_reasm_overlap")
def overlapping_fragments_discard_the_datagram(lab):
    i = lab.next_id()
    f = echo_frags(i, b"r" * 1200, [400, 800])
    # A fragment over [392, 808): overlaps both neighbours with different data.
    whole = bytes(ICMP(type=8, id=i, seq=1) / Raw(b"r" * 1200))
    bad = IP(src=H1, dst=R1, id=i, flags="MF", frag=392 // 8, proto=1) / Raw(b"x" * 416)
    del whole
    return echo_replies(send_frags(lab, [f[0], bad, f[1], f[2]]), i)


@case("reassembly", "nothing", "ip4_oversize")
def fragment_past_65535_is_dropped(lab):
    i = lab.next_id()
    f = echo_frags(i, b"r" * 64, [])
    head = IP(src=H1, dst=R1, id=i, flags="MF", proto=1) / Raw(bytes(f[0][IP].payload)[:64])
    tail = IP(src=H1, dst=R1, id=i, frag=65528 // 8, proto=1) / Raw(b"z" * 16)
    return echo_replies(send_frags(lab, [head, tail]), i)


@case("reassembly", "icmp 11/1 quote=420 exact", "ip4_reasm_timeout")
def reassembly_timeout_time_exceeded(lab):
    # Both routers run with a 1 s reassembly timeout for this suite.
    i = lab.next_id()
    first = echo_frags(i, b"t" * 1200, [400])[0]
    f1 = send_frags(lab, [first], wait=2.5)
    errs = icmp_errors(f1, i)
    return "; ".join(error_desc(e, q, bytes(first)) for _, e, q in errs) or "nothing"


# --- IP options (RFC 791; Linux ip_options_compile, ip_forward_options) ----------------

def opt_outcome(lab, opts, dst=H2, **kw):
    i = lab.next_id()
    b = with_options(udp_to(dst, i, **kw), bytes(opts))
    return outcome(lab, b, i, show=describe_opts)


RR9 = [7, 39, 4] + [0] * 36 + [0]  # room for 9 addresses, then EOL


@case("options", "fwd ttl=63 rr ptr=8 ['10.0.2.1']")
def record_route_forwarded(lab):
    return opt_outcome(lab, RR9)


@case("options", "fwd ttl=63 rr ptr=12 ['10.0.1.9', '10.0.2.1']")
def record_route_appends(lab):
    return opt_outcome(lab, [1, 7, 11, 8, 10, 0, 1, 9, 0, 0, 0, 0])


@case("options", "fwd ttl=63 rr ptr=8 ['10.0.1.9']")
def record_route_full_forwarded_unchanged(lab):
    return opt_outcome(lab, [7, 7, 8, 10, 0, 1, 9, 0])


@case("options", "icmp 12/0 ptr=22 quote=48 exact", "ip4_bad_options")
def record_route_pointer_below_4(lab):
    return opt_outcome(lab, [7, 7, 3, 0, 0, 0, 0, 0])


@case("options", "icmp 12/0 ptr=22 quote=52 exact", "ip4_bad_options")
def record_route_pointer_not_on_a_slot(lab):
    return opt_outcome(lab, [7, 10, 8, 0, 0, 0, 0, 0, 0, 0, 0, 0])


@case("options", "icmp 12/0 ptr=21 quote=48 exact", "ip4_bad_options")
def option_length_past_the_header(lab):
    return opt_outcome(lab, [1, 7, 9, 0, 0, 0, 0, 0])


@case("options", "icmp 12/0 ptr=20 quote=44 exact", "ip4_bad_options")
def option_length_below_2(lab):
    return opt_outcome(lab, [30, 1, 0, 0])


@case("options", "fwd ttl=63 ts ptr=9 oflw=0 flag=0 ['stamped']")
def timestamp_only(lab):
    return opt_outcome(lab, [68, 12, 5, 0] + [0] * 8)


@case("options", "fwd ttl=63 ts ptr=13 oflw=0 flag=1 ['10.0.1.1/stamped']")
def timestamp_and_address(lab):
    return opt_outcome(lab, [68, 12, 5, 1] + [0] * 8)


@case("options", "fwd ttl=63 ts ptr=5 oflw=0 flag=3 []")
def timestamp_prespecified_other(lab):
    return opt_outcome(lab, [68, 12, 5, 3, 10, 9, 9, 9, 0, 0, 0, 0])


@case("options", "fwd ttl=63 ts ptr=13 oflw=0 flag=3 ['10.0.1.1/stamped']")
def timestamp_prespecified_ours(lab):
    return opt_outcome(lab, [68, 12, 5, 3, 10, 0, 1, 1, 0, 0, 0, 0])


@case("options", "fwd ttl=63 ts ptr=9 oflw=3 flag=0 ['zero']")
def timestamp_full_counts_overflow(lab):
    return opt_outcome(lab, [68, 8, 9, 0x20, 0, 0, 0, 0])


@case("options", "icmp 12/0 ptr=23 quote=48 exact", "ip4_bad_options")
def timestamp_overflow_15(lab):
    return opt_outcome(lab, [68, 8, 9, 0xF0, 0, 0, 0, 0])


@case("options", "nothing", "ip4_source_route")
def loose_source_route_dropped(lab):
    return opt_outcome(lab, [131, 7, 4, 10, 0, 2, 2, 0])


@case("options", "nothing", "ip4_source_route")
def strict_source_route_dropped(lab):
    return opt_outcome(lab, [137, 7, 4, 10, 0, 2, 2, 0])


@case("options", "fwd ttl=63 opt148 94040000")
def router_alert_forwarded(lab):
    return opt_outcome(lab, [148, 4, 0, 0])


@case("options", "fwd ttl=63 opt30 1e040102")
def unknown_option_forwarded(lab):
    return opt_outcome(lab, [30, 4, 1, 2])


@case("options", "fwd ttl=63 nop/eol only")
def nop_and_eol_forwarded(lab):
    return opt_outcome(lab, [1, 1, 1, 0])


def echo_with_options(lab, opts, dst=R1):
    i = lab.next_id()
    p = IP(src=H1, dst=dst, id=i) / ICMP(type=8, id=i, seq=1) / Raw(b"options!")
    f1, _ = lab.exchange(with_options(p, bytes(opts)))
    for f in f1:
        if ICMP in f and f[ICMP].type == 0 and f[ICMP].id == i:
            return "reply " + describe_opts(ip_bytes(f))
    return "nothing"


@case("options", "reply rr ptr=12 ['10.0.1.1', '10.0.1.1']")
def echo_reply_records_route(lab):
    return echo_with_options(lab, RR9)


@case("options", "reply ts ptr=13 oflw=0 flag=0 ['stamped', 'stamped']")
def echo_reply_timestamps(lab):
    return echo_with_options(lab, [68, 12, 5, 0] + [0] * 8)


@case("options", "reply no options")
def echo_reply_drops_router_alert(lab):
    return echo_with_options(lab, [148, 4, 0, 0])


# --- local delivery of each protocol ----------------------------------------------------

def local(lab, p, ident):
    f1, _ = lab.exchange(p)
    out = []
    for f in f1:
        if IP not in f or f[IP].src not in (R1, R2):
            continue
        if TCP in f:
            t = f[TCP]
            out.append(f"tcp {t.flags} seq={t.seq} ack={t.ack} win={t.window} "
                       f"df={int(f[IP].flags.DF)} ttl={f[IP].ttl}")
        elif ICMP in f and f[ICMP].type == 0 and f[ICMP].id == ident:
            out.append(f"echo reply {len(ip_bytes(f))}")
        elif ICMP in f and f[ICMP].type == 14:
            out.append("timestamp reply")
    for _, icmp, q in icmp_errors(f1, ident):
        out.append(error_desc(icmp, q, bytes(p)))
    return "; ".join(out) or "nothing"


def tcp_to(dst, ident, flags, seq=1000, ack=0, payload=b""):
    return IP(src=H1, dst=dst, id=ident) / TCP(sport=40000 + ident % 1000, dport=22, flags=flags, seq=seq, ack=ack, window=512) / Raw(payload)


@case("local", "tcp RA seq=0 ack=1001 win=0 df=1 ttl=64", "tcp_no_socket")
def tcp_syn_answered_with_reset(lab):
    i = lab.next_id()
    return local(lab, tcp_to(R1, i, "S"), i)


@case("local", "tcp R seq=5000 ack=0 win=0 df=1 ttl=64", "tcp_no_socket")
def tcp_ack_answered_with_reset(lab):
    i = lab.next_id()
    return local(lab, tcp_to(R1, i, "PA", ack=5000, payload=b"data"), i)


@case("local", "tcp RA seq=0 ack=1004 win=0 df=1 ttl=64", "tcp_no_socket")
def tcp_fin_with_data_acknowledged(lab):
    i = lab.next_id()
    return local(lab, tcp_to(R1, i, "F", payload=b"abc"), i)


@case("local", "nothing", "tcp_no_socket")
def tcp_reset_not_answered(lab):
    i = lab.next_id()
    return local(lab, tcp_to(R1, i, "R"), i)


@case("local", "nothing", "tcp_malformed")
def tcp_bad_checksum_not_answered(lab):
    i = lab.next_id()
    p = tcp_to(R1, i, "S")
    p[TCP].chksum = 0x1234
    return local(lab, p, i)


@case("local", "tcp RA seq=0 ack=1001 win=0 df=1 ttl=64", "tcp_no_socket")
def tcp_syn_to_other_port_address(lab):
    i = lab.next_id()
    return local(lab, tcp_to(R2, i, "S"), i)


@case("local", "icmp 3/3 quote=40 exact", "udp_no_port")
def udp_port_unreachable(lab):
    i = lab.next_id()
    return local(lab, udp_to(R1, i), i)


@case("local", "nothing", "udp_malformed")
def udp_bad_checksum_not_answered(lab):
    i = lab.next_id()
    p = udp_to(R1, i)
    p[UDP].chksum = 0x1234
    return local(lab, p, i)


@case("local", "icmp 3/2 quote=28 exact", "ip4_unknown_protocol")
def unknown_protocol_unreachable(lab):
    i = lab.next_id()
    return local(lab, IP(src=H1, dst=R1, id=i, proto=253) / Raw(b"12345678"), i)


@case("local", "nothing", "igmp_ignored")
def igmp_to_the_router_ignored(lab):
    i = lab.next_id()
    igmp = bytearray([0x11, 0, 0, 0, 0, 0, 0, 0])
    struct.pack_into("!H", igmp, 2, csum(bytes(igmp)))
    return local(lab, IP(src=H1, dst=R1, id=i, proto=2) / Raw(bytes(igmp)), i)


@case("local", "echo reply 36")
def echo_request_answered(lab):
    i = lab.next_id()
    return local(lab, IP(src=H1, dst=R1, id=i) / ICMP(type=8, id=i, seq=1) / Raw(b"pingping"), i)


@case("local", "echo reply 36")
def echo_request_to_other_port_address(lab):
    i = lab.next_id()
    return local(lab, IP(src=H1, dst=R2, id=i) / ICMP(type=8, id=i, seq=1) / Raw(b"pingping"), i)


@case("local", "nothing", "icmp_malformed")
def echo_request_bad_checksum_ignored(lab):
    i = lab.next_id()
    return local(lab, IP(src=H1, dst=R1, id=i) / ICMP(type=8, id=i, seq=1, chksum=0x1234) / Raw(b"pingping"), i)


@case("local", "nothing", "ip4_broadcast")
def echo_request_to_subnet_broadcast_ignored(lab):
    i = lab.next_id()
    return local(lab, IP(src=H1, dst="10.0.1.255", id=i) / ICMP(type=8, id=i, seq=1), i)


@case("local", "timestamp reply", "icmp_unhandled_type",
      deviation=("nothing", "RFC 1812 §4.3.3.8: a router MAY answer timestamp requests; "
                 "ferroute does not (they disclose its clock)"))
def timestamp_request(lab):
    i = lab.next_id()
    return local(lab, IP(src=H1, dst=R1, id=i) / ICMP(type=13, id=i, seq=1) / Raw(b"\0" * 12), i)


# --- ARP (RFC 826, RFC 5227) ------------------------------------------------------------

def arp_exchange(lab, op=1, psrc=H1, pdst=R1, hwdst="ff:ff:ff:ff:ff:ff", hwsrc=None, wait=0.5):
    lab.h1.drain()
    a = Ether(dst=hwdst, src=lab.h1.mac) / ARP(op=op, hwsrc=hwsrc or lab.h1.mac, psrc=psrc, pdst=pdst,
                                               hwdst="00:00:00:00:00:00")
    lab.h1.send(a)
    time.sleep(wait)
    out = []
    for f in lab.h1.recv(0.05):
        if ARP in f and f[ARP].op == 2 and f[ARP].hwsrc == lab.rmac:
            out.append(f"reply {f[ARP].psrc} is-at router to {f[ARP].pdst}")
    return "; ".join(out) or "nothing"


@case("arp", "reply 10.0.1.1 is-at router to 10.0.1.2")
def arp_request_for_the_router(lab):
    return arp_exchange(lab)


@case("arp", "nothing", "arp_other_target")
def arp_request_for_another_address(lab):
    return arp_exchange(lab, pdst="10.0.1.77")


@case("arp", "reply 10.0.1.1 is-at router to 10.0.1.2")
def arp_unicast_probe(lab):
    return arp_exchange(lab, hwdst=lab.rmac)


@case("arp", "reply 10.0.1.1 is-at router to 0.0.0.0")
def arp_probe_from_0_0_0_0(lab):
    return arp_exchange(lab, psrc="0.0.0.0")


@case("arp", "router asks for 10.0.1.77")
def gratuitous_arp_creates_no_entry(lab):
    # A gratuitous ARP for an address the router has no entry for (Linux arp_accept=0),
    # then traffic to that address from h2: the router must ask, not use the MAC.
    arp_exchange(lab, psrc="10.0.1.77", pdst="10.0.1.77", hwsrc="02:77:77:77:77:77")
    lab.h1.drain()
    i = lab.next_id()
    p = Ether(dst=lab.rmac2, src=lab.h2.mac) / IP(src=H2, dst="10.0.1.77", id=i) / UDP(sport=1, dport=9)
    lab.h2.send(p)
    time.sleep(0.5)
    seen = []
    for f in lab.h1.recv(0.05):
        if ARP in f and f[ARP].op == 1 and f[ARP].pdst == "10.0.1.77":
            seen.append("router asks for 10.0.1.77")
        elif IP in f and f[IP].id == i:
            seen.append(f"sent to {f[Ether].dst}")
    return "; ".join(sorted(set(seen))) or "nothing"


# --- policy switches: rp_filter = 1 and bc_forwarding on (variant "policy") ------------

@case("rp_filter", "nothing", "ip4_rp_filter", variant="policy")
def strict_rp_filter_no_route_back(lab):
    return plain(lab, lambda b: b, src="10.7.7.7")


@case("rp_filter", "nothing", "ip4_rp_filter", variant="policy")
def strict_rp_filter_wrong_interface(lab):
    return plain(lab, lambda b: b, src="10.0.2.50")


@case("rp_filter", "fwd ttl=63", variant="policy")
def strict_rp_filter_passes_the_right_interface(lab):
    return plain(lab, lambda b: b)


@case("rp_filter", "nothing", "ip4_local_source", variant="policy")
def strict_rp_filter_own_address_source(lab):
    return plain(lab, lambda b: b, src=R2)


@case("bc_forwarding", "fwd ttl=63 to ff:ff:ff:ff:ff:ff", variant="policy")
def directed_broadcast_forwarded(lab):
    i = lab.next_id()
    _, f2 = lab.exchange(udp_to("10.0.2.255", i))
    fwd = [f for f in f2 if IP in f and f[IP].id == i]
    return f"fwd ttl={fwd[0][IP].ttl} to {fwd[0][Ether].dst}" if fwd else "nothing"


@case("bc_forwarding", "icmp 11/0 quote=40 exact", "ip4_ttl_exceeded", variant="policy",
      deviation=("nothing", "RFC 1812 §4.3.2.7: no ICMP error about a datagram destined "
                 "to a broadcast address; Linux answers a forwarded directed broadcast"))
def directed_broadcast_ttl_1_no_error(lab):
    i = lab.next_id()
    return outcome(lab, udp_to("10.0.2.255", i, ttl=1), i)


# --- ICMP rate limits (variant "ratelimit": Linux's defaults on both routers) ----------
# icmp_ratelimit 1000 ms with XRLIM_BURST_FACTOR 6 per destination host (ferroute:
# icmp.ratelimit_ms = 1000, icmp.burst = 6), icmp_msgs_per_sec 1000 and icmp_msgs_burst
# 50 globally, icmp_ratemask 6168 (unreachable, source quench, time exceeded, parameter
# problem); fragmentation needed and echo replies are never limited. Each case uses
# fresh h1 addresses, so that no case spends another's per-host tokens.

RL_HOST_BURST, RL_GLOBAL_BURST = 6, 50
_rl_next = [100]


class Hosts:
    """`n` extra addresses on h1's interface (10.0.1.100 on, fresh per case), each known
    to the router (a ping from it) before the burst, removed afterwards."""

    def __init__(self, lab, n):
        self.lab, self.addrs = lab, []
        for _ in range(n):
            a = f"10.0.1.{_rl_next[0]}"
            _rl_next[0] += 1
            sh("ip", "-n", lab.h1.ns, "addr", "add", f"{a}/32", "dev", lab.h1.ifname)
            self.addrs.append(a)
        for a in self.addrs:
            sh("ip", "netns", "exec", lab.h1.ns, "ping", "-c", "1", "-W", "2", "-I", a, R1, check=False)

    def __enter__(self):
        return self.addrs

    def __exit__(self, *_):
        for a in self.addrs:
            sh("ip", "-n", self.lab.h1.ns, "addr", "del", f"{a}/32", "dev", self.lab.h1.ifname, check=False)


def burst(lab, make, srcs, per_host):
    """Sends `per_host` datagrams `make(src, ident)` from each of `srcs`, interleaved,
    back to back; returns ({src: [idents]}, frames at h1, seconds the sending took)."""
    sent, frames = {s: [] for s in srcs}, []
    for _ in range(per_host):
        for s in srcs:
            i = lab.next_id()
            sent[s].append(i)
            frames.append(bytes(lab.eth1()) + bytes(make(s, i)))
    lab.h1.drain()
    t0 = time.time()
    for f in frames:
        lab.h1.send(f)
    took = time.time() - t0
    time.sleep(0.8)
    got = lab.h1.recv(0.2)
    end = time.time() + LATE
    while time.time() < end:
        more = lab.h1.recv(0.2)
        if not more:
            break
        got += more
    return sent, got, took


def errors_per_host(frames, sent, icmp_type):
    """How many ICMP errors of `icmp_type` each source got about its own datagrams."""
    owner = {i: s for s, ids in sent.items() for i in ids}
    n = {s: 0 for s in sent}
    for f in frames:
        if IP not in f or f[IP].proto != 1 or f[IP].src not in (R1, R2):
            continue
        b = ip_bytes(f)
        icmp = b[(b[0] & 15) * 4:]
        if len(icmp) < 28 or icmp[0] != icmp_type:
            continue
        i = struct.unpack("!H", icmp[12:14])[0]
        if owner.get(i) == f[IP].dst:
            n[owner[i]] += 1
    return n


def host_cap(took):
    """The most one host may get: its burst, plus one per second the burst lasted (and
    one for a refill that lands inside it)."""
    return RL_HOST_BURST + int(took) + 1


def limited_one_host(lab, make, icmp_type, count=100):
    with Hosts(lab, 1) as (src,):
        before = lab.counter("ferroute_icmp_ratelimited_host_total")
        sent, got, took = burst(lab, make, [src], count)
        n = errors_per_host(got, sent, icmp_type)[src]
        cap = host_cap(took)
        obs = "per-host burst" if RL_HOST_BURST <= n <= cap else f"{n} of {count} (want {RL_HOST_BURST}..{cap})"
        if before is not None:
            # Every datagram not answered is one counted as limited, no more, no less.
            limited = lab.counter("ferroute_icmp_ratelimited_host_total") - before
            if limited != count - n:
                obs += f" (ferroute_icmp_ratelimited_host_total +{limited:g}, want +{count - n})"
        return obs


@case("icmp limits", "per-host burst", variant="ratelimit")
def ratelimit_time_exceeded_one_host(lab):
    return limited_one_host(lab, lambda s, i: udp_to(H2, i, ttl=1, src=s), 11)


@case("icmp limits", "2..3 (host tokens charged twice)", variant="ratelimit",
      deviation=("per-host burst", "Linux's ip_error charges the no-route error to the "
                 "host's inet_peer tokens (ip_rt_error_cost 1 s, burst 5 s) before "
                 "icmp_send charges them again, so about 2; ferroute charges each error "
                 "once, to the same per-host bucket as every other limited type"))
def ratelimit_unreachable_one_host(lab):
    obs = limited_one_host(lab, lambda s, i: udp_to("192.0.2.9", i, src=s), 3)
    n = obs.split(" of ", 1)[0]
    return "2..3 (host tokens charged twice)" if n in ("2", "3") else obs


@case("icmp limits", "per-host burst", variant="ratelimit")
def ratelimit_port_unreachable_one_host(lab):
    return limited_one_host(
        lab, lambda s, i: IP(src=s, dst=R1, id=i) / UDP(sport=40000, dport=33434) / Raw(b"x"), 3)


@case("icmp limits", "each host 1..cap, total within the global bucket", variant="ratelimit")
def ratelimit_several_hosts(lab):
    """16 hosts, 10 time-exceeded each, interleaved: each host gets at least its first
    error (one host's flood starves no other) and at most its bucket; all together at
    least half the global burst (Linux takes up to 2 credits a message) and at most
    16 per-host bursts."""
    hosts, per = 16, 10
    with Hosts(lab, hosts) as srcs:
        sent, got, took = burst(lab, lambda s, i: udp_to(H2, i, ttl=1, src=s), srcs, per)
        n = errors_per_host(got, sent, 11)
        cap = host_cap(took)
        total = sum(n.values())
        lo = min(hosts * RL_HOST_BURST, RL_GLOBAL_BURST) // 2
        bad = [f"{s}: {k}" for s, k in n.items() if not 1 <= k <= min(cap, per)]
        if not bad and lo <= total <= hosts * cap:
            return "each host 1..cap, total within the global bucket"
        return f"total {total} (want {lo}..{hosts * cap}); " + ", ".join(bad or ["hosts ok"])


@case("icmp limits", "all 100 answered", variant="ratelimit")
def frag_needed_not_limited(lab):
    with Hosts(lab, 1) as (src,):
        sent, got, _ = burst(lab, lambda s, i: udp_to(H2, i, payload=b"d" * 1372, flags="DF", src=s),
                             [src], 100)
        n = errors_per_host(got, sent, 3)[src]
        return "all 100 answered" if n == 100 else f"{n} of 100 answered"


@case("icmp limits", "all 100 answered", variant="ratelimit")
def echo_replies_not_limited(lab):
    with Hosts(lab, 1) as (src,):
        sent, got, _ = burst(lab, lambda s, i: IP(src=s, dst=R1, id=i) / ICMP(type=8, id=i, seq=1)
                             / Raw(b"burst"), [src], 100)
        ids = set(sent[src])
        n = len({f[ICMP].id for f in got if ICMP in f and f[IP].src == R1 and f[IP].dst == src
                 and f[ICMP].type == 0 and f[ICMP].id in ids})
        return "all 100 answered" if n == 100 else f"{n} of 100 answered"


# Router settings of each variant: Linux sysctls in the router namespace; the ferroute
# side is configured by the caller ([ip] section, see tests/conformance.rs).
VARIANTS = {
    "default": [],
    "policy": ["net.ipv4.conf.all.rp_filter=1", "net.ipv4.conf.default.rp_filter=1",
               "net.ipv4.conf.all.bc_forwarding=1", "net.ipv4.conf.default.bc_forwarding=1"],
    # Linux's defaults, set explicitly (the router namespace starts with the per-host
    # limit off for the other variants).
    "ratelimit": ["net.ipv4.icmp_ratelimit=1000", "net.ipv4.icmp_msgs_per_sec=1000",
                  "net.ipv4.icmp_msgs_burst=50", "net.ipv4.icmp_ratemask=6168"],
}


# ---------------------------------------------------------------------------------------
# Running

def run_cases(lab, cases, deviation_side):
    """Runs `cases` on `lab`; `deviation_side`: expect ferroute's deviations."""
    results = {}
    for c in cases:
        before = lab.drops()
        try:
            obs = c["fn"](lab)
        except Exception as e:  # noqa: BLE001 - a broken case is a failed case
            obs = f"error: {type(e).__name__}: {e}"
        want = c["linux"]
        if deviation_side and c["deviation"]:
            want = c["deviation"][0]
        ok = obs == want
        note = ""
        if ok and before is not None and c["reason"]:
            after = lab.drops()
            if after.get(c["reason"], 0) <= before.get(c["reason"], 0):
                ok, note = False, f" (counter {c['reason']} did not move)"
        results[c["name"]] = dict(obs=obs + note, want=want, ok=ok)
    return results


class LinuxRouter:
    """Three namespaces: h1 -- r -- h2 over veth pairs, r with ip_forward=1."""

    def __init__(self, variant="default"):
        p = f"fc{os.getpid() % 100000}"
        self.r, self.h1, self.h2 = f"{p}-r", f"{p}-h1", f"{p}-h2"
        self.if1, self.if2 = f"{p}a0", f"{p}b0"
        atexit.register(self.cleanup)
        self.cleanup()
        for ns in (self.r, self.h1, self.h2):
            sh("ip", "netns", "add", ns)
            sh("ip", "-n", ns, "link", "set", "lo", "up")
        sh("ip", "link", "add", self.if1, "netns", self.h1, "type", "veth", "peer", "name", f"{p}a1", "netns", self.r)
        sh("ip", "link", "add", self.if2, "netns", self.h2, "type", "veth", "peer", "name", f"{p}b1", "netns", self.r)
        x = ["ip", "netns", "exec", self.r, "sysctl", "-qw"]
        for kv in ["net.ipv4.ip_forward=1", "net.ipv4.conf.all.rp_filter=0",
                   "net.ipv4.conf.default.rp_filter=0", "net.ipv4.icmp_ratelimit=0",
                   "net.ipv4.conf.all.send_redirects=0", "net.ipv4.conf.default.send_redirects=0",
                   "net.ipv4.ipfrag_time=1", "net.ipv6.conf.all.disable_ipv6=1"]:
            sh(*x, kv)
        for ns, dev, addr, gw in [(self.h1, self.if1, H1, R1), (self.h2, self.if2, H2, R2)]:
            sh("ip", "-n", ns, "addr", "add", f"{addr}/24", "dev", dev)
            sh("ip", "-n", ns, "link", "set", dev, "up")
            sh("ip", "-n", ns, "route", "add", "default", "via", gw)
        for dev, addr in [(f"{p}a1", R1), (f"{p}b1", R2)]:
            sh("ip", "-n", self.r, "addr", "add", f"{addr}/24", "dev", dev)
            sh("ip", "-n", self.r, "link", "set", dev, "up")
            sh(*x, f"net.ipv4.conf.{dev}.rp_filter=0")
            sh(*x, f"net.ipv4.conf.{dev}.send_redirects=0")
        for kv in VARIANTS[variant]:
            sh(*x, kv)
            if ".default." in kv:
                for dev in (f"{p}a1", f"{p}b1"):
                    sh(*x, kv.replace(".default.", f".{dev}."))
        # The same egress MTU towards h2 as the ferroute lab's port1.
        sh("ip", "-n", self.r, "link", "set", f"{p}b1", "mtu", "1280")

    def cleanup(self):
        for ns in (self.r, self.h1, self.h2):
            subprocess.run(["ip", "netns", "del", ns], capture_output=True)


def report(names, columns):
    """One line per case: verdict, name, and each router's observation."""
    lines, failed = [], 0
    for c in CASES:
        if c["name"] not in names:
            continue
        cells, ok = [], True
        for title, res in columns:
            r = res.get(c["name"])
            if r is None:
                continue
            ok &= r["ok"]
            cells.append(f"{title}: {r['obs']}" + ("" if r["ok"] else f"  [want: {r['want']}]"))
        tag = "PASS" if ok else "FAIL"
        if c["deviation"]:
            tag += " (deviation: " + c["deviation"][1] + ")"
        failed += not ok
        lines.append(f"{tag:4} {c['section']:13} {c['name']}\n      " + "\n      ".join(cells))
    return "\n".join(lines), failed


def main():
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("mode", choices=["linux", "attach", "both", "list"])
    ap.add_argument("ns", nargs="*", help="H1NS H1IF H2NS H2IF of the attached router")
    ap.add_argument("--metrics", help="HOST:PORT of the attached router's /metrics")
    ap.add_argument("--name", default="ferroute")
    ap.add_argument("--only", default="")
    ap.add_argument("--variant", default="default", choices=sorted(VARIANTS),
                    help="router settings: the cases of this variant only")
    ap.add_argument("--json")
    a = ap.parse_args()
    cases = [c for c in CASES if a.only in c["name"] and c["variant"] == a.variant]
    if a.mode == "list":
        for c in cases:
            print(f"{c['section']:13} {c['name']}" + ("  (deviation)" if c["deviation"] else ""))
        return 0
    signal.signal(signal.SIGTERM, lambda *_: sys.exit(143))
    columns = []
    if a.mode in ("linux", "both"):
        lr = LinuxRouter(a.variant)
        try:
            lab = Lab("linux", lr.h1, lr.if1, lr.h2, lr.if2)
            columns.append(("linux", run_cases(lab, cases, False)))
        finally:
            lr.cleanup()
    if a.mode in ("attach", "both"):
        if len(a.ns) != 4:
            ap.error("attach needs H1NS H1IF H2NS H2IF")
        lab = Lab(a.name, *a.ns, metrics=a.metrics)
        columns.append((a.name, run_cases(lab, cases, True)))
    text, failed = report({c["name"] for c in cases}, columns)
    print(text)
    total = len(cases)
    per = ", ".join(f"{t} {sum(r['ok'] for r in res.values())}/{total}" for t, res in columns)
    print(f"conformance: {total} cases, {per}, {failed} failed; "
          f"{sum(1 for c in cases if c['deviation'])} marked deviations")
    if a.json:
        with open(a.json, "w") as f:
            json.dump({t: res for t, res in columns}, f, indent=1)
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main())
