//! The control API's wire format, modelled on rtnetlink (linux/netlink.h,
//! linux/rtnetlink.h, linux/neighbour.h, linux/if_addr.h, linux/if_link.h; RFC 3549).
//!
//! A connection carries a stream of messages in both directions. Each message is a
//! 16-byte header followed by a body; all integers are little-endian (netlink uses host
//! order; we fix one so the format does not depend on the machine):
//!
//! ```text
//!  0      4      6       8      12     16
//!  | len  | type | flags | seq  | pid  | body ...               (len counts the header)
//! ```
//!
//! Bodies are a fixed struct as in rtnetlink (`rtmsg`, `ndmsg`, `ifaddrmsg`, `ifinfomsg`,
//! `tcmsg`) followed by attributes (`rtattr`: `{len u16, type u16, value}` padded to 4
//! bytes), with Linux's numbers for types, flags, attributes and errnos, so that anyone
//! who knows rtnetlink can read a capture. Differences: the byte order; interface index =
//! DPDK port id + 1 (0 means "none" as in Linux); `tcmsg` options for `tbf` are plain
//! attributes (rate in bytes/s, burst in bytes, and latency in microseconds or limit in
//! bytes, as tc's command line has them) rather than Linux's rate tables; and ferroute's own message types from 0x100 up (atomic
//! batches as in nfnetlink, and status/counters/config dump answered with text).
//!
//! Every request gets an answer: NLMSG_ERROR with errno 0 (an ack, only when the request
//! has `NLM_F_ACK`) or the errno and a readable message (always); GET requests answer
//! with the object, DUMP requests with `NLM_F_MULTI` parts ending in NLMSG_DONE.
//!
//! Decoding is strict: a short or inconsistent header, an unknown type or attribute, an
//! attribute of the wrong size, a bad prefix length or host bits set in a prefix are
//! errors (EINVAL, EOPNOTSUPP, EAFNOSUPPORT), and a length field above [`MAX_MSG_LEN`] is
//! EMSGSIZE. Nothing here panics on any input.
use crate::wire::MacAddr;
use std::fmt;
use std::net::Ipv4Addr;

/// Header length (Linux `NLMSG_HDRLEN`).
pub const HDR_LEN: usize = 16;
/// Largest message accepted; a header claiming more is answered with EMSGSIZE.
pub const MAX_MSG_LEN: usize = 1 << 20;

// Message types.
pub const NLMSG_NOOP: u16 = 1;
pub const NLMSG_ERROR: u16 = 2;
pub const NLMSG_DONE: u16 = 3;
pub const RTM_NEWLINK: u16 = 16;
pub const RTM_GETLINK: u16 = 18;
pub const RTM_NEWADDR: u16 = 20;
pub const RTM_DELADDR: u16 = 21;
pub const RTM_GETADDR: u16 = 22;
pub const RTM_NEWROUTE: u16 = 24;
pub const RTM_DELROUTE: u16 = 25;
pub const RTM_GETROUTE: u16 = 26;
pub const RTM_NEWNEIGH: u16 = 28;
pub const RTM_DELNEIGH: u16 = 29;
pub const RTM_GETNEIGH: u16 = 30;
pub const RTM_NEWQDISC: u16 = 36;
pub const RTM_DELQDISC: u16 = 37;
pub const RTM_GETQDISC: u16 = 38;
/// Starts an atomic batch (nfnetlink's NFNL_MSG_BATCH_BEGIN): the messages up to the
/// matching [`FR_BATCH_END`] are applied all or nothing, as one FIB version.
pub const FR_BATCH_BEGIN: u16 = 0x100;
pub const FR_BATCH_END: u16 = 0x101;
/// `ferroute status`, `counters` and `config dump`: answered with one text message.
pub const FR_GETSTATUS: u16 = 0x102;
pub const FR_GETCOUNTERS: u16 = 0x103;
pub const FR_GETCONFIG: u16 = 0x104;
/// The reply to the FR_GET* requests.
pub const FR_TEXT: u16 = 0x105;
/// Subscribes the connection to change notifications (`ferroute monitor`, as binding a
/// netlink socket to multicast groups): the body is a u32 mask of `RTMGRP_*`. Acked;
/// from then on the connection receives RTM_NEW*/RTM_DEL* messages with seq 0 for every
/// change in those groups, whoever made it. A subscriber that does not read loses
/// notifications and gets one NLMSG_ERROR ENOBUFS (seq 0), as a netlink overrun.
pub const FR_MONITOR: u16 = 0x106;
/// Packet capture (`ferroute capture`, see the capture section below): starts a capture
/// with a [`CaptureReq`]; acked, then the connection receives [`FR_CAPTURE_PKT`]s until
/// the client sends [`FR_CAPTURE_STOP`] (or closes), answered by the last packets and
/// one [`FR_CAPTURE_END`]. One capture at a time (EBUSY).
pub const FR_CAPTURE: u16 = 0x110;
pub const FR_CAPTURE_STOP: u16 = 0x111;
pub const FR_CAPTURE_PKT: u16 = 0x112;
pub const FR_CAPTURE_END: u16 = 0x113;

// Header flags (Linux values; DUMP overlaps REPLACE|EXCL, told apart by the type).
/// Notification groups (linux/rtnetlink.h `RTMGRP_*`), for [`FR_MONITOR`].
pub const RTMGRP_LINK: u32 = 0x1;
pub const RTMGRP_NEIGH: u32 = 0x4;
pub const RTMGRP_TC: u32 = 0x8;
pub const RTMGRP_IPV4_IFADDR: u32 = 0x10;
pub const RTMGRP_IPV4_ROUTE: u32 = 0x40;
pub const RTMGRP_ALL: u32 =
    RTMGRP_LINK | RTMGRP_NEIGH | RTMGRP_TC | RTMGRP_IPV4_IFADDR | RTMGRP_IPV4_ROUTE;

pub const NLM_F_REQUEST: u16 = 0x1;
pub const NLM_F_MULTI: u16 = 0x2;
pub const NLM_F_ACK: u16 = 0x4;
pub const NLM_F_DUMP: u16 = 0x300;
pub const NLM_F_REPLACE: u16 = 0x100;
pub const NLM_F_EXCL: u16 = 0x200;
pub const NLM_F_CREATE: u16 = 0x400;
pub const NLM_F_APPEND: u16 = 0x800;

pub const AF_UNSPEC: u8 = 0;
pub const AF_INET: u8 = 2;

// Route types (RTN_*), protocols (RTPROT_*), scopes.
pub const RTN_UNSPEC: u8 = 0;
pub const RTN_UNICAST: u8 = 1;
pub const RTN_LOCAL: u8 = 2;
pub const RTN_BROADCAST: u8 = 3;
pub const RTN_BLACKHOLE: u8 = 6;
pub const RTN_UNREACHABLE: u8 = 7;
pub const RTN_PROHIBIT: u8 = 8;
pub const RTPROT_UNSPEC: u8 = 0;
pub const RTPROT_KERNEL: u8 = 2;
pub const RTPROT_STATIC: u8 = 4;
pub const RT_SCOPE_UNIVERSE: u8 = 0;
pub const RT_SCOPE_LINK: u8 = 253;
pub const RT_SCOPE_HOST: u8 = 254;
pub const RT_TABLE_MAIN: u8 = 254;
pub const RTA_DST: u16 = 1;
pub const RTA_OIF: u16 = 4;
pub const RTA_GATEWAY: u16 = 5;
pub const RTA_PRIORITY: u16 = 6;
pub const RTA_PREFSRC: u16 = 7;
/// A sequence of [`RtNexthop`]s (`struct rtnexthop` + attributes): a multipath route.
pub const RTA_MULTIPATH: u16 = 9;

