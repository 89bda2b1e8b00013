//! The requests a client sends, each variant carrying its body, so that a (type, body)
//! pair that cannot occur cannot be written; and a NEW request's NLM_F_* flags, decoded
//! once into a [`Change`].
use super::*;

/// What a NEW request does to an object that already exists (linux `fib_table_insert`,
/// `rtm_to_ifaddr`, `neigh_add`): NLM_F_EXCL refuses, NLM_F_REPLACE replaces,
/// NLM_F_APPEND adds after the others (routes), none of them adds first.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum IfExists {
    Refuse,
    Replace,
    Append,
    Prepend,
}

/// A NEW request's flags: what to do with an existing object, and whether one may be
/// created (NLM_F_CREATE). `ip route add` is (Refuse, create), `replace` (Replace,
/// create), `change` (Replace, no create), `append` (Append, create).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Change {
    pub if_exists: IfExists,
    pub create: bool,
}

impl Change {
    /// `ip ... add`: NLM_F_CREATE | NLM_F_EXCL.
    pub const ADD: Change = Change {
        if_exists: IfExists::Refuse,
        create: true,
    };

    /// Decodes the flags; NLM_F_EXCL wins over NLM_F_REPLACE, which wins over
    /// NLM_F_APPEND, as in Linux.
    pub fn from_flags(flags: u16) -> Change {
        let has = |f| flags & f == f;
        let if_exists = if has(NLM_F_EXCL) {
            IfExists::Refuse
        } else if has(NLM_F_REPLACE) {
            IfExists::Replace
        } else if has(NLM_F_APPEND) {
            IfExists::Append
        } else {
            IfExists::Prepend
        };
        Change {
            if_exists,
            create: has(NLM_F_CREATE),
        }
    }

    /// The NLM_F_* bits that say this change.
    pub fn flags(self) -> u16 {
        let f = match self.if_exists {
            IfExists::Refuse => NLM_F_EXCL,
            IfExists::Replace => NLM_F_REPLACE,
            IfExists::Append => NLM_F_APPEND,
            IfExists::Prepend => 0,
        };
        if self.create {
            f | NLM_F_CREATE
        } else {
            f
        }
    }
}

/// A request, typed: the message type and its body in one value.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Request {
    Noop,
    NewRoute(Change, RouteMsg),
    DelRoute(RouteMsg),
    /// RTM_GETROUTE without NLM_F_DUMP: the route a destination takes.
    GetRoute(RouteMsg),
    /// RTM_GETROUTE with NLM_F_DUMP: every route the filter matches.
    DumpRoutes(RouteMsg),
    NewNeigh(Change, NeighMsg),
    DelNeigh(NeighMsg),
    /// RTM_GETNEIGH; `true` with NLM_F_DUMP.
    GetNeigh(NeighMsg, bool),
    NewAddr(Change, AddrMsg),
    DelAddr(AddrMsg),
    GetAddr(AddrMsg),
    /// RTM_NEWLINK: set a link's flags or MTU.
    SetLink(LinkMsg),
    /// RTM_GETLINK; `true` with NLM_F_DUMP.
    GetLink(LinkMsg, bool),
    NewQdisc(Change, QdiscMsg),
    DelQdisc(QdiscMsg),
    GetQdisc(QdiscMsg),
    GetStatus,
    /// FR_GETSTATUS_ATTRS: the status as a [`Status`].
    GetStatusAttrs,
    GetCounters,
    GetConfig,
    BatchBegin,
    BatchEnd,
    /// FR_MONITOR: the `RTMGRP_*` groups to subscribe to.
    Monitor(u32),
    Capture(CaptureReq),
    CaptureStop,
}

