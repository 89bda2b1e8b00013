//! FIB publication driven by the control API: as `control`, and the FIB is published
//! as the server publishes it (after each unit when bit 0 of the flags octet is set,
//! else once at the end), so the in-place updates of `fib::update` run on whatever
//! route changes the requests make. The same inputs as `control` (its corpus seeds
//! this one). Slow: a first publication builds the whole table.
//!
//! The control API: a byte stream decoded as the server's connection reader does
//! (`Message::decode`, batches grouped between FR_BATCH_BEGIN and FR_BATCH_END) and
//! handled by `Rtnl` against in-memory state (two ports, a neighbour table, no DPDK).
//! Nothing may panic, and:
//! - what decodes encodes back to the same bytes' meaning (decode, encode, decode gives
//!   the same message), and every reply decodes to itself;
//! - every reply carries its request's sequence number, an error is the only reply to
//!   its request and says why;
//! - the FIB published incrementally after the requests answers like one built from
//!   scratch from the same RIB.
//!
//! Input: one flags octet (bit 0: publish after every unit, as the server does after
//! each read; otherwise once at the end), then the stream.
#![no_main]
use arc_swap::ArcSwap;
use ferroute::api::*;
use ferroute::datapath::qdisc::Qdiscs;
use ferroute::datapath::worker::Shared;
use ferroute::datapath::Ports;
use ferroute::fib::Fib;
use ferroute::neigh::{NeighAction, NeighParams, NeighSnapshot, NeighTable};
use ferroute::rtnl::{PortState, Rtnl, TableEnv};
use ferroute::wire::MacAddr;
use libfuzzer_sys::fuzz_target;
use std::net::Ipv4Addr;
use std::sync::atomic::AtomicBool;
use std::sync::{Arc, OnceLock};

/// Messages in one batch at most (the server's MAX_BATCH is larger; inputs are short).
const MAX_BATCH: usize = 1000;

fn empty_fib() -> Arc<Fib> {
    static F: OnceLock<Arc<Fib>> = OnceLock::new();
    Arc::clone(F.get_or_init(|| Arc::new(Fib::default())))
}

fn port(id: u16) -> PortState {
    PortState {
        id,
        name: format!("port{id}"),
        mac: MacAddr([2, 0, 0, 0, 0, id as u8 + 1]),
        addrs: Vec::new(),
        mtu: 1500,
        up: true,
    }
}

enum Unit {
    One(Message),
    Bad(Header, ApiError),
    Batch(Header, Vec<Item>, Header),
}

/// `server::group`.
fn group(item: Item, batch: &mut Option<(Header, Vec<Item>)>, units: &mut Vec<Unit>) {
    match (item, batch.as_mut()) {
        (Ok(m), None) if m.kind == FR_BATCH_BEGIN => *batch = Some((m.header(), Vec::new())),
        (Ok(m), Some(_)) if m.kind == FR_BATCH_END => {
            if let Some((begin, msgs)) = batch.take() {
                units.push(Unit::Batch(begin, msgs, m.header()));
            }
        }
        (item, Some((_, msgs))) => {
            if msgs.len() >= MAX_BATCH {
                if let Some((begin, _)) = batch.take() {
                    units.push(Unit::Bad(
                        begin,
                        ApiError::new(errno::EMSGSIZE, "long batch"),
                    ));
                }
            } else {
                msgs.push(item);
            }
        }
        (Ok(m), None) => units.push(Unit::One(m)),
        (Err((h, e)), None) => units.push(Unit::Bad(h, e)),
    }
}

fn roundtrip(m: &Message) {
    let bytes = m.to_bytes();
    match Message::decode(&bytes) {
        Decoded::Msg(d, used) => {
            assert_eq!(used, bytes.len());
            assert_eq!(&d, m, "re-decoded differently");
        }
        other => panic!("{m:?} encodes to something that decodes as {other:?}"),
    }
}

fn check_replies(h: &Header, replies: &[Message]) {
    for r in replies {
        assert_eq!(r.seq, h.seq, "a reply with another sequence number");
        roundtrip(r);
    }
    if let Some(pos) = replies
        .iter()
        .position(|r| matches!(r.body, Body::Error { errno, .. } if errno != 0))
    {
        assert_eq!(replies.len(), 1, "an error comes alone: {replies:?}");
        let Body::Error { msg, req, .. } = &replies[pos].body else {
            unreachable!()
        };
        assert!(!msg.is_empty(), "errors say why");
        assert_eq!(req, h);
    }
}

fuzz_target!(|data: &[u8]| {
    let Some((&flags, mut buf)) = data.split_first() else {
        return;
    };
    let publish_each = flags & 1 != 0;
    let shared = Arc::new(Shared {
        fib: ArcSwap::new(empty_fib()),
        neigh: ArcSwap::from_pointee(NeighSnapshot::default()),
        ports: ArcSwap::from_pointee(Ports::default()),
        qdisc: Qdiscs::new(1_000_000_000, 1, 8192),
        stop: AtomicBool::new(false),
        capture: Default::default(),
    });
    let mut rtnl = Rtnl::new(shared.clone(), vec![port(0), port(1)]);
    let mut table: NeighTable<u32> = NeighTable::new(NeighParams::default());
    let mut actions: Vec<NeighAction<u32>> = Vec::new();

    // Decode as the connection reader does; a fatal header ends the stream.
    let mut units = Vec::new();
    let mut batch = None;
    loop {
        let (item, used) = match Message::decode(buf) {
            Decoded::Incomplete => break,
            Decoded::Msg(m, used) => {
                roundtrip(&m);
                (Ok(m), used)
            }
            Decoded::Bad(h, e, used) => (Err((h, e)), used),
            Decoded::Fatal(h, e) => {
                units.push(Unit::Bad(h, e));
                break;
            }
        };
        assert!(
            used >= HDR_LEN && used <= buf.len(),
            "decode used {used} of {}",
            buf.len()
        );
        buf = &buf[used..];
        group(item, &mut batch, &mut units);
    }
    if let Some((begin, _)) = batch.take() {
        units.push(Unit::Bad(begin, ApiError::inval("batch not terminated")));
    }

    for u in units {
        let mut env = TableEnv {
            table: &mut table,
            actions: &mut actions,
        };
        let mut out = Vec::new();
        match u {
            Unit::One(m) => {
                rtnl.handle(&m, &mut env, &mut out);
                check_replies(&m.header(), &out);
            }
            Unit::Bad(h, e) => out.push(Message::error(&h, Some(&e))),
            Unit::Batch(begin, msgs, end) => {
                rtnl.handle_batch(&begin, &msgs, &end, &mut env, &mut out);
            }
        }
        for r in &out {
            roundtrip(r);
        }
        if publish_each && rtnl.dirty() {
            rtnl.publish_fib();
        }
    }
    rtnl.publish_fib();

    // The published FIB (built once, then updated in place) against a fresh build.
    let fib = shared.fib.load();
    let fresh = rtnl.rib().build_fib(0);
    let mut probes: Vec<u32> = vec![0, u32::MAX];
    for r in rtnl.rib().iter() {
        let a = u32::from(r.prefix.network());
        let b = u32::from(r.prefix.broadcast());
        probes.extend([a, b, a.wrapping_sub(1), b.wrapping_add(1)]);
    }
    for a in probes {
        assert_eq!(
            fib.lookup(a),
            fresh.lookup(a),
            "published FIB and a fresh build disagree on {}",
            Ipv4Addr::from(a)
        );
    }
});