// Neighbour states (NUD_*) and attributes.
pub const NUD_INCOMPLETE: u16 = 0x01;
pub const NUD_REACHABLE: u16 = 0x02;
pub const NUD_STALE: u16 = 0x04;
pub const NUD_DELAY: u16 = 0x08;
pub const NUD_PROBE: u16 = 0x10;
pub const NUD_FAILED: u16 = 0x20;
pub const NUD_NOARP: u16 = 0x40;
pub const NUD_PERMANENT: u16 = 0x80;
pub const NDA_DST: u16 = 1;
pub const NDA_LLADDR: u16 = 2;
pub const NDA_PROBES: u16 = 4;

// Address attributes.
pub const IFA_ADDRESS: u16 = 1;
pub const IFA_LOCAL: u16 = 2;
pub const IFA_LABEL: u16 = 3;

// Link flags and attributes.
pub const IFF_UP: u32 = 0x1;
pub const IFF_BROADCAST: u32 = 0x2;
pub const IFF_RUNNING: u32 = 0x40;
pub const IFF_LOWER_UP: u32 = 0x1_0000;
pub const IFLA_ADDRESS: u16 = 1;
pub const IFLA_IFNAME: u16 = 3;
pub const IFLA_MTU: u16 = 4;

// Qdisc attributes; TCA_OPTIONS nests the TBF_* ones.
pub const TCA_KIND: u16 = 1;
pub const TCA_OPTIONS: u16 = 2;
pub const TBF_RATE: u16 = 1;
pub const TBF_BURST: u16 = 2;
pub const TBF_LATENCY: u16 = 3;
pub const TBF_LIMIT: u16 = 4;
/// `tcmsg.parent` of a root qdisc.
pub const TC_H_ROOT: u32 = 0xffff_ffff;

/// Text of the FR_* replies.
pub const FRA_TEXT: u16 = 1;
/// The readable message of an error (Linux NLMSGERR_ATTR_MSG, extended ack).
pub const NLMSGERR_ATTR_MSG: u16 = 1;

/// Errnos the API returns (Linux's numbers).
pub mod errno {
    pub const ENOENT: i32 = 2;
    pub const ENOBUFS: i32 = 105;
    pub const ESRCH: i32 = 3;
    pub const EIO: i32 = 5;
    pub const EBUSY: i32 = 16;
    pub const EEXIST: i32 = 17;
    pub const ENODEV: i32 = 19;
    pub const EINVAL: i32 = 22;
    pub const ERANGE: i32 = 34;
    pub const EMSGSIZE: i32 = 90;
    pub const EOPNOTSUPP: i32 = 95;
    pub const EAFNOSUPPORT: i32 = 97;
    pub const EADDRNOTAVAIL: i32 = 99;
    pub const ENETDOWN: i32 = 100;
    pub const ENETUNREACH: i32 = 101;
    pub const ECANCELED: i32 = 125;

    /// The symbolic name (`EEXIST`), or `errno N`.
    pub fn name(e: i32) -> String {
        let n = match e {
            0 => "OK",
            ENOENT => "ENOENT",
            ESRCH => "ESRCH",
            EIO => "EIO",
            EBUSY => "EBUSY",
            EEXIST => "EEXIST",
            ENODEV => "ENODEV",
            EINVAL => "EINVAL",
            ERANGE => "ERANGE",
            EMSGSIZE => "EMSGSIZE",
            EOPNOTSUPP => "EOPNOTSUPP",
            EAFNOSUPPORT => "EAFNOSUPPORT",
            EADDRNOTAVAIL => "EADDRNOTAVAIL",
            ENETDOWN => "ENETDOWN",
            ENETUNREACH => "ENETUNREACH",
            ECANCELED => "ECANCELED",
            ENOBUFS => "ENOBUFS",
            _ => return format!("errno {e}"),
        };
        n.to_string()
    }
}

/// An error answer: errno (positive, as in `errno.h`) and a readable message.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ApiError {
    pub errno: i32,
    pub msg: String,
}

impl ApiError {
    pub fn new(errno: i32, msg: impl Into<String>) -> ApiError {
        ApiError {
            errno,
            msg: msg.into(),
        }
    }
    pub fn inval(msg: impl Into<String>) -> ApiError {
        ApiError::new(errno::EINVAL, msg)
    }
}

impl fmt::Display for ApiError {
    /// `route already exists (EEXIST)`, what the CLI prints after `Error: `.
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{} ({})", self.msg, errno::name(self.errno))
    }
}

impl std::error::Error for ApiError {}

/// The message header (`nlmsghdr`). `len` is filled in by [`Message::encode`].
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct Header {
    pub len: u32,
    pub kind: u16,
    pub flags: u16,
    pub seq: u32,
    pub pid: u32,
}

/// `nlmsghdr` field ranges (the style of `src/wire`): where each header field sits.
mod hdr {
    pub type Field = core::ops::Range<usize>;
    pub const LEN: Field = 0..4;
    pub const KIND: Field = 4..6;
    pub const FLAGS: Field = 6..8;
    pub const SEQ: Field = 8..12;
    pub const PID: Field = 12..16;
}

fn le_u32(b: &[u8], f: hdr::Field) -> Option<u32> {
    Some(u32::from_le_bytes(b.get(f)?.try_into().ok()?))
}

fn le_u16(b: &[u8], f: hdr::Field) -> Option<u16> {
    Some(u16::from_le_bytes(b.get(f)?.try_into().ok()?))
}

impl Header {
    /// The header at the start of `b`, or None if `b` is shorter than [`HDR_LEN`].
    pub fn parse(b: &[u8]) -> Option<Header> {
        Some(Header {
            len: le_u32(b, hdr::LEN)?,
            kind: le_u16(b, hdr::KIND)?,
            flags: le_u16(b, hdr::FLAGS)?,
            seq: le_u32(b, hdr::SEQ)?,
            pid: le_u32(b, hdr::PID)?,
        })
    }

    fn emit(&self, out: &mut Vec<u8>) {
        let mut h = [0u8; HDR_LEN];
        h[hdr::LEN].copy_from_slice(&self.len.to_le_bytes());
        h[hdr::KIND].copy_from_slice(&self.kind.to_le_bytes());
        h[hdr::FLAGS].copy_from_slice(&self.flags.to_le_bytes());
        h[hdr::SEQ].copy_from_slice(&self.seq.to_le_bytes());
        h[hdr::PID].copy_from_slice(&self.pid.to_le_bytes());
        out.extend_from_slice(&h);
    }

    /// True for a GET request with NLM_F_DUMP.
    pub fn is_dump(&self) -> bool {
        self.flags & NLM_F_DUMP == NLM_F_DUMP
    }
}

/// A route (`rtmsg` + RTA_* attributes).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RouteMsg {
    pub dst: Ipv4Addr,
    pub dst_len: u8,
    pub protocol: u8,
    pub scope: u8,
    /// RTN_*; RTN_UNSPEC in a delete matches any type.
    pub rtype: u8,
    pub gateway: Option<Ipv4Addr>,
    pub oif: Option<u32>,
    pub metric: Option<u32>,
    pub prefsrc: Option<Ipv4Addr>,
    /// The next hops of a multipath route (RTA_MULTIPATH); empty for a single path, which
    /// `gateway` and `oif` describe.
    pub multipath: Vec<RtNexthop>,
}

/// One next hop of a multipath route: rtnetlink's `struct rtnexthop { u16 len; u8 flags;
/// u8 hops; i32 ifindex }` followed by its RTA_GATEWAY, with `hops` = weight - 1.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct RtNexthop {
    pub gateway: Option<Ipv4Addr>,
    pub oif: Option<u32>,
    /// 1..=256 (Linux's `weight`); the handlers refuse anything else.
    pub weight: u16,
}

impl RouteMsg {
    /// A unicast route to `dst/len` with nothing else set.
    pub fn new(dst: Ipv4Addr, dst_len: u8) -> RouteMsg {
        RouteMsg {
            dst,
            dst_len,
            protocol: RTPROT_STATIC,
            scope: RT_SCOPE_UNIVERSE,
            rtype: RTN_UNICAST,
            gateway: None,
            oif: None,
            metric: None,
            prefsrc: None,
            multipath: Vec::new(),
        }
    }
}

