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
//! batches as in nfnetlink, status and config dump answered with text, counters and
//! status with nested attributes: `counters.rs`, `status.rs`).
//!
//! Every request gets an answer: NLMSG_ERROR with errno 0 (an ack, only when the request
//! has `NLM_F_ACK`) or the errno and a readable message (always), plus the field of the
//! request at fault ([`ReqField`], as NLMSGERR_ATTR_FIELD) when the request carries
//! ferroute's [`FR_F_EXT_ACK`] flag; GET requests answer with the object, DUMP requests
//! with `NLM_F_MULTI` parts ending in NLMSG_DONE.
//!
//! Decoding is strict: a short or inconsistent header, an unknown type or attribute, an
//! attribute of the wrong size, a bad prefix length or host bits set in a prefix are
//! errors (EINVAL, EOPNOTSUPP, EAFNOSUPPORT), and a length field above [`MAX_MSG_LEN`] is
//! EMSGSIZE. Nothing here panics on any input.

pub mod addr;
mod attr;
pub mod capture;
pub mod client;
pub mod counters;
pub mod error;
pub mod header;
pub mod link;
pub mod message;
pub mod neigh;
pub mod number;
pub mod qdisc;
pub mod request;
pub mod route;
pub mod status;
#[cfg(test)]
mod tests;

pub use addr::*;
pub(crate) use attr::split_text;
pub use capture::*;
pub use counters::*;
pub use error::*;
pub use header::*;
pub use link::*;
pub use message::*;
pub use neigh::*;
pub use number::*;
pub use qdisc::*;
pub use request::*;
pub use route::*;
pub use status::*;
