//! One message: header fields and a typed body; encoding and strict decoding.
use super::attr::*;
use super::*;

/// Text of the FR_* replies.
pub const FRA_TEXT: u16 = 1;
/// The readable message of an error (Linux NLMSGERR_ATTR_MSG, extended ack).
pub const NLMSGERR_ATTR_MSG: u16 = 1;
/// The field of the request at fault ([`ReqField`], laid out as `error::field`), in the
/// answer to a request with [`FR_F_EXT_ACK`]. ferroute's own, above Linux's
/// NLMSGERR_ATTR_* numbers as its message types are above Linux's.
pub const NLMSGERR_ATTR_FIELD: u16 = 0x100;

/// `struct nlmsgerr` fields (linux/netlink.h): the negative errno, then the header of
/// the request answered; the extended ack's attributes follow.
mod err {
    use super::{Field, HDR_LEN};
    pub const ERROR: Field = 0..4;
    pub const REQ: Field = 4..4 + HDR_LEN;
    pub const LEN: usize = 4 + HDR_LEN;
}

/// The typed body of a message; which one a type carries is fixed by the type.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Body {
    /// NLMSG_ERROR: `errno` 0 is an ack. `req` is the header of the request answered.
    Error {
        errno: i32,
        req: Header,
        msg: String,
        /// Only in answers to requests with [`FR_F_EXT_ACK`].
        field: Option<ReqField>,
    },
    /// NLMSG_DONE, NLMSG_NOOP, the batch markers and the FR_GET* requests.
    Empty,
    Route(RouteMsg),
    Neigh(NeighMsg),
    Addr(AddrMsg),
    Link(LinkMsg),
    Qdisc(QdiscMsg),
    Text(String),
    /// FR_COUNTERS: the reply to FR_GETCOUNTERS.
    Counters(Counters),
    /// FR_STATUS: the reply to FR_GETSTATUS_ATTRS.
    Status(Status),
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

impl Body {
    /// The error an NLMSG_ERROR body answers with; `None` for an ack or another body.
    pub fn api_error(&self) -> Option<ApiError> {
        match self {
            Body::Error {
                errno, msg, field, ..
            } if *errno != 0 => Some(ApiError {
                errno: *errno,
                msg: msg.clone(),
                field: *field,
            }),
            _ => None,
        }
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

    /// An ack (errno 0) or error answering the request with header `req`; the field at
    /// fault only if the request asked for it (`FR_F_EXT_ACK`).
    pub fn error(req: &Header, err: Option<&ApiError>) -> Message {
        let ext_ack = req.flags & FR_F_EXT_ACK != 0;
        Message {
            kind: NLMSG_ERROR,
            flags: 0,
            seq: req.seq,
            body: Body::Error {
                errno: err.map_or(0, |e| e.errno),
                req: *req,
                msg: err.map_or_else(String::new, |e| e.msg.clone()),
                field: err.and_then(|e| e.field).filter(|_| ext_ack),
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
            Body::Error {
                errno,
                req,
                msg,
                field: at,
            } => {
                out.extend_from_slice(&(-errno).to_le_bytes());
                req.emit(out);
                if !msg.is_empty() {
                    // The message may quote the request (a port name of any length): as
                    // much of it as one attribute holds.
                    let msg = split_text(msg, MAX_ATTR_VALUE - 1).next().unwrap_or("");
                    Attrs(out).str(NLMSGERR_ATTR_MSG, msg);
                }
                if let Some(at) = at {
                    let (code, hop, same_as) = at.to_wire();
                    let mut f = Fixed::<{ field::LEN }>::zeroed();
                    f.set_u16(field::CODE, code);
                    f.set_u16(field::NEXTHOP, hop);
                    f.set_u16(field::SAME_AS, same_as);
                    Attrs(out).put(NLMSGERR_ATTR_FIELD, f.bytes(0..field::LEN));
                }
            }
            Body::Empty => {}
            Body::Route(r) => r.emit(out),
            Body::Neigh(n) => n.emit(out),
            Body::Addr(a) => a.emit(out),
            Body::Link(l) => l.emit(out),
            Body::Qdisc(q) => q.emit(out),
            // Text longer than one attribute holds goes in several, read back joined; an
            // empty text as one empty attribute.
            Body::Text(t) if t.is_empty() => Attrs(out).str(FRA_TEXT, ""),
            Body::Text(t) => {
                for part in split_text(t, MAX_ATTR_VALUE - 1) {
                    Attrs(out).str(FRA_TEXT, part);
                }
            }
            Body::Counters(c) => c.emit(out),
            Body::Status(s) => s.emit(out),
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

    pub(super) fn body(h: &Header, b: &[u8]) -> Result<Body, ApiError> {
        Ok(match h.kind {
            NLMSG_ERROR => {
                let (e, rest) = Fixed::<{ err::LEN }>::read(b, "nlmsgerr")?;
                let req = Header::parse(e.bytes(err::REQ))
                    .ok_or_else(|| ApiError::inval("truncated nlmsgerr"))?;
                let (mut msg, mut at) = (String::new(), None);
                for (k, v) in attrs(rest)? {
                    match k {
                        NLMSGERR_ATTR_MSG => msg = a_str(k, v)?,
                        NLMSGERR_ATTR_FIELD => {
                            let (f, rest) = Fixed::<{ field::LEN }>::read(v, "error field")?;
                            if !rest.is_empty() {
                                return Err(ApiError::inval(format!(
                                    "attribute {k}: expected {} bytes",
                                    field::LEN
                                )));
                            }
                            let (code, hop) = (f.u16(field::CODE), f.u16(field::NEXTHOP));
                            at = ReqField::from_wire(code, hop, f.u16(field::SAME_AS));
                        }
                        _ => {}
                    }
                }
                Body::Error {
                    errno: (e.u32(err::ERROR) as i32).wrapping_neg(),
                    req,
                    msg,
                    field: at,
                }
            }
            NLMSG_NOOP | NLMSG_DONE | FR_BATCH_BEGIN | FR_BATCH_END | FR_GETSTATUS
            | FR_GETSTATUS_ATTRS | FR_GETCOUNTERS | FR_GETCONFIG | FR_CAPTURE_STOP => {
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
                        FRA_TEXT => text.push_str(&a_str(k, v)?),
                        _ => return Err(unknown_attr("text", k)),
                    }
                }
                Body::Text(text)
            }
            FR_COUNTERS => Body::Counters(Counters::parse(b)?),
            FR_STATUS => Body::Status(Status::parse(b)?),
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