/// A neighbour (`ndmsg` + NDA_* attributes).
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct NeighMsg {
    pub ifindex: u32,
    /// NUD_*.
    pub state: u16,
    pub dst: Option<Ipv4Addr>,
    pub lladdr: Option<MacAddr>,
    pub probes: Option<u32>,
}

/// An address (`ifaddrmsg` + IFA_LOCAL).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct AddrMsg {
    pub ifindex: u32,
    pub prefix_len: u8,
    pub local: Option<Ipv4Addr>,
    pub label: Option<String>,
}

/// A link (`ifinfomsg` + IFLA_* attributes). In a request, `change` says which bits of
/// `flags` to set (Linux semantics: only IFF_UP is changeable here).
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct LinkMsg {
    pub ifindex: u32,
    pub flags: u32,
    pub change: u32,
    pub name: Option<String>,
    pub mtu: Option<u32>,
    pub mac: Option<MacAddr>,
}

/// Token bucket filter parameters as they travel (TCA_OPTIONS of a `tbf` qdisc). A
/// request gives `latency_us` or `limit` (the other 0), as tc's command line does; a
/// dump answers with the limit in force and the latency it came from, if any.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct TbfSpec {
    /// Bytes per second.
    pub rate: u64,
    /// Bucket depth in bytes.
    pub burst: u32,
    /// Longest a packet may wait in the queue, in microseconds (0: not given); the
    /// limit is derived from it as tc does.
    pub latency_us: u32,
    /// Bytes that may wait for tokens (0: not given).
    pub limit: u32,
}

/// A queueing discipline (`tcmsg` + TCA_KIND, TCA_OPTIONS).
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct QdiscMsg {
    pub ifindex: u32,
    pub handle: u32,
    pub parent: u32,
    pub kind: Option<String>,
    pub tbf: Option<TbfSpec>,
}

/// The typed body of a message; which one a type carries is fixed by the type.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Body {
    /// NLMSG_ERROR: `errno` 0 is an ack. `req` is the header of the request answered.
    Error {
        errno: i32,
        req: Header,
        msg: String,
    },
    /// NLMSG_DONE, NLMSG_NOOP, the batch markers and the FR_GET* requests.
    Empty,
    Route(RouteMsg),
    Neigh(NeighMsg),
    Addr(AddrMsg),
    Link(LinkMsg),
    Qdisc(QdiscMsg),
    Text(String),
    /// FR_MONITOR: the `RTMGRP_*` groups subscribed to.
    Groups(u32),
    /// FR_CAPTURE.
    CaptureReq(CaptureReq),
    /// FR_CAPTURE_PKT.
    CapturePkt(CapturePkt),
    /// FR_CAPTURE_END.
    CaptureEnd(CaptureEnd),
}

/// One message: header fields and the typed body.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Message {
    pub kind: u16,
    pub flags: u16,
    pub seq: u32,
    pub body: Body,
}

/// A decoded message, or the header and error of one that failed to decode.
pub type Item = Result<Message, (Header, ApiError)>;

/// What `decode` found.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Decoded {
    /// A message and the number of bytes it took.
    Msg(Message, usize),
    /// The buffer holds only the start of a message; read more.
    Incomplete,
    /// A message whose header is sound (so the stream can continue after `len` bytes)
    /// but whose type or body is not: answer with the error and go on.
    Bad(Header, ApiError, usize),
    /// The header itself is unusable (length below the header or above the limit): answer
    /// and close the connection, since the next message cannot be found.
    Fatal(Header, ApiError),
}

fn align4(n: usize) -> usize {
    (n + 3) & !3
}

/// Builds attributes.
struct Attrs<'a>(&'a mut Vec<u8>);

impl Attrs<'_> {
    fn put(&mut self, kind: u16, value: &[u8]) {
        let len = 4 + value.len();
        self.0.extend_from_slice(&(len as u16).to_le_bytes());
        self.0.extend_from_slice(&kind.to_le_bytes());
        self.0.extend_from_slice(value);
        self.0.resize(align4(self.0.len()), 0);
    }
    fn u32(&mut self, kind: u16, v: u32) {
        self.put(kind, &v.to_le_bytes());
    }
    fn ip(&mut self, kind: u16, v: Ipv4Addr) {
        self.put(kind, &v.octets());
    }
    fn str(&mut self, kind: u16, s: &str) {
        let mut v = s.as_bytes().to_vec();
        v.push(0);
        self.put(kind, &v);
    }
}

/// Walks attributes, strictly.
fn attrs(mut b: &[u8]) -> Result<Vec<(u16, &[u8])>, ApiError> {
    let mut out = Vec::new();
    while !b.is_empty() {
        if b.len() < 4 {
            return Err(ApiError::inval("truncated attribute header"));
        }
        let len = u16::from_le_bytes([b[0], b[1]]) as usize;
        let kind = u16::from_le_bytes([b[2], b[3]]);
        if len < 4 || len > b.len() {
            return Err(ApiError::inval(format!(
                "attribute {kind}: length {len} does not fit the message"
            )));
        }
        out.push((kind, &b[4..len]));
        b = b.get(align4(len)..).unwrap_or(&[]);
    }
    Ok(out)
}

fn a_u32(kind: u16, v: &[u8]) -> Result<u32, ApiError> {
    <[u8; 4]>::try_from(v)
        .map(u32::from_le_bytes)
        .map_err(|_| ApiError::inval(format!("attribute {kind}: expected 4 bytes")))
}

fn a_u64(kind: u16, v: &[u8]) -> Result<u64, ApiError> {
    <[u8; 8]>::try_from(v)
        .map(u64::from_le_bytes)
        .map_err(|_| ApiError::inval(format!("attribute {kind}: expected 8 bytes")))
}

fn a_ip(kind: u16, v: &[u8]) -> Result<Ipv4Addr, ApiError> {
    <[u8; 4]>::try_from(v)
        .map(Ipv4Addr::from)
        .map_err(|_| ApiError::inval(format!("attribute {kind}: expected an IPv4 address")))
}

fn a_mac(kind: u16, v: &[u8]) -> Result<MacAddr, ApiError> {
    <[u8; 6]>::try_from(v)
        .map(MacAddr)
        .map_err(|_| ApiError::inval(format!("attribute {kind}: expected a 6-byte MAC")))
}

fn a_str(kind: u16, v: &[u8]) -> Result<String, ApiError> {
    let v = v.strip_suffix(&[0]).unwrap_or(v);
    String::from_utf8(v.to_vec())
        .map_err(|_| ApiError::inval(format!("attribute {kind}: not UTF-8")))
}

fn unknown_attr(what: &str, kind: u16) -> ApiError {
    ApiError::inval(format!("unknown {what} attribute {kind}"))
}

fn fixed<const N: usize>(b: &[u8], what: &str) -> Result<[u8; N], ApiError> {
    b.get(..N)
        .and_then(|s| s.try_into().ok())
        .ok_or_else(|| ApiError::inval(format!("truncated {what} ({} of {N} bytes)", b.len())))
}

fn family(f: u8, dump: bool) -> Result<(), ApiError> {
    if f == AF_INET || (dump && f == AF_UNSPEC) {
        Ok(())
    } else {
        Err(ApiError::new(
            errno::EAFNOSUPPORT,
            format!("address family {f} not supported (IPv4 only)"),
        ))
    }
}

fn check_prefix(addr: Ipv4Addr, len: u8) -> Result<(), ApiError> {
    if len > 32 {
        return Err(ApiError::inval(format!("invalid prefix length {len}")));
    }
    let mask = if len == 0 { 0 } else { u32::MAX << (32 - len) };
    if u32::from(addr) & !mask != 0 {
        return Err(ApiError::inval(format!(
            "invalid prefix for given prefix length: {addr}/{len} has host bits set"
        )));
    }
    Ok(())
}