impl Request {
    /// The request a decoded message carries. Replies (NLMSG_ERROR, NLMSG_DONE,
    /// FR_TEXT, FR_COUNTERS, FR_STATUS, FR_CAPTURE_PKT/END) are not requests: EINVAL. Unknown types never get
    /// here: [`Message::decode`] answers them with EOPNOTSUPP.
    pub fn from_message(m: &Message) -> Result<Request, ApiError> {
        let dump = m.flags & NLM_F_DUMP == NLM_F_DUMP;
        let change = Change::from_flags(m.flags);
        Ok(match (m.kind, &m.body) {
            (NLMSG_NOOP, Body::Empty) => Request::Noop,
            (RTM_NEWROUTE, Body::Route(r)) => Request::NewRoute(change, r.clone()),
            (RTM_DELROUTE, Body::Route(r)) => Request::DelRoute(r.clone()),
            (RTM_GETROUTE, Body::Route(r)) if dump => Request::DumpRoutes(r.clone()),
            (RTM_GETROUTE, Body::Route(r)) => Request::GetRoute(r.clone()),
            (RTM_NEWNEIGH, Body::Neigh(n)) => Request::NewNeigh(change, n.clone()),
            (RTM_DELNEIGH, Body::Neigh(n)) => Request::DelNeigh(n.clone()),
            (RTM_GETNEIGH, Body::Neigh(n)) => Request::GetNeigh(n.clone(), dump),
            (RTM_NEWADDR, Body::Addr(a)) => Request::NewAddr(change, a.clone()),
            (RTM_DELADDR, Body::Addr(a)) => Request::DelAddr(a.clone()),
            (RTM_GETADDR, Body::Addr(a)) => Request::GetAddr(a.clone()),
            (RTM_NEWLINK, Body::Link(l)) => Request::SetLink(l.clone()),
            (RTM_GETLINK, Body::Link(l)) => Request::GetLink(l.clone(), dump),
            (RTM_NEWQDISC, Body::Qdisc(q)) => Request::NewQdisc(change, q.clone()),
            (RTM_DELQDISC, Body::Qdisc(q)) => Request::DelQdisc(q.clone()),
            (RTM_GETQDISC, Body::Qdisc(q)) => Request::GetQdisc(q.clone()),
            (FR_GETSTATUS, Body::Empty) => Request::GetStatus,
            (FR_GETSTATUS_ATTRS, Body::Empty) => Request::GetStatusAttrs,
            (FR_GETCOUNTERS, Body::Empty) => Request::GetCounters,
            (FR_GETCONFIG, Body::Empty) => Request::GetConfig,
            (FR_BATCH_BEGIN, Body::Empty) => Request::BatchBegin,
            (FR_BATCH_END, Body::Empty) => Request::BatchEnd,
            (FR_MONITOR, Body::Groups(g)) => Request::Monitor(*g),
            (FR_CAPTURE, Body::CaptureReq(c)) => Request::Capture(*c),
            (FR_CAPTURE_STOP, Body::Empty) => Request::CaptureStop,
            (
                NLMSG_ERROR | NLMSG_DONE | FR_TEXT | FR_COUNTERS | FR_STATUS | FR_CAPTURE_PKT
                | FR_CAPTURE_END,
                _,
            ) => {
                return Err(ApiError::inval(format!(
                    "message type {} is not a request",
                    m.kind
                )))
            }
            // Only a hand-built Message gets here: decode fixes the body by the type.
            (kind, body) => {
                return Err(ApiError::inval(format!(
                    "message type {kind} cannot carry {body:?}"
                )))
            }
        })
    }

