//! The message header (`nlmsghdr`), message types and flags, and the view of fixed
//! headers every message body starts with.
use super::ApiError;

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
/// `ferroute status` and `config dump`: answered with one text message; `counters`
/// with one [`FR_COUNTERS`](super::FR_COUNTERS).
pub const FR_GETSTATUS: u16 = 0x102;
pub const FR_GETCOUNTERS: u16 = 0x103;
pub const FR_GETCONFIG: u16 = 0x104;
/// The reply to FR_GETSTATUS and FR_GETCONFIG.
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
/// ferroute's own request flag: an error answer names the field at fault
/// (`NLMSGERR_ATTR_FIELD`), as Linux's answers carry `NLMSGERR_ATTR_OFFS` on a socket
/// with NETLINK_EXT_ACK. Requests without it are answered as before.
pub const FR_F_EXT_ACK: u16 = 0x1000;

/// The message header (`nlmsghdr`). `len` is filled in by [`Message::encode`].
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct Header {
    pub len: u32,
    pub kind: u16,
    pub flags: u16,
    pub seq: u32,
    pub pid: u32,
}

/// A byte range of a fixed header.
pub(super) type Field = core::ops::Range<usize>;

/// `nlmsghdr` field ranges (the style of `src/wire`): where each header field sits.
pub(super) mod hdr {
    use super::Field;
    pub const LEN: Field = 0..4;
    pub const KIND: Field = 4..6;
    pub const FLAGS: Field = 6..8;
    pub const SEQ: Field = 8..12;
    pub const PID: Field = 12..16;
}

const _: () = assert!(hdr::PID.end == HDR_LEN);

/// A view of a fixed header of `N` bytes (`nlmsghdr`, `rtmsg`, `ndmsg`, ...) whose
/// fields are the ranges of that header's `mod`: read from a message (its length
/// checked once), or filled in and emitted. Each header's module asserts that its
/// fields end within `N`; an accessor outside would read 0 and write nothing, never
/// panic.
#[derive(Debug, Clone, Copy)]
pub(super) struct Fixed<const N: usize>([u8; N]);

impl<const N: usize> Fixed<N> {
    pub(super) fn zeroed() -> Self {
        Fixed([0; N])
    }

    /// The header at the start of `b` and the bytes after it (the attributes).
    pub(super) fn read<'a>(b: &'a [u8], what: &str) -> Result<(Self, &'a [u8]), ApiError> {
        match (b.get(..N).and_then(|h| h.try_into().ok()), b.get(N..)) {
            (Some(h), Some(rest)) => Ok((Fixed(h), rest)),
            _ => Err(ApiError::inval(format!(
                "truncated {what} ({} of {N} bytes)",
                b.len()
            ))),
        }
    }

    fn get<const W: usize>(&self, f: Field) -> [u8; W] {
        self.0
            .get(f)
            .and_then(|s| s.try_into().ok())
            .unwrap_or([0; W])
    }

    fn set(&mut self, f: Field, v: &[u8]) {
        if let Some(d) = self.0.get_mut(f) {
            if d.len() == v.len() {
                d.copy_from_slice(v);
            }
        }
    }

    pub(super) fn u8(&self, at: usize) -> u8 {
        self.0.get(at).copied().unwrap_or(0)
    }
    pub(super) fn u16(&self, f: Field) -> u16 {
        u16::from_le_bytes(self.get(f))
    }
    pub(super) fn u32(&self, f: Field) -> u32 {
        u32::from_le_bytes(self.get(f))
    }
    pub(super) fn u64(&self, f: Field) -> u64 {
        u64::from_le_bytes(self.get(f))
    }
    pub(super) fn ip(&self, f: Field) -> std::net::Ipv4Addr {
        std::net::Ipv4Addr::from(self.get::<4>(f))
    }

    pub(super) fn set_u8(&mut self, at: usize, v: u8) {
        if let Some(d) = self.0.get_mut(at) {
            *d = v;
        }
    }
    pub(super) fn set_u16(&mut self, f: Field, v: u16) {
        self.set(f, &v.to_le_bytes());
    }
    pub(super) fn set_u32(&mut self, f: Field, v: u32) {
        self.set(f, &v.to_le_bytes());
    }
    pub(super) fn set_u64(&mut self, f: Field, v: u64) {
        self.set(f, &v.to_le_bytes());
    }
    pub(super) fn set_ip(&mut self, f: Field, v: std::net::Ipv4Addr) {
        self.set(f, &v.octets());
    }

    /// The bytes of field `f` (a nested header).
    pub(super) fn bytes(&self, f: Field) -> &[u8] {
        self.0.get(f).unwrap_or(&[])
    }

    pub(super) fn emit(&self, out: &mut Vec<u8>) {
        out.extend_from_slice(&self.0);
    }
}

impl Header {
    /// The header at the start of `b`, or None if `b` is shorter than [`HDR_LEN`].
    pub fn parse(b: &[u8]) -> Option<Header> {
        let (h, _) = Fixed::<HDR_LEN>::read(b, "nlmsghdr").ok()?;
        Some(Header {
            len: h.u32(hdr::LEN),
            kind: h.u16(hdr::KIND),
            flags: h.u16(hdr::FLAGS),
            seq: h.u32(hdr::SEQ),
            pid: h.u32(hdr::PID),
        })
    }

    pub(super) fn emit(&self, out: &mut Vec<u8>) {
        let mut h = Fixed::<HDR_LEN>::zeroed();
        h.set_u32(hdr::LEN, self.len);
        h.set_u16(hdr::KIND, self.kind);
        h.set_u16(hdr::FLAGS, self.flags);
        h.set_u32(hdr::SEQ, self.seq);
        h.set_u32(hdr::PID, self.pid);
        h.emit(out);
    }

    /// True for a GET request with NLM_F_DUMP.
    pub fn is_dump(&self) -> bool {
        self.flags & NLM_F_DUMP == NLM_F_DUMP
    }
}