/// `rtmsg` field offsets (linux/rtnetlink.h), one byte each.
mod rtm {
    pub const FAMILY: usize = 0;
    pub const DST_LEN: usize = 1;
    pub const SRC_LEN: usize = 2;
    pub const TABLE: usize = 4;
    pub const PROTOCOL: usize = 5;
    pub const SCOPE: usize = 6;
    pub const TYPE: usize = 7;
    /// Bytes of the fixed part (TOS at 3 is always 0).
    pub const LEN: usize = 8;
}

impl RouteMsg {
    fn emit(&self, out: &mut Vec<u8>) {
        let mut f = [0u8; rtm::LEN];
        f[rtm::FAMILY] = AF_INET;
        f[rtm::DST_LEN] = self.dst_len;
        f[rtm::TABLE] = RT_TABLE_MAIN;
        f[rtm::PROTOCOL] = self.protocol;
        f[rtm::SCOPE] = self.scope;
        f[rtm::TYPE] = self.rtype;
        out.extend_from_slice(&f);
        let mut a = Attrs(out);
        if self.dst_len > 0 || self.dst != Ipv4Addr::UNSPECIFIED {
            a.ip(RTA_DST, self.dst);
        }
        if let Some(g) = self.gateway {
            a.ip(RTA_GATEWAY, g);
        }
        if let Some(o) = self.oif {
            a.u32(RTA_OIF, o);
        }
        if let Some(m) = self.metric {
            a.u32(RTA_PRIORITY, m);
        }
        if let Some(s) = self.prefsrc {
            a.ip(RTA_PREFSRC, s);
        }
        if !self.multipath.is_empty() {
            a.put(RTA_MULTIPATH, &emit_multipath(&self.multipath));
        }
    }

    fn parse(b: &[u8], h: &Header) -> Result<RouteMsg, ApiError> {
        let f: [u8; rtm::LEN] = fixed(b, "rtmsg")?;
        let dump = h.kind == RTM_GETROUTE && h.is_dump();
        family(f[rtm::FAMILY], dump)?;
        if f[rtm::SRC_LEN] != 0 {
            return Err(ApiError::new(
                errno::EOPNOTSUPP,
                "source-specific routes are not supported",
            ));
        }
        let mut r = RouteMsg {
            dst: Ipv4Addr::UNSPECIFIED,
            dst_len: f[rtm::DST_LEN],
            protocol: f[rtm::PROTOCOL],
            scope: f[rtm::SCOPE],
            rtype: f[rtm::TYPE],
            gateway: None,
            oif: None,
            metric: None,
            prefsrc: None,
            multipath: Vec::new(),
        };
        if !matches!(
            r.rtype,
            RTN_UNSPEC
                | RTN_UNICAST
                | RTN_LOCAL
                | RTN_BROADCAST
                | RTN_BLACKHOLE
                | RTN_UNREACHABLE
                | RTN_PROHIBIT
        ) {
            return Err(ApiError::new(
                errno::EOPNOTSUPP,
                format!("route type {} not supported", r.rtype),
            ));
        }
        for (k, v) in attrs(&b[8..])? {
            match k {
                RTA_DST => r.dst = a_ip(k, v)?,
                RTA_GATEWAY => r.gateway = Some(a_ip(k, v)?),
                RTA_OIF => r.oif = Some(a_u32(k, v)?),
                RTA_PRIORITY => r.metric = Some(a_u32(k, v)?),
                RTA_PREFSRC => r.prefsrc = Some(a_ip(k, v)?),
                RTA_MULTIPATH => r.multipath = parse_multipath(v)?,
                _ => return Err(unknown_attr("route", k)),
            }
        }
        check_prefix(r.dst, r.dst_len)?;
        Ok(r)
    }
}

/// `struct rtnexthop` (linux/rtnetlink.h): 8 bytes, then the next hop's attributes.
mod rtnh {
    pub const LEN: usize = 8;
}

/// The value of RTA_MULTIPATH: each next hop as `rtnexthop` + RTA_GATEWAY, 4-aligned
/// (RTNH_ALIGN). The weight goes as `hops` = weight - 1 (a weight outside 1..=256, which
/// the handlers refuse, is sent truncated).
fn emit_multipath(hops: &[RtNexthop]) -> Vec<u8> {
    let mut v = Vec::with_capacity(hops.len() * 16);
    for h in hops {
        let len = rtnh::LEN + if h.gateway.is_some() { 8 } else { 0 };
        v.extend_from_slice(&(len as u16).to_le_bytes());
        v.push(0); // flags
        v.push(h.weight.wrapping_sub(1) as u8);
        v.extend_from_slice(&h.oif.unwrap_or(0).to_le_bytes());
        if let Some(g) = h.gateway {
            Attrs(&mut v).ip(RTA_GATEWAY, g);
        }
    }
    v
}

/// Parses RTA_MULTIPATH strictly: whole `rtnexthop`s, no flags, only RTA_GATEWAY inside.
fn parse_multipath(mut b: &[u8]) -> Result<Vec<RtNexthop>, ApiError> {
    if b.is_empty() {
        return Err(ApiError::inval("RTA_MULTIPATH holds no next hop"));
    }
    let mut out = Vec::new();
    while !b.is_empty() {
        let f: [u8; rtnh::LEN] = fixed(b, "rtnexthop")?;
        let len = usize::from(u16::from_le_bytes([f[0], f[1]]));
        if len < rtnh::LEN || len > b.len() {
            return Err(ApiError::inval(format!(
                "multipath next hop {}: length {len} does not fit RTA_MULTIPATH",
                out.len() + 1
            )));
        }
        if f[2] != 0 {
            return Err(ApiError::new(
                errno::EOPNOTSUPP,
                format!(
                    "multipath next hop {}: flags {:#x} not supported",
                    out.len() + 1,
                    f[2]
                ),
            ));
        }
        let ifindex = u32::from_le_bytes([f[4], f[5], f[6], f[7]]);
        let mut hop = RtNexthop {
            gateway: None,
            oif: (ifindex != 0).then_some(ifindex),
            weight: u16::from(f[3]) + 1,
        };
        for (k, v) in attrs(&b[rtnh::LEN..len])? {
            match k {
                RTA_GATEWAY => hop.gateway = Some(a_ip(k, v)?),
                _ => return Err(unknown_attr("multipath next hop", k)),
            }
        }
        out.push(hop);
        b = b.get(align4(len)..).unwrap_or(&[]);
    }
    Ok(out)
}

impl NeighMsg {
    fn emit(&self, out: &mut Vec<u8>) {
        out.extend_from_slice(&[AF_INET, 0, 0, 0]);
        out.extend_from_slice(&self.ifindex.to_le_bytes());
        out.extend_from_slice(&self.state.to_le_bytes());
        out.extend_from_slice(&[0, 1]); // flags, type (RTN_UNICAST)
        let mut a = Attrs(out);
        if let Some(d) = self.dst {
            a.ip(NDA_DST, d);
        }
        if let Some(m) = self.lladdr {
            a.put(NDA_LLADDR, &m.0);
        }
        if let Some(p) = self.probes {
            a.u32(NDA_PROBES, p);
        }
    }

    fn parse(b: &[u8], h: &Header) -> Result<NeighMsg, ApiError> {
        let f: [u8; 12] = fixed(b, "ndmsg")?;
        family(f[0], h.kind == RTM_GETNEIGH)?;
        let mut n = NeighMsg {
            ifindex: u32::from_le_bytes([f[4], f[5], f[6], f[7]]),
            state: u16::from_le_bytes([f[8], f[9]]),
            ..NeighMsg::default()
        };
        for (k, v) in attrs(&b[12..])? {
            match k {
                NDA_DST => n.dst = Some(a_ip(k, v)?),
                NDA_LLADDR => n.lladdr = Some(a_mac(k, v)?),
                NDA_PROBES => n.probes = Some(a_u32(k, v)?),
                _ => return Err(unknown_attr("neighbour", k)),
            }
        }
        Ok(n)
    }
}

