//! The message header (`nlmsghdr`), message types and flags.

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
pub(super) mod hdr {
    pub type Field = core::ops::Range<usize>;
    pub const LEN: Field = 0..4;
    pub const KIND: Field = 4..6;
    pub const FLAGS: Field = 6..8;
    pub const SEQ: Field = 8..12;
    pub const PID: Field = 12..16;
}

pub(super) fn le_u32(b: &[u8], f: hdr::Field) -> Option<u32> {
    Some(u32::from_le_bytes(b.get(f)?.try_into().ok()?))
}

pub(super) fn le_u16(b: &[u8], f: hdr::Field) -> Option<u16> {
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

    pub(super) fn emit(&self, out: &mut Vec<u8>) {
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
