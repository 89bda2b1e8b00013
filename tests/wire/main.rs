//! Pins the control API's wire format: the exact bytes of real requests (as `Conn` sends
//! them) and of the replies the handlers give, one file per message family. The bytes
//! were captured from the code before the control plane was reorganised (issue 13); any
//! change to them is a change of the protocol, which clients such as `ferroute` of an
//! older build, or a capture reader, would notice.
//!
//! Each case checks three things: the request encodes to the pinned bytes, the pinned
//! bytes decode to the same request, and the handler's replies encode to the pinned
//! reply bytes (which decode and re-encode to themselves).
use arc_swap::ArcSwap;
use ferroute::api::*;
use ferroute::datapath::qdisc::Qdiscs;
use ferroute::datapath::worker::Shared;
use ferroute::datapath::Ports;
use ferroute::fib::Fib;
use ferroute::neigh::{NeighAction, NeighParams, NeighSnapshot, NeighTable};
use ferroute::rtnl::{neigh_request, Env, NeighReq, NeighResp, PortState, Rtnl};
use ferroute::wire::MacAddr;
use std::net::Ipv4Addr;
use std::sync::atomic::AtomicBool;
use std::sync::Arc;

mod address;
mod counters;
mod link;
mod neighbour;
mod qdisc;
mod route;
mod status;

/// Port 0's ifindex (DPDK port id + 1).
pub const P0: u32 = 1;
pub const P1: u32 = 2;
/// The counters the test environment reports, as `ferroute counters` prints them.
pub const COUNTERS: &str =
    "drop ttl_exceeded 3\nport port0 rx_packets 7\nicmp_out time_exceeded 3\n";

/// The counters the test environment reports (see [`COUNTERS`]).
pub fn counters() -> Counters {
    Counters {
        drops: vec![Counter::new("ttl_exceeded", 3)],
        ports: vec![PortCounters {
            name: "port0".into(),
            datapath: vec![Counter::new("rx_packets", 7)],
            pmd: Vec::new(),
        }],
        icmp_out: vec![Counter::new("time_exceeded", 3)],
        ..Counters::default()
    }
}

pub fn ip(s: &str) -> Ipv4Addr {
    s.parse().unwrap()
}

/// A router's API state without DPDK: two ports with 10.0.1.1/24 and 10.0.2.1/24 (added
/// through the API), an in-memory neighbour table, fixed counters.
pub struct Api {
    rtnl: Rtnl,
    env: TestEnv,
}

struct TestEnv {
    table: NeighTable<u32>,
    actions: Vec<NeighAction<u32>>,
}

impl Env for TestEnv {
    fn neigh(&mut self, req: NeighReq) -> Result<NeighResp, ApiError> {
        Ok(neigh_request(&mut self.table, req, &mut self.actions))
    }
    fn set_mtu(&mut self, _port: u16, _mtu: u16) -> Result<(), ApiError> {
        Ok(())
    }
    fn link_running(&self, _port: u16) -> bool {
        true
    }
    fn counters(&self) -> Counters {
        counters()
    }
}

fn port(id: u16) -> PortState {
    PortState {
        id,
        name: format!("port{id}"),
        mac: MacAddr([2, 0, 0, 0, 0, id as u8]),
        addrs: Vec::new(),
        mtu: 1500,
        up: true,
    }
}

impl Default for Api {
    fn default() -> Api {
        let shared = Arc::new(Shared {
            fib: ArcSwap::from_pointee(Fib::default()),
            neigh: ArcSwap::from_pointee(NeighSnapshot::default()),
            ports: ArcSwap::from_pointee(Ports::default()),
            qdisc: Qdiscs::new(1_000_000_000, 1, 8192),
            stop: AtomicBool::new(false),
            capture: Default::default(),
        });
        let mut api = Api {
            rtnl: Rtnl::new(shared, vec![port(0), port(1)]),
            env: TestEnv {
                table: NeighTable::new(NeighParams::default()),
                actions: Vec::new(),
            },
        };
        for (ifindex, a) in [(P0, "10.0.1.1"), (P1, "10.0.2.1")] {
            let body = Body::Addr(AddrMsg {
                ifindex,
                prefix_len: 24,
                local: Some(ip(a)),
                label: None,
            });
            let m = Message::new(
                RTM_NEWADDR,
                NLM_F_REQUEST | NLM_F_CREATE | NLM_F_EXCL,
                0,
                body,
            );
            api.raw(&m.to_bytes());
        }
        api.rtnl.publish_fib();
        api
    }
}