impl AddrMsg {
    fn emit(&self, out: &mut Vec<u8>) {
        out.extend_from_slice(&[AF_INET, self.prefix_len, 0, RT_SCOPE_UNIVERSE]);
        out.extend_from_slice(&self.ifindex.to_le_bytes());
        let mut a = Attrs(out);
        if let Some(l) = self.local {
            a.ip(IFA_LOCAL, l);
            a.ip(IFA_ADDRESS, l);
        }
        if let Some(s) = &self.label {
            a.str(IFA_LABEL, s);
        }
    }

    fn parse(b: &[u8], h: &Header) -> Result<AddrMsg, ApiError> {
        let f: [u8; 8] = fixed(b, "ifaddrmsg")?;
        family(f[0], h.kind == RTM_GETADDR)?;
        let mut m = AddrMsg {
            prefix_len: f[1],
            ifindex: u32::from_le_bytes([f[4], f[5], f[6], f[7]]),
            local: None,
            label: None,
        };
        if m.prefix_len > 32 {
            return Err(ApiError::inval(format!(
                "invalid prefix length {}",
                m.prefix_len
            )));
        }
        for (k, v) in attrs(&b[8..])? {
            match k {
                // IFA_LOCAL is the address on point-to-point links; here both are one.
                IFA_LOCAL | IFA_ADDRESS => m.local = Some(a_ip(k, v)?),
                IFA_LABEL => m.label = Some(a_str(k, v)?),
                _ => return Err(unknown_attr("address", k)),
            }
        }
        Ok(m)
    }
}

impl LinkMsg {
    fn emit(&self, out: &mut Vec<u8>) {
        out.extend_from_slice(&[AF_UNSPEC, 0]);
        out.extend_from_slice(&1u16.to_le_bytes()); // ARPHRD_ETHER
        out.extend_from_slice(&self.ifindex.to_le_bytes());
        out.extend_from_slice(&self.flags.to_le_bytes());
        out.extend_from_slice(&self.change.to_le_bytes());
        let mut a = Attrs(out);
        if let Some(n) = &self.name {
            a.str(IFLA_IFNAME, n);
        }
        if let Some(m) = self.mtu {
            a.u32(IFLA_MTU, m);
        }
        if let Some(m) = self.mac {
            a.put(IFLA_ADDRESS, &m.0);
        }
    }

    fn parse(b: &[u8]) -> Result<LinkMsg, ApiError> {
        let f: [u8; 16] = fixed(b, "ifinfomsg")?;
        let u = |i: usize| u32::from_le_bytes([f[i], f[i + 1], f[i + 2], f[i + 3]]);
        let mut m = LinkMsg {
            ifindex: u(4),
            flags: u(8),
            change: u(12),
            ..LinkMsg::default()
        };
        for (k, v) in attrs(&b[16..])? {
            match k {
                IFLA_IFNAME => m.name = Some(a_str(k, v)?),
                IFLA_MTU => m.mtu = Some(a_u32(k, v)?),
                IFLA_ADDRESS => m.mac = Some(a_mac(k, v)?),
                _ => return Err(unknown_attr("link", k)),
            }
        }
        Ok(m)
    }
}

impl QdiscMsg {
    fn emit(&self, out: &mut Vec<u8>) {
        out.extend_from_slice(&[AF_UNSPEC, 0, 0, 0]);
        out.extend_from_slice(&self.ifindex.to_le_bytes());
        out.extend_from_slice(&self.handle.to_le_bytes());
        out.extend_from_slice(&self.parent.to_le_bytes());
        out.extend_from_slice(&0u32.to_le_bytes());
        let mut a = Attrs(out);
        if let Some(k) = &self.kind {
            a.str(TCA_KIND, k);
        }
        if let Some(t) = self.tbf {
            let mut nested = Vec::new();
            let mut n = Attrs(&mut nested);
            n.put(TBF_RATE, &t.rate.to_le_bytes());
            n.u32(TBF_BURST, t.burst);
            if t.latency_us != 0 {
                n.u32(TBF_LATENCY, t.latency_us);
            }
            if t.limit != 0 {
                n.u32(TBF_LIMIT, t.limit);
            }
            a.put(TCA_OPTIONS, &nested);
        }
    }

    fn parse(b: &[u8]) -> Result<QdiscMsg, ApiError> {
        let f: [u8; 20] = fixed(b, "tcmsg")?;
        let u = |i: usize| u32::from_le_bytes([f[i], f[i + 1], f[i + 2], f[i + 3]]);
        let mut m = QdiscMsg {
            ifindex: u(4),
            handle: u(8),
            parent: u(12),
            ..QdiscMsg::default()
        };
        for (k, v) in attrs(&b[20..])? {
            match k {
                TCA_KIND => m.kind = Some(a_str(k, v)?),
                TCA_OPTIONS => {
                    let (mut rate, mut burst, mut latency, mut limit) = (None, None, 0, 0);
                    for (k, v) in attrs(v)? {
                        match k {
                            TBF_RATE => rate = Some(a_u64(k, v)?),
                            TBF_BURST => burst = Some(a_u32(k, v)?),
                            TBF_LATENCY => latency = a_u32(k, v)?,
                            TBF_LIMIT => limit = a_u32(k, v)?,
                            _ => return Err(unknown_attr("tbf option", k)),
                        }
                    }
                    match (rate, burst) {
                        (Some(rate), Some(burst)) if latency != 0 || limit != 0 => {
                            m.tbf = Some(TbfSpec {
                                rate,
                                burst,
                                latency_us: latency,
                                limit,
                            })
                        }
                        _ => {
                            return Err(ApiError::inval(
                                "tbf options need rate, burst, and latency or limit",
                            ))
                        }
                    }
                }
                _ => return Err(unknown_attr("qdisc", k)),
            }
        }
        Ok(m)
    }
}

impl Message {
    pub fn new(kind: u16, flags: u16, seq: u32, body: Body) -> Message {
        Message {
            kind,
            flags,
            seq,
            body,
        }
    }

    /// An ack (errno 0) or error answering the request with header `req`.
    pub fn error(req: &Header, err: Option<&ApiError>) -> Message {
        Message {
            kind: NLMSG_ERROR,
            flags: 0,
            seq: req.seq,
            body: Body::Error {
                errno: err.map_or(0, |e| e.errno),
                req: *req,
                msg: err.map_or_else(String::new, |e| e.msg.clone()),
            },
        }
    }

    pub fn done(seq: u32) -> Message {
        Message::new(NLMSG_DONE, NLM_F_MULTI, seq, Body::Empty)
    }

    /// The header this message is sent with (length filled in by `encode`).
    pub fn header(&self) -> Header {
        Header {
            len: 0,
            kind: self.kind,
            flags: self.flags,
            seq: self.seq,
            pid: 0,
        }
    }

    /// Appends the message to `out`.
    pub fn encode(&self, out: &mut Vec<u8>) {
        let start = out.len();
        self.header().emit(out);
        match &self.body {
            Body::Error { errno, req, msg } => {
                out.extend_from_slice(&(-errno).to_le_bytes());
                req.emit(out);
                if !msg.is_empty() {
                    Attrs(out).str(NLMSGERR_ATTR_MSG, msg);
                }
            }
            Body::Empty => {}
            Body::Route(r) => r.emit(out),
            Body::Neigh(n) => n.emit(out),
            Body::Addr(a) => a.emit(out),
            Body::Link(l) => l.emit(out),
            Body::Qdisc(q) => q.emit(out),
            Body::Text(t) => Attrs(out).str(FRA_TEXT, t),
            Body::Groups(g) => out.extend_from_slice(&g.to_le_bytes()),
            Body::CaptureReq(c) => c.emit(out),
            Body::CapturePkt(p) => p.emit(out),
            Body::CaptureEnd(e) => e.emit(out),
        }
        let len = (out.len() - start) as u32;
        out[start + hdr::LEN.start..start + hdr::LEN.end].copy_from_slice(&len.to_le_bytes());
    }