    /// The message that sends this request with sequence number `seq`: NLM_F_REQUEST,
    /// NLM_F_DUMP for dumps, a NEW's [`Change`] and `extra` flags (NLM_F_ACK).
    pub fn to_message(&self, extra: u16, seq: u32) -> Message {
        let dump = |d: bool| if d { NLM_F_DUMP } else { 0 };
        let (kind, flags, body) = match self {
            Request::Noop => (NLMSG_NOOP, 0, Body::Empty),
            Request::NewRoute(c, r) => (RTM_NEWROUTE, c.flags(), Body::Route(r.clone())),
            Request::DelRoute(r) => (RTM_DELROUTE, 0, Body::Route(r.clone())),
            Request::GetRoute(r) => (RTM_GETROUTE, 0, Body::Route(r.clone())),
            Request::DumpRoutes(r) => (RTM_GETROUTE, NLM_F_DUMP, Body::Route(r.clone())),
            Request::NewNeigh(c, n) => (RTM_NEWNEIGH, c.flags(), Body::Neigh(n.clone())),
            Request::DelNeigh(n) => (RTM_DELNEIGH, 0, Body::Neigh(n.clone())),
            Request::GetNeigh(n, d) => (RTM_GETNEIGH, dump(*d), Body::Neigh(n.clone())),
            Request::NewAddr(c, a) => (RTM_NEWADDR, c.flags(), Body::Addr(a.clone())),
            Request::DelAddr(a) => (RTM_DELADDR, 0, Body::Addr(a.clone())),
            Request::GetAddr(a) => (RTM_GETADDR, NLM_F_DUMP, Body::Addr(a.clone())),
            Request::SetLink(l) => (RTM_NEWLINK, 0, Body::Link(l.clone())),
            Request::GetLink(l, d) => (RTM_GETLINK, dump(*d), Body::Link(l.clone())),
            Request::NewQdisc(c, q) => (RTM_NEWQDISC, c.flags(), Body::Qdisc(q.clone())),
            Request::DelQdisc(q) => (RTM_DELQDISC, 0, Body::Qdisc(q.clone())),
            Request::GetQdisc(q) => (RTM_GETQDISC, NLM_F_DUMP, Body::Qdisc(q.clone())),
            Request::GetStatus => (FR_GETSTATUS, 0, Body::Empty),
            Request::GetStatusAttrs => (FR_GETSTATUS_ATTRS, 0, Body::Empty),
            Request::GetCounters => (FR_GETCOUNTERS, 0, Body::Empty),
            Request::GetConfig => (FR_GETCONFIG, 0, Body::Empty),
            Request::BatchBegin => (FR_BATCH_BEGIN, 0, Body::Empty),
            Request::BatchEnd => (FR_BATCH_END, 0, Body::Empty),
            Request::Monitor(g) => (FR_MONITOR, 0, Body::Groups(*g)),
            Request::Capture(c) => (FR_CAPTURE, 0, Body::CaptureReq(*c)),
            Request::CaptureStop => (FR_CAPTURE_STOP, 0, Body::Empty),
        };
        Message::new(kind, NLM_F_REQUEST | flags | extra, seq, body)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::net::Ipv4Addr;

    #[test]
    fn every_request_survives_the_wire() {
        let route = RouteMsg::new(Ipv4Addr::new(10, 1, 0, 0), 16);
        let neigh = NeighMsg {
            ifindex: 1,
            state: Nud::Permanent,
            dst: Some(Ipv4Addr::new(10, 0, 0, 2)),
            ..NeighMsg::default()
        };
        let addr = AddrMsg {
            ifindex: 1,
            prefix_len: 24,
            local: Some(Ipv4Addr::new(10, 0, 0, 1)),
            label: None,
        };
        let replace = Change {
            if_exists: IfExists::Replace,
            create: false,
        };
        let all = [
            Request::Noop,
            Request::NewRoute(Change::ADD, route.clone()),
            Request::NewRoute(replace, route.clone()),
            Request::DelRoute(route.clone()),
            Request::GetRoute(route.clone()),
            Request::DumpRoutes(route),
            Request::NewNeigh(Change::ADD, neigh.clone()),
            Request::DelNeigh(neigh.clone()),
            Request::GetNeigh(neigh.clone(), true),
            Request::GetNeigh(neigh, false),
            Request::NewAddr(Change::ADD, addr.clone()),
            Request::DelAddr(addr.clone()),
            Request::GetAddr(addr),
            Request::SetLink(LinkMsg::default()),
            Request::GetLink(LinkMsg::default(), true),
            Request::NewQdisc(Change::ADD, QdiscMsg::default()),
            Request::DelQdisc(QdiscMsg::default()),
            Request::GetQdisc(QdiscMsg::default()),
            Request::GetStatus,
            Request::GetCounters,
            Request::GetConfig,
            Request::BatchBegin,
            Request::BatchEnd,
            Request::Monitor(RTMGRP_ALL),
            Request::CaptureStop,
        ];
        for r in all {
            let bytes = r.to_message(NLM_F_ACK, 7).to_bytes();
            let Decoded::Msg(m, _) = Message::decode(&bytes) else {
                panic!("{r:?} does not decode");
            };
            assert_eq!(Request::from_message(&m), Ok(r));
        }
    }

    #[test]
    fn flags_decode_as_iproute2_sends_them() {
        let c = |f| Change::from_flags(NLM_F_REQUEST | f);
        assert_eq!(c(NLM_F_CREATE | NLM_F_EXCL), Change::ADD);
        assert_eq!(
            c(NLM_F_CREATE | NLM_F_APPEND),
            Change {
                if_exists: IfExists::Append,
                create: true
            }
        );
        assert_eq!(c(NLM_F_REPLACE).if_exists, IfExists::Replace);
        assert!(!c(NLM_F_REPLACE).create);
        assert_eq!(c(NLM_F_CREATE).if_exists, IfExists::Prepend);
    }

    #[test]
    fn replies_are_not_requests() {
        let done = Message::done(3);
        let e = Request::from_message(&done).unwrap_err();
        assert_eq!(e.errno, errno::EINVAL);
        let wrong = Message::new(RTM_NEWROUTE, 0, 1, Body::Empty);
        assert_eq!(
            Request::from_message(&wrong).unwrap_err().errno,
            errno::EINVAL
        );
    }
}