impl Api {
    pub fn new() -> Api {
        Api::default()
    }

    /// Feeds one encoded request to the handlers; the encoded replies.
    pub fn raw(&mut self, req: &[u8]) -> Vec<u8> {
        let mut out = Vec::new();
        match Message::decode(req) {
            Decoded::Msg(m, n) => {
                assert_eq!(n, req.len(), "one message");
                self.rtnl.handle(&m, &mut self.env, &mut out);
            }
            Decoded::Bad(h, e, n) => {
                assert_eq!(n, req.len(), "one message");
                out.push(Message::error(&h, Some(&e)));
            }
            other => panic!("not one message: {other:?}"),
        }
        self.rtnl.publish_fib();
        let mut bytes = Vec::new();
        for m in &out {
            m.encode(&mut bytes);
        }
        bytes
    }

    /// Sends `kind`/`flags`/`body` as `Conn` does (NLM_F_REQUEST added), checks the
    /// request's and the replies' bytes against the pinned ones.
    pub fn exchange(
        &mut self,
        name: &str,
        (kind, flags, seq, body): (u16, u16, u32, Body),
        req_hex: &str,
        reply_hex: &str,
    ) {
        let m = Message::new(kind, flags | NLM_F_REQUEST, seq, body);
        let req = pin(&format!("{name}.request"), &m.to_bytes(), req_hex);
        match Message::decode(&req) {
            Decoded::Msg(d, n) => {
                assert_eq!(n, req.len());
                assert_eq!(d, m, "{name}: the pinned request decodes to the message");
            }
            other => panic!("{name}: pinned request does not decode: {other:?}"),
        }
        let reply = self.raw(&req);
        let reply = pin(&format!("{name}.reply"), &reply, reply_hex);
        assert_eq!(
            reencode(&reply),
            reply,
            "{name}: replies re-encode to themselves"
        );
    }
}

impl Api {
    /// The reply to a request of type `kind` without a body (seq 1), decoded; it must
    /// be the only message.
    pub fn reply(&mut self, kind: u16) -> Message {
        let reply = self.raw(&Message::new(kind, NLM_F_REQUEST, 1, Body::Empty).to_bytes());
        match Message::decode(&reply) {
            Decoded::Msg(m, n) if n == reply.len() => m,
            other => panic!("reply to {kind:#x}: {other:?}"),
        }
    }
}

/// Decodes a stream of messages and encodes them again.
pub fn reencode(mut b: &[u8]) -> Vec<u8> {
    let mut out = Vec::new();
    while !b.is_empty() {
        match Message::decode(b) {
            Decoded::Msg(m, n) => {
                m.encode(&mut out);
                b = &b[n..];
            }
            other => panic!("reply does not decode: {other:?}"),
        }
    }
    out
}

pub fn hex(b: &[u8]) -> String {
    let mut s = String::new();
    for (i, x) in b.iter().enumerate() {
        if i > 0 && i % 4 == 0 {
            s.push(if i % 16 == 0 { '\n' } else { ' ' });
        }
        s.push_str(&format!("{x:02x}"));
    }
    s
}

pub fn unhex(s: &str) -> Vec<u8> {
    let digits: Vec<u8> = s.bytes().filter(|c| !c.is_ascii_whitespace()).collect();
    assert!(digits.len() % 2 == 0, "odd number of hex digits");
    digits
        .chunks(2)
        .map(|p| u8::from_str_radix(std::str::from_utf8(p).unwrap(), 16).expect("hex"))
        .collect()
}

/// Asserts `got` equals the pinned bytes `want` (hex, whitespace ignored); returns them.
/// With FERROUTE_WIRE_CAPTURE=FILE set, appends `name<TAB>hex` to FILE instead (how the
/// bytes were captured from the code before the reorganisation).
pub fn pin(name: &str, got: &[u8], want: &str) -> Vec<u8> {
    if let Ok(path) = std::env::var("FERROUTE_WIRE_CAPTURE") {
        use std::io::Write as _;
        let mut f = std::fs::OpenOptions::new()
            .create(true)
            .append(true)
            .open(path)
            .unwrap();
        writeln!(f, "{name}\t{}", hex(got).replace('\n', " | ")).unwrap();
        return got.to_vec();
    }
    let want = unhex(want);
    assert_eq!(
        hex(got),
        hex(&want),
        "{name}: bytes differ from the pinned ones"
    );
    want
}