    pub fn to_bytes(&self) -> Vec<u8> {
        let mut v = Vec::new();
        self.encode(&mut v);
        v
    }

    /// Decodes the first message of `buf`.
    pub fn decode(buf: &[u8]) -> Decoded {
        let Some(h) = Header::parse(buf) else {
            return Decoded::Incomplete;
        };
        let len = h.len as usize;
        if len < HDR_LEN {
            return Decoded::Fatal(
                h,
                ApiError::inval(format!(
                    "message length {len} is shorter than the {HDR_LEN}-byte header"
                )),
            );
        }
        if len > MAX_MSG_LEN {
            return Decoded::Fatal(
                h,
                ApiError::new(
                    errno::EMSGSIZE,
                    format!("message length {len} exceeds the limit of {MAX_MSG_LEN} bytes"),
                ),
            );
        }
        let Some(body) = buf.get(HDR_LEN..len) else {
            return Decoded::Incomplete;
        };
        match Message::body(&h, body) {
            Ok(body) => Decoded::Msg(
                Message {
                    kind: h.kind,
                    flags: h.flags,
                    seq: h.seq,
                    body,
                },
                len,
            ),
            Err(e) => Decoded::Bad(h, e, len),
        }
    }

    fn body(h: &Header, b: &[u8]) -> Result<Body, ApiError> {
        Ok(match h.kind {
            NLMSG_ERROR => {
                let e: [u8; 4] = fixed(b, "nlmsgerr")?;
                let req =
                    Header::parse(&b[4..]).ok_or_else(|| ApiError::inval("truncated nlmsgerr"))?;
                let mut msg = String::new();
                for (k, v) in attrs(&b[4 + HDR_LEN..])? {
                    if k == NLMSGERR_ATTR_MSG {
                        msg = a_str(k, v)?;
                    }
                }
                Body::Error {
                    errno: i32::from_le_bytes(e).wrapping_neg(),
                    req,
                    msg,
                }
            }
            NLMSG_NOOP | NLMSG_DONE | FR_BATCH_BEGIN | FR_BATCH_END | FR_GETSTATUS
            | FR_GETCOUNTERS | FR_GETCONFIG | FR_CAPTURE_STOP => {
                if !b.is_empty() {
                    return Err(ApiError::inval(format!(
                        "message type {:#x} takes no body ({} bytes given)",
                        h.kind,
                        b.len()
                    )));
                }
                Body::Empty
            }
            FR_TEXT => {
                let mut text = String::new();
                for (k, v) in attrs(b)? {
                    match k {
                        FRA_TEXT => text = a_str(k, v)?,
                        _ => return Err(unknown_attr("text", k)),
                    }
                }
                Body::Text(text)
            }
            FR_MONITOR => {
                let g: [u8; 4] = fixed(b, "monitor groups")?;
                if b.len() != 4 {
                    return Err(ApiError::inval("monitor groups: expected 4 bytes"));
                }
                Body::Groups(u32::from_le_bytes(g))
            }
            FR_CAPTURE => Body::CaptureReq(CaptureReq::parse(b)?),
            FR_CAPTURE_PKT => Body::CapturePkt(CapturePkt::parse(b)?),
            FR_CAPTURE_END => Body::CaptureEnd(CaptureEnd::parse(b)?),
            RTM_NEWROUTE | RTM_DELROUTE | RTM_GETROUTE => Body::Route(RouteMsg::parse(b, h)?),
            RTM_NEWNEIGH | RTM_DELNEIGH | RTM_GETNEIGH => Body::Neigh(NeighMsg::parse(b, h)?),
            RTM_NEWADDR | RTM_DELADDR | RTM_GETADDR => Body::Addr(AddrMsg::parse(b, h)?),
            RTM_NEWLINK | RTM_GETLINK => Body::Link(LinkMsg::parse(b)?),
            RTM_NEWQDISC | RTM_DELQDISC | RTM_GETQDISC => Body::Qdisc(QdiscMsg::parse(b)?),
            other => {
                return Err(ApiError::new(
                    errno::EOPNOTSUPP,
                    format!("unknown message type {other}"),
                ))
            }
        })
    }
}

// --- Packet capture (FR_CAPTURE*) ------------------------------------------------------

/// Capture point numbers in [`CaptureReq::points`] (bits) and [`CapturePkt::point`]:
/// as received, as handed to TX, dropped (`crate::capture::Point`).
pub const CAPTURE_RX: u8 = 0;
pub const CAPTURE_TX: u8 = 1;
pub const CAPTURE_DROP: u8 = 2;
/// The drop reason's name, in an FR_CAPTURE_PKT of a drop.
pub const FRA_CAPTURE_REASON: u16 = 1;

/// What to capture: `{ports u64, points u8, proto u8, pad u16, snaplen u32, host [4]}`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct CaptureReq {
    /// Bit i: ifindex i + 1 (DPDK port i).
    pub ports: u64,
    /// Bit `CAPTURE_*` for each point wanted.
    pub points: u8,
    /// `crate::capture::Proto` as a number (0 any).
    pub proto: u8,
    pub snaplen: u32,
    /// From or to this address only (0.0.0.0 on the wire: any).
    pub host: Option<Ipv4Addr>,
}

impl CaptureReq {
    const LEN: usize = 20;

    fn emit(&self, out: &mut Vec<u8>) {
        out.extend_from_slice(&self.ports.to_le_bytes());
        out.extend_from_slice(&[self.points, self.proto, 0, 0]);
        out.extend_from_slice(&self.snaplen.to_le_bytes());
        out.extend_from_slice(&self.host.unwrap_or(Ipv4Addr::UNSPECIFIED).octets());
    }

    fn parse(b: &[u8]) -> Result<CaptureReq, ApiError> {
        let f: [u8; CaptureReq::LEN] = fixed(b, "capture request")?;
        if b.len() != CaptureReq::LEN {
            return Err(ApiError::inval(format!(
                "capture request: expected {} bytes, got {}",
                CaptureReq::LEN,
                b.len()
            )));
        }
        let host = Ipv4Addr::new(f[16], f[17], f[18], f[19]);
        Ok(CaptureReq {
            ports: u64::from_le_bytes(f[0..8].try_into().unwrap_or_default()),
            points: f[8],
            proto: f[9],
            snaplen: u32::from_le_bytes(f[12..16].try_into().unwrap_or_default()),
            host: (!host.is_unspecified()).then_some(host),
        })
    }
}

/// One captured frame: `{ifindex u32, point u8, pad [3], ts_ns u64, orig_len u32,
/// cap_len u32}`, the `cap_len` octets padded to 4, then FRA_CAPTURE_REASON for a drop.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct CapturePkt {
    pub ifindex: u32,
    pub point: u8,
    /// Nanoseconds since the Unix epoch.
    pub ts_ns: u64,
    pub orig_len: u32,
    pub data: Vec<u8>,
    pub reason: Option<String>,
}

impl CapturePkt {
    const LEN: usize = 24;

    fn emit(&self, out: &mut Vec<u8>) {
        out.extend_from_slice(&self.ifindex.to_le_bytes());
        out.extend_from_slice(&[self.point, 0, 0, 0]);
        out.extend_from_slice(&self.ts_ns.to_le_bytes());
        out.extend_from_slice(&self.orig_len.to_le_bytes());
        out.extend_from_slice(&(self.data.len() as u32).to_le_bytes());
        out.extend_from_slice(&self.data);
        out.resize(align4(out.len()), 0);
        if let Some(r) = &self.reason {
            Attrs(out).str(FRA_CAPTURE_REASON, r);
        }
    }

    fn parse(b: &[u8]) -> Result<CapturePkt, ApiError> {
        let f: [u8; CapturePkt::LEN] = fixed(b, "captured packet")?;
        let le32 = |at: usize| u32::from_le_bytes(f[at..at + 4].try_into().unwrap_or_default());
        let cap = le32(20) as usize;
        let data = b
            .get(CapturePkt::LEN..CapturePkt::LEN + cap)
            .ok_or_else(|| ApiError::inval(format!("captured packet: {cap} octets do not fit")))?;
        let mut reason = None;
        let rest = b.get(align4(CapturePkt::LEN + cap)..).unwrap_or(&[]);
        for (k, v) in attrs(rest)? {
            match k {
                FRA_CAPTURE_REASON => reason = Some(a_str(k, v)?),
                _ => return Err(unknown_attr("captured packet", k)),
            }
        }
        Ok(CapturePkt {
            ifindex: le32(0),
            point: f[4],
            ts_ns: u64::from_le_bytes(f[8..16].try_into().unwrap_or_default()),
            orig_len: le32(16),
            data: data.to_vec(),
            reason,
        })
    }
}

/// The end of a capture: `{captured u64, missed u64}`, frames sent to the client and
/// frames the capture lost (a worker's ring full, or the client not reading).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct CaptureEnd {
    pub captured: u64,
    pub missed: u64,
}

impl CaptureEnd {
    fn emit(&self, out: &mut Vec<u8>) {
        out.extend_from_slice(&self.captured.to_le_bytes());
        out.extend_from_slice(&self.missed.to_le_bytes());
    }

    fn parse(b: &[u8]) -> Result<CaptureEnd, ApiError> {
        let f: [u8; 16] = fixed(b, "capture end")?;
        if b.len() != 16 {
            return Err(ApiError::inval("capture end: expected 16 bytes"));
        }
        Ok(CaptureEnd {
            captured: u64::from_le_bytes(f[0..8].try_into().unwrap_or_default()),
            missed: u64::from_le_bytes(f[8..16].try_into().unwrap_or_default()),
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn round_trip(m: Message) {
        let bytes = m.to_bytes();
        assert_eq!(bytes.len() % 4, 0, "{m:?} is padded");
        match Message::decode(&bytes) {
            Decoded::Msg(d, n) => {
                assert_eq!(n, bytes.len());
                assert_eq!(d, m);
            }
            other => panic!("{m:?} decoded as {other:?}"),
        }
        // Every strict prefix is incomplete, never an error or a panic.
        for cut in 0..bytes.len() {
            assert_eq!(
                Message::decode(&bytes[..cut]),
                Decoded::Incomplete,
                "{m:?} cut at {cut}"
            );
        }
    }

    fn ip(s: &str) -> Ipv4Addr {
        s.parse().unwrap()
    }

    fn every_message() -> Vec<Message> {
        let route = RouteMsg {
            dst: ip("10.9.0.0"),
            dst_len: 16,
            protocol: RTPROT_STATIC,
            scope: RT_SCOPE_UNIVERSE,
            rtype: RTN_UNICAST,
            gateway: Some(ip("10.0.2.2")),
            oif: Some(2),
            metric: Some(7),
            prefsrc: Some(ip("10.0.2.1")),
            multipath: Vec::new(),
        };
        let flags = NLM_F_REQUEST | NLM_F_ACK | NLM_F_CREATE | NLM_F_EXCL;
        let req = Header {
            len: 40,
            kind: RTM_NEWROUTE,
            flags,
            seq: 9,
            pid: 0,
        };
        vec![
            Message::new(RTM_NEWROUTE, flags, 1, Body::Route(route.clone())),
            Message::new(
                RTM_DELROUTE,
                NLM_F_REQUEST,
                2,
                Body::Route(RouteMsg {
                    rtype: RTN_BLACKHOLE,
                    gateway: None,
                    oif: None,
                    prefsrc: None,
                    ..route.clone()
                }),
            ),
            Message::new(
                RTM_NEWROUTE,
                flags,
                10,
                Body::Route(RouteMsg {
                    gateway: None,
                    oif: None,
                    multipath: vec![
                        RtNexthop {
                            gateway: Some(ip("10.0.2.2")),
                            oif: Some(2),
                            weight: 1,
                        },
                        RtNexthop {
                            gateway: None,
                            oif: Some(1),
                            weight: 256,
                        },
                    ],
                    ..route.clone()
                }),
            ),
            Message::new(
                RTM_GETROUTE,
                NLM_F_REQUEST | NLM_F_DUMP,
                3,
                Body::Route(RouteMsg::new(ip("0.0.0.0"), 0)),
            ),
            Message::new(
                RTM_NEWNEIGH,
                flags,
                4,
                Body::Neigh(NeighMsg {
                    ifindex: 2,
                    state: NUD_PERMANENT,
                    dst: Some(ip("10.0.2.7")),
                    lladdr: Some(MacAddr([2, 0, 0, 0, 2, 7])),
                    probes: Some(3),
                }),
            ),
            Message::new(
                RTM_DELNEIGH,
                NLM_F_REQUEST,
                5,
                Body::Neigh(NeighMsg::default()),
            ),
            Message::new(
                RTM_NEWADDR,
                flags,
                6,
                Body::Addr(AddrMsg {
                    ifindex: 1,
                    prefix_len: 24,
                    local: Some(ip("10.0.3.1")),
                    label: Some("port0".into()),
                }),
            ),
            Message::new(
                RTM_DELADDR,
                NLM_F_REQUEST,
                7,
                Body::Addr(AddrMsg {
                    ifindex: 1,
                    prefix_len: 24,
                    local: None,
                    label: None,
                }),
            ),
            Message::new(
                RTM_NEWLINK,
                NLM_F_REQUEST | NLM_F_ACK,
                8,
                Body::Link(LinkMsg {
                    ifindex: 2,
                    flags: IFF_UP,
                    change: IFF_UP,
                    name: Some("port1".into()),
                    mtu: Some(1280),
                    mac: Some(MacAddr([2, 0, 0, 0, 0, 1])),
                }),
            ),
            Message::new(
                RTM_NEWQDISC,
                flags | NLM_F_REPLACE,
                9,
                Body::Qdisc(QdiscMsg {
                    ifindex: 2,
                    handle: 0x8001_0000,
                    parent: TC_H_ROOT,
                    kind: Some("tbf".into()),
                    tbf: Some(TbfSpec {
                        rate: 2_500_000,
                        burst: 32768,
                        latency_us: 50_000,
                        limit: 0,
                    }),
                }),
            ),
            Message::new(
                RTM_NEWQDISC,
                flags | NLM_F_CREATE,
                9,
                Body::Qdisc(QdiscMsg {
                    ifindex: 1,
                    handle: 0x8001_0000,
                    parent: TC_H_ROOT,
                    kind: Some("tbf".into()),
                    tbf: Some(TbfSpec {
                        rate: 125_000_000,
                        burst: 65536,
                        latency_us: 0,
                        limit: 1 << 20,
                    }),
                }),
            ),
            Message::new(
                RTM_DELQDISC,
                NLM_F_REQUEST,
                10,
                Body::Qdisc(QdiscMsg::default()),
            ),
            Message::new(FR_GETSTATUS, NLM_F_REQUEST, 11, Body::Empty),
            Message::new(FR_TEXT, 0, 11, Body::Text("ready yes\n".into())),
            Message::new(FR_BATCH_BEGIN, NLM_F_REQUEST, 12, Body::Empty),
            Message::new(FR_BATCH_END, NLM_F_REQUEST | NLM_F_ACK, 13, Body::Empty),
            Message::new(
                FR_MONITOR,
                NLM_F_REQUEST | NLM_F_ACK,
                15,
                Body::Groups(RTMGRP_IPV4_ROUTE | RTMGRP_NEIGH),
            ),
            Message::done(14),
            Message::error(&req, None),
            Message::error(
                &req,
                Some(&ApiError::new(errno::EEXIST, "route already exists")),
            ),
        ]
    }

    #[test]
    fn every_message_round_trips() {
        for m in every_message() {
            round_trip(m);
        }
    }

    #[test]
    fn a_stream_of_messages_decodes_one_by_one() {
        let msgs = every_message();
        let mut buf = Vec::new();
        for m in &msgs {
            m.encode(&mut buf);
        }
        let mut at = 0;
        for m in &msgs {
            match Message::decode(&buf[at..]) {
                Decoded::Msg(d, n) => {
                    assert_eq!(&d, m);
                    at += n;
                }
                other => panic!("{other:?}"),
            }
        }
        assert_eq!(at, buf.len());
    }

    fn errno_of(bytes: &[u8]) -> (i32, bool) {
        match Message::decode(bytes) {
            Decoded::Bad(_, e, n) => {
                assert!(n <= bytes.len());
                (e.errno, false)
            }
            Decoded::Fatal(_, e) => (e.errno, true),
            other => panic!("expected an error, got {other:?}"),
        }
    }

    fn route_bytes(dst: [u8; 4], len: u8) -> Vec<u8> {
        let mut r = RouteMsg::new(Ipv4Addr::from(dst), 0);
        r.dst_len = len;
        let mut b = Message::new(RTM_NEWROUTE, NLM_F_REQUEST, 1, Body::Route(r)).to_bytes();
        // encode() does not validate; patch the prefix length in place.
        b[HDR_LEN + 1] = len;
        b
    }

    #[test]
    fn malformed_messages_get_linux_errnos() {
        // Bad prefix length and host bits.
        assert_eq!(
            errno_of(&route_bytes([10, 9, 0, 0], 33)),
            (errno::EINVAL, false)
        );
        assert_eq!(
            errno_of(&route_bytes([10, 9, 0, 1], 16)),
            (errno::EINVAL, false)
        );
        // Unknown message type: the stream goes on after it.
        let mut b = Message::new(FR_GETSTATUS, NLM_F_REQUEST, 1, Body::Empty).to_bytes();
        b[4] = 0x77;
        assert_eq!(errno_of(&b), (errno::EOPNOTSUPP, false));
        // Huge length field: fatal, the connection closes.
        let mut b = Message::new(FR_GETSTATUS, NLM_F_REQUEST, 1, Body::Empty).to_bytes();
        b[0..4].copy_from_slice(&u32::MAX.to_le_bytes());
        assert_eq!(errno_of(&b), (errno::EMSGSIZE, true));
        // Length below the header: fatal.
        b[0..4].copy_from_slice(&3u32.to_le_bytes());
        assert_eq!(errno_of(&b), (errno::EINVAL, true));
        // Truncated body (length says 20 bytes of a 24-byte rtmsg message).
        let mut b = route_bytes([10, 0, 0, 0], 8);
        b.truncate(HDR_LEN + 4);
        b[0..4].copy_from_slice(&((HDR_LEN + 4) as u32).to_le_bytes());
        assert_eq!(errno_of(&b), (errno::EINVAL, false));
        // Attribute longer than the message.
        let mut b = route_bytes([10, 0, 0, 0], 8);
        let at = HDR_LEN + 8;
        b[at..at + 2].copy_from_slice(&200u16.to_le_bytes());
        assert_eq!(errno_of(&b), (errno::EINVAL, false));
        // Attribute of the wrong size and unknown attribute.
        let mut b = route_bytes([10, 0, 0, 0], 8);
        b[at..at + 2].copy_from_slice(&6u16.to_le_bytes());
        assert_eq!(errno_of(&b), (errno::EINVAL, false));
        let mut b = route_bytes([10, 0, 0, 0], 8);
        b[at + 2..at + 4].copy_from_slice(&99u16.to_le_bytes());
        assert_eq!(errno_of(&b), (errno::EINVAL, false));
        // Wrong family, unknown route type.
        let mut b = route_bytes([10, 0, 0, 0], 8);
        b[HDR_LEN] = 10;
        assert_eq!(errno_of(&b), (errno::EAFNOSUPPORT, false));
        let mut b = route_bytes([10, 0, 0, 0], 8);
        b[HDR_LEN + 7] = 42;
        assert_eq!(errno_of(&b), (errno::EOPNOTSUPP, false));
        // A body on a message that takes none.
        let mut b = Message::new(FR_GETSTATUS, NLM_F_REQUEST, 1, Body::Empty).to_bytes();
        b.extend_from_slice(&[0; 4]);
        b[0..4].copy_from_slice(&20u32.to_le_bytes());
        assert_eq!(errno_of(&b), (errno::EINVAL, false));
    }

    #[test]
    fn garbage_never_panics() {
        // A deterministic pseudo-random walk over bodies of every type.
        let mut x: u32 = 0x1234_5678;
        let mut next = || {
            x ^= x << 13;
            x ^= x >> 17;
            x ^= x << 5;
            x
        };
        let kinds = [
            NLMSG_ERROR,
            FR_TEXT,
            RTM_NEWROUTE,
            RTM_NEWNEIGH,
            RTM_NEWADDR,
            RTM_NEWLINK,
            RTM_NEWQDISC,
        ];
        for i in 0..20_000 {
            let len = (next() % 64) as usize;
            let mut b = vec![0u8; HDR_LEN + len];
            for byte in b.iter_mut() {
                *byte = next() as u8;
            }
            b[0..4].copy_from_slice(&((HDR_LEN + len) as u32).to_le_bytes());
            b[4..6].copy_from_slice(&kinds[i % kinds.len()].to_le_bytes());
            let _ = Message::decode(&b);
        }
    }

    #[test]
    fn error_display_names_the_errno() {
        let e = ApiError::new(errno::EEXIST, "route already exists");
        assert_eq!(e.to_string(), "route already exists (EEXIST)");
        assert_eq!(errno::name(4242), "errno 4242");
    }

    #[test]
    fn capture_messages_round_trip_and_bad_ones_are_refused() {
        round_trip(Message::new(
            FR_CAPTURE,
            NLM_F_REQUEST | NLM_F_ACK,
            1,
            Body::CaptureReq(CaptureReq {
                ports: 0b101,
                points: 1 << CAPTURE_RX | 1 << CAPTURE_DROP,
                proto: 3,
                snaplen: 262_144,
                host: Some(ip("10.0.1.2")),
            }),
        ));
        round_trip(Message::new(FR_CAPTURE_STOP, NLM_F_REQUEST, 2, Body::Empty));
        for (data, reason) in [(vec![1u8; 61], Some("ip4_bad_checksum")), (vec![], None)] {
            round_trip(Message::new(
                FR_CAPTURE_PKT,
                0,
                0,
                Body::CapturePkt(CapturePkt {
                    ifindex: 1,
                    point: CAPTURE_DROP,
                    ts_ns: 1_700_000_000_000_000_001,
                    orig_len: 98,
                    data,
                    reason: reason.map(String::from),
                }),
            ));
        }
        round_trip(Message::new(
            FR_CAPTURE_END,
            0,
            2,
            Body::CaptureEnd(CaptureEnd {
                captured: 5,
                missed: 1,
            }),
        ));
        // A packet whose cap_len passes the message's end.
        let mut b = Message::new(
            FR_CAPTURE_PKT,
            0,
            0,
            Body::CapturePkt(CapturePkt {
                ifindex: 1,
                point: 0,
                ts_ns: 0,
                orig_len: 4,
                data: vec![0; 4],
                reason: None,
            }),
        )
        .to_bytes();
        b[HDR_LEN + 20] = 200;
        assert!(matches!(Message::decode(&b), Decoded::Bad(_, e, _) if e.errno == errno::EINVAL));
    }
}
