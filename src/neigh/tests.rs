//! State-machine tests on a simulated clock; packets are `u32` ids.

use super::*;
use std::collections::HashSet;

type Out = Vec<NeighAction<u32>>;

const M1: MacAddr = MacAddr([2, 0, 0, 0, 0, 1]);
const M2: MacAddr = MacAddr([2, 0, 0, 0, 0, 2]);

fn key(port: PortId, last: u8) -> NeighKey {
    NeighKey::new(port, Ipv4Addr::new(10, 0, port as u8, last))
}
const A: NeighKey = NeighKey {
    port: 1,
    ip: Ipv4Addr::new(10, 0, 1, 1),
};
const B: NeighKey = NeighKey {
    port: 1,
    ip: Ipv4Addr::new(10, 0, 1, 2),
};
const C: NeighKey = NeighKey {
    port: 1,
    ip: Ipv4Addr::new(10, 0, 1, 3),
};

fn table() -> NeighTable<u32> {
    NeighTable::new(NeighParams::default())
}

fn bcast(k: NeighKey) -> NeighAction<u32> {
    NeighAction::SendRequest {
        port: k.port,
        target: k.ip,
        dst: None,
    }
}

fn ucast(k: NeighKey, mac: MacAddr) -> NeighAction<u32> {
    NeighAction::SendRequest {
        port: k.port,
        target: k.ip,
        dst: Some(mac),
    }
}

fn tx(k: NeighKey, mac: MacAddr, pkt: u32) -> NeighAction<u32> {
    NeighAction::Transmit {
        port: k.port,
        mac,
        pkt,
    }
}

fn dropped(pkt: u32, reason: DropReason) -> NeighAction<u32> {
    NeighAction::Dropped { pkt, reason }
}

fn state(t: &NeighTable<u32>, k: NeighKey) -> Option<NeighState> {
    t.get(k).map(|i| i.state)
}

/// Tick at every deadline up to and including `to`, then at `to`.
fn run_until(t: &mut NeighTable<u32>, to: u64, out: &mut Out) {
    while let Some(d) = t.next_deadline() {
        if d > to {
            break;
        }
        t.tick(d, out);
    }
    t.tick(to, out);
}

/// Resolve `k` at `now` with packet `pkt` and answer with a reply from `mac`.
fn learn(t: &mut NeighTable<u32>, now: u64, k: NeighKey, mac: MacAddr) {
    let mut out = Out::new();
    t.resolve(now, k, 0, &mut out);
    t.on_arp(now, k, mac, ArpKind::Reply, &mut out);
    assert_eq!(out, vec![bcast(k), tx(k, mac, 0)]);
}

#[test]
fn state_names() {
    use NeighState::*;
    let all = [
        Incomplete, Reachable, Stale, Delay, Probe, Failed, Permanent,
    ];
    let names: Vec<&str> = all.iter().map(|s| s.name()).collect();
    assert_eq!(
        names,
        [
            "INCOMPLETE",
            "REACHABLE",
            "STALE",
            "DELAY",
            "PROBE",
            "FAILED",
            "PERMANENT"
        ]
    );
    assert_eq!(Probe.to_string(), "PROBE");
    let usable: Vec<_> = all.iter().filter(|s| s.is_usable()).collect();
    assert_eq!(usable, [&Reachable, &Stale, &Delay, &Probe, &Permanent]);
    assert_eq!(NeighState::ALL, all);
    for (i, s) in all.iter().enumerate() {
        assert_eq!(s.index(), i);
    }
}

#[test]
fn count_by_state() {
    let mut t = table();
    let mut out = Out::new();
    assert_eq!(t.count_by_state(), [0; 7]);
    learn(&mut t, 0, A, M1);
    t.resolve(0, B, 7, &mut out);
    t.add_static(C, M2, &mut out);
    let n = t.count_by_state();
    assert_eq!(n[NeighState::Reachable.index()], 1);
    assert_eq!(n[NeighState::Incomplete.index()], 1);
    assert_eq!(n[NeighState::Permanent.index()], 1);
    assert_eq!(n.iter().sum::<usize>(), t.len());
}

#[test]
fn resolution_success_flushes_in_order() {
    let mut t = table();
    let mut out = Out::new();
    t.resolve(0, A, 1, &mut out);
    assert_eq!(out, vec![bcast(A)]);
    out.clear();
    t.resolve(10, A, 2, &mut out);
    t.resolve(20, A, 3, &mut out);
    assert!(out.is_empty(), "one request per resolution, not per packet");
    assert_eq!(t.held_packets(), 3);
    assert_eq!(state(&t, A), Some(NeighState::Incomplete));
    assert_eq!(t.get(A).unwrap().mac, None);
    // Not usable, but awaited: the workers let A's ARP through as the router's own.
    assert!(t.is_dirty());
    let snap = t.snapshot();
    assert!(snap.lookup(A.port, A.ip).is_none());
    assert!(snap.knows(A.port, A.ip));
    assert!(!snap.knows(B.port, B.ip));

    t.on_arp(50, A, M1, ArpKind::Reply, &mut out);
    assert_eq!(out, vec![tx(A, M1, 1), tx(A, M1, 2), tx(A, M1, 3)]);
    assert_eq!(state(&t, A), Some(NeighState::Reachable));
    assert_eq!(t.held_packets(), 0);
    assert!(t.is_dirty());
    let snap = t.snapshot();
    assert!(!t.is_dirty());
    assert_eq!(snap.len(), 1);
    assert_eq!(snap.lookup(A.port, A.ip).map(|h| h.mac()), Some(M1));
    assert!(snap.lookup(2, A.ip).is_none(), "keyed by port too");
    // A late miss (worker had an older snapshot) is sent at once.
    out.clear();
    t.resolve(60, A, 4, &mut out);
    assert_eq!(out, vec![tx(A, M1, 4)]);
    assert_eq!(state(&t, A), Some(NeighState::Reachable));
}

#[test]
fn retransmission_count_and_timing() {
    let params = NeighParams {
        mcast_probes: 5,
        retrans_ms: 200,
        ..NeighParams::default()
    };
    let mut t = NeighTable::<u32>::new(params);
    let mut out = Out::new();
    t.resolve(1000, A, 1, &mut out);
    let mut sent = vec![1000];
    out.clear();
    assert_eq!(t.next_deadline(), Some(1200));
    for now in 1001..=3000 {
        t.tick(now, &mut out);
        for a in out.drain(..) {
            match a {
                NeighAction::SendRequest { dst: None, .. } => sent.push(now),
                NeighAction::Unreachable { pkt: 1 } => {
                    assert_eq!(now, 2000, "fails retrans_ms after the last request");
                    assert_eq!(state(&t, A), Some(NeighState::Failed));
                }
                other => panic!("unexpected {other:?}"),
            }
        }
    }
    assert_eq!(sent, [1000, 1200, 1400, 1600, 1800]);
}

#[test]
fn failure_makes_held_packets_unreachable() {
    let mut t = table();
    let mut out = Out::new();
    t.resolve(0, A, 1, &mut out);
    t.resolve(0, A, 2, &mut out);
    out.clear();
    t.tick(999, &mut out);
    assert!(out.is_empty());
    t.tick(1000, &mut out);
    t.tick(2000, &mut out);
    assert_eq!(out, vec![bcast(A), bcast(A)]);
    assert_eq!(t.get(A).unwrap().probes, 3);
    out.clear();
    t.tick(2999, &mut out);
    assert!(out.is_empty());
    t.tick(3000, &mut out);
    assert_eq!(
        out,
        vec![
            NeighAction::Unreachable { pkt: 1 },
            NeighAction::Unreachable { pkt: 2 }
        ]
    );
    assert_eq!(state(&t, A), Some(NeighState::Failed));
    assert_eq!(t.held_packets(), 0);
    assert!(t.is_dirty(), "no longer awaited");
    let snap = t.snapshot();
    assert!(snap.is_empty());
    assert!(!snap.knows(A.port, A.ip));
    out.clear();
    run_until(&mut t, 20_000, &mut out);
    assert!(out.is_empty(), "no more requests once FAILED");
}

#[test]
fn zero_mcast_probes_fails_at_once() {
    let params = NeighParams {
        mcast_probes: 0,
        ..NeighParams::default()
    };
    let mut t = NeighTable::<u32>::new(params);
    let mut out = Out::new();
    t.resolve(0, A, 7, &mut out);
    assert_eq!(out, vec![NeighAction::Unreachable { pkt: 7 }]);
    assert_eq!(state(&t, A), Some(NeighState::Failed));
}

#[test]
fn hold_queue_overflow_drops_oldest() {
    let params = NeighParams {
        hold_queue: 3,
        ..NeighParams::default()
    };
    let mut t = NeighTable::<u32>::new(params);
    let mut out = Out::new();
    for p in 1..=5 {
        t.resolve(0, A, p, &mut out);
    }
    assert_eq!(
        out,
        vec![
            bcast(A),
            dropped(1, DropReason::HoldQueueFull),
            dropped(2, DropReason::HoldQueueFull)
        ]
    );
    assert_eq!(t.held_packets(), 3);
    assert_eq!(t.get(A).unwrap().queued, 3);
    out.clear();
    t.on_arp(5, A, M1, ArpKind::Reply, &mut out);
    assert_eq!(out, vec![tx(A, M1, 3), tx(A, M1, 4), tx(A, M1, 5)]);
}

#[test]
fn hold_total_bounds_all_queues() {
    let params = NeighParams {
        hold_queue: 3,
        hold_total: 4,
        ..NeighParams::default()
    };
    let mut t = NeighTable::<u32>::new(params);
    let mut out = Out::new();
    for p in 1..=3 {
        t.resolve(0, A, p, &mut out);
    }
    t.resolve(0, B, 4, &mut out);
    out.clear();
    assert_eq!(t.held_packets(), 4);
    // Full: B drops its own oldest...
    t.resolve(0, B, 5, &mut out);
    assert_eq!(out, vec![dropped(4, DropReason::HoldQueueFull)]);
    out.clear();
    // ...and C, holding nothing, cannot hold its packet but still resolves.
    t.resolve(0, C, 6, &mut out);
    assert_eq!(out, vec![dropped(6, DropReason::HoldQueueFull), bcast(C)]);
    assert_eq!(t.held_packets(), 4);
    assert_eq!(state(&t, C), Some(NeighState::Incomplete));
}

#[test]
fn reachable_goes_stale_after_reachable_ms() {
    let mut t = table();
    let mut out = Out::new();
    learn(&mut t, 100, A, M1);
    let _ = t.snapshot();
    run_until(&mut t, 100 + 30_000 - 1, &mut out);
    assert_eq!(state(&t, A), Some(NeighState::Reachable));
    t.tick(100 + 30_000, &mut out);
    assert_eq!(state(&t, A), Some(NeighState::Stale));
    assert!(out.is_empty(), "going STALE sends nothing");
    assert!(!t.is_dirty(), "STALE is still usable");
    assert_eq!(t.snapshot().lookup(A.port, A.ip).map(|h| h.mac()), Some(M1));
}

#[test]
fn reply_reconfirms_reachable() {
    let mut t = table();
    let mut out = Out::new();
    learn(&mut t, 0, A, M1);
    run_until(&mut t, 20_000, &mut out);
    t.on_arp(20_000, A, M1, ArpKind::Reply, &mut out);
    assert_eq!(t.get(A).unwrap().age_ms, 0);
    run_until(&mut t, 49_999, &mut out);
    assert_eq!(state(&t, A), Some(NeighState::Reachable));
    run_until(&mut t, 50_000, &mut out);
    assert_eq!(state(&t, A), Some(NeighState::Stale));
    assert!(out.is_empty());
}

#[test]
fn stale_used_delay_probe_then_reply() {
    let mut t = table();
    let mut out = Out::new();
    learn(&mut t, 0, A, M1);
    let snap = t.snapshot();
    snap.lookup(A.port, A.ip).unwrap().mark_used(); // use while REACHABLE: not counted
    run_until(&mut t, 30_000, &mut out);
    assert_eq!(state(&t, A), Some(NeighState::Stale));
    run_until(&mut t, 31_000, &mut out);
    assert_eq!(state(&t, A), Some(NeighState::Stale), "unused STALE stays");

    snap.lookup(A.port, A.ip).unwrap().mark_used();
    run_until(&mut t, 31_100, &mut out);
    assert_eq!(state(&t, A), Some(NeighState::Delay));
    assert!(!snap.hot_arc(A).unwrap().is_used(), "flag cleared");
    run_until(&mut t, 31_100 + 4_999, &mut out);
    assert_eq!(state(&t, A), Some(NeighState::Delay));
    assert!(out.is_empty());

    t.tick(36_100, &mut out);
    assert_eq!(state(&t, A), Some(NeighState::Probe));
    assert_eq!(out, vec![ucast(A, M1)]);
    out.clear();
    run_until(&mut t, 37_100, &mut out);
    assert_eq!(out, vec![ucast(A, M1)]);
    assert_eq!(t.get(A).unwrap().probes, 2);
    out.clear();

    t.on_arp(37_500, A, M1, ArpKind::Reply, &mut out);
    assert!(out.is_empty());
    assert_eq!(state(&t, A), Some(NeighState::Reachable));
    assert_eq!(t.get(A).unwrap().probes, 0);
    assert!(!t.is_dirty(), "usable throughout, same MAC");
    run_until(&mut t, 37_500 + 29_999, &mut out);
    assert_eq!(state(&t, A), Some(NeighState::Reachable));
    assert!(out.is_empty());
}

#[test]
fn reply_during_delay_confirms() {
    let mut t = table();
    let mut out = Out::new();
    learn(&mut t, 0, A, M1);
    run_until(&mut t, 30_000, &mut out);
    t.resolve(30_000, A, 9, &mut out); // use through STALE -> DELAY
    assert_eq!(out, vec![tx(A, M1, 9)]);
    assert_eq!(state(&t, A), Some(NeighState::Delay));
    out.clear();
    t.on_arp(32_000, A, M1, ArpKind::Reply, &mut out);
    assert_eq!(state(&t, A), Some(NeighState::Reachable));
    run_until(&mut t, 40_000, &mut out);
    assert!(out.is_empty(), "no probes after confirmation");
}

#[test]
fn probe_unanswered_fails() {
    let mut t = table();
    let mut out = Out::new();
    learn(&mut t, 0, A, M1);
    let snap = t.snapshot();
    run_until(&mut t, 30_000, &mut out);
    snap.lookup(A.port, A.ip).unwrap().mark_used();
    run_until(&mut t, 30_100, &mut out);
    assert_eq!(state(&t, A), Some(NeighState::Delay));
    run_until(&mut t, 35_100, &mut out);
    assert_eq!(state(&t, A), Some(NeighState::Probe));
    run_until(&mut t, 38_099, &mut out);
    assert_eq!(out, vec![ucast(A, M1); 3]);
    assert!(!t.is_dirty());
    out.clear();
    t.tick(38_100, &mut out);
    assert!(out.is_empty());
    assert_eq!(state(&t, A), Some(NeighState::Failed));
    assert_eq!(t.get(A).unwrap().mac, None);
    assert!(t.is_dirty());
    assert!(t.snapshot().lookup(A.port, A.ip).is_none());
    // New traffic restarts broadcast resolution.
    t.resolve(40_000, A, 5, &mut out);
    assert_eq!(out, vec![bcast(A)]);
}

#[test]
fn request_from_unknown_host_creates_stale() {
    let mut t = table();
    let mut out = Out::new();
    t.on_arp(0, B, M2, ArpKind::Request, &mut out);
    assert!(out.is_empty());
    assert_eq!(state(&t, B), Some(NeighState::Stale));
    assert!(t.is_dirty());
    assert_eq!(t.snapshot().lookup(B.port, B.ip).map(|h| h.mac()), Some(M2));
    // Used by traffic: DELAY, then PROBE with unicast requests.
    t.resolve(10, B, 1, &mut out);
    assert_eq!(out, vec![tx(B, M2, 1)]);
    assert_eq!(state(&t, B), Some(NeighState::Delay));
}

#[test]
fn unsolicited_reply_is_ignored() {
    let mut t = table();
    let mut out = Out::new();
    t.on_arp(0, C, M1, ArpKind::Reply, &mut out);
    assert!(out.is_empty());
    assert!(t.is_empty());
    assert!(!t.is_dirty());
    assert_eq!(t.next_deadline(), None);
}

#[test]
fn request_on_incomplete_learns_stale_and_counts_as_use() {
    let mut t = table();
    let mut out = Out::new();
    t.resolve(0, A, 1, &mut out);
    t.resolve(0, A, 2, &mut out);
    out.clear();
    t.on_arp(500, A, M1, ArpKind::Request, &mut out);
    assert_eq!(out, vec![tx(A, M1, 1), tx(A, M1, 2)]);
    assert_eq!(state(&t, A), Some(NeighState::Stale));
    out.clear();
    run_until(&mut t, 600, &mut out);
    assert_eq!(state(&t, A), Some(NeighState::Delay));
    assert!(out.is_empty(), "no stray broadcast after resolution");
}

#[test]
fn request_updates_mac_only_when_changed() {
    let mut t = table();
    let mut out = Out::new();
    learn(&mut t, 0, A, M1);
    let s1 = t.snapshot();
    t.on_arp(10, A, M1, ArpKind::Request, &mut out);
    assert_eq!(
        state(&t, A),
        Some(NeighState::Reachable),
        "same MAC keeps state"
    );
    assert!(!t.is_dirty());
    t.on_arp(20, A, M2, ArpKind::Request, &mut out);
    assert_eq!(state(&t, A), Some(NeighState::Stale));
    assert_eq!(t.get(A).unwrap().mac, Some(M2));
    assert!(t.is_dirty());
    let s2 = t.snapshot();
    assert_eq!(s2.lookup(A.port, A.ip).unwrap().mac(), M2);
    assert_eq!(
        s1.lookup(A.port, A.ip).unwrap().mac(),
        M1,
        "old snapshot intact"
    );
    // A reply with yet another MAC: REACHABLE with that MAC.
    t.on_arp(30, A, M1, ArpKind::Reply, &mut out);
    assert_eq!(state(&t, A), Some(NeighState::Reachable));
    assert_eq!(t.snapshot().lookup(A.port, A.ip).unwrap().mac(), M1);
    assert!(out.is_empty());
}

#[test]
fn reply_revives_failed_entry() {
    let mut t = table();
    let mut out = Out::new();
    t.resolve(0, A, 1, &mut out);
    run_until(&mut t, 3_000, &mut out);
    assert_eq!(state(&t, A), Some(NeighState::Failed));
    t.on_arp(4_000, A, M1, ArpKind::Reply, &mut out);
    assert_eq!(state(&t, A), Some(NeighState::Reachable));
    assert!(t.is_dirty());
}

#[test]
fn bogus_arp_is_ignored() {
    let mut t = table();
    let mut out = Out::new();
    let zero_ip = NeighKey::new(1, Ipv4Addr::UNSPECIFIED);
    let bcast_ip = NeighKey::new(1, Ipv4Addr::BROADCAST);
    let mcast_ip = NeighKey::new(1, Ipv4Addr::new(224, 0, 0, 1));
    for k in [zero_ip, bcast_ip, mcast_ip] {
        t.on_arp(0, k, M1, ArpKind::Request, &mut out);
    }
    for mac in [
        MacAddr::ZERO,
        MacAddr::BROADCAST,
        MacAddr([1, 0, 0x5e, 0, 0, 1]),
    ] {
        t.on_arp(0, A, mac, ArpKind::Request, &mut out);
    }
    assert!(t.is_empty());
    t.resolve(0, B, 1, &mut out);
    t.on_arp(0, B, MacAddr::BROADCAST, ArpKind::Reply, &mut out);
    assert_eq!(state(&t, B), Some(NeighState::Incomplete));
    assert_eq!(out, vec![bcast(B)]);
}

#[test]
fn static_entry_immune_to_arp_and_timers() {
    let mut t = table();
    let mut out = Out::new();
    t.add_static(A, M1, &mut out);
    assert!(out.is_empty());
    assert!(t.is_dirty());
    let s1 = t.snapshot();
    t.on_arp(10, A, M2, ArpKind::Reply, &mut out);
    t.on_arp(20, A, M2, ArpKind::Request, &mut out);
    s1.lookup(A.port, A.ip).unwrap().mark_used();
    assert_eq!(t.next_deadline(), None);
    t.tick(1_000_000_000, &mut out);
    assert!(out.is_empty());
    assert!(!t.is_dirty());
    let info = t.get(A).unwrap();
    assert_eq!((info.state, info.mac), (NeighState::Permanent, Some(M1)));
    t.resolve(1_000_000_001, A, 1, &mut out);
    assert_eq!(out, vec![tx(A, M1, 1)]);
    assert_eq!(state(&t, A), Some(NeighState::Permanent));
}

#[test]
fn add_static_flushes_held_packets() {
    let mut t = table();
    let mut out = Out::new();
    t.resolve(0, B, 1, &mut out);
    t.resolve(0, B, 2, &mut out);
    out.clear();
    t.add_static(B, M2, &mut out);
    assert_eq!(out, vec![tx(B, M2, 1), tx(B, M2, 2)]);
    assert_eq!(t.held_packets(), 0);
    out.clear();
    run_until(&mut t, 100_000, &mut out);
    assert!(out.is_empty(), "resolution stopped");
    // Replacing a learned entry keeps its Arc when the MAC is the same.
    learn(&mut t, 100_000, C, M1);
    let s = t.snapshot();
    t.add_static(C, M1, &mut out);
    assert!(!t.is_dirty());
    assert!(Arc::ptr_eq(
        s.hot_arc(C).unwrap(),
        t.snapshot().hot_arc(C).unwrap()
    ));
    assert!(t.delete(C, &mut out));
    assert!(t.delete(B, &mut out));
    assert_eq!(t.core.permanent, 0);
}

#[test]
fn delete_drops_held_packets() {
    let mut t = table();
    let mut out = Out::new();
    t.resolve(0, A, 1, &mut out);
    t.resolve(0, A, 2, &mut out);
    out.clear();
    assert!(t.delete(A, &mut out));
    assert_eq!(
        out,
        vec![
            dropped(1, DropReason::Deleted),
            dropped(2, DropReason::Deleted)
        ]
    );
    assert_eq!(t.held_packets(), 0);
    assert_eq!(t.next_deadline(), None);
    assert!(!t.delete(A, &mut out));
    // Deleting a usable entry dirties the table.
    learn(&mut t, 0, B, M2);
    let _ = t.snapshot();
    assert!(t.delete(B, &mut out));
    assert!(t.is_dirty());
    assert!(t.snapshot().is_empty());
}

#[test]
fn dirty_flag_and_arc_reuse() {
    let mut t = table();
    let mut out = Out::new();
    assert!(!t.is_dirty());
    learn(&mut t, 0, A, M1);
    assert!(t.is_dirty());
    let s1 = t.snapshot();
    assert!(!t.is_dirty());
    // Re-confirmation and state changes inside the usable set: not dirty, same Arc.
    t.on_arp(10, A, M1, ArpKind::Reply, &mut out);
    run_until(&mut t, 30_010, &mut out);
    assert_eq!(state(&t, A), Some(NeighState::Stale));
    assert!(!t.is_dirty());
    let s2 = t.snapshot();
    assert!(Arc::ptr_eq(s1.hot_arc(A).unwrap(), s2.hot_arc(A).unwrap()));
    // A worker marking the entry through the published snapshot is seen by tick.
    s2.lookup(A.port, A.ip).unwrap().mark_used();
    run_until(&mut t, 30_110, &mut out);
    assert_eq!(state(&t, A), Some(NeighState::Delay));
    // A MAC change: dirty, new Arc.
    t.on_arp(30_200, A, M2, ArpKind::Reply, &mut out);
    assert!(t.is_dirty());
    let s3 = t.snapshot();
    assert!(!Arc::ptr_eq(s2.hot_arc(A).unwrap(), s3.hot_arc(A).unwrap()));
    assert_eq!(s3.lookup(A.port, A.ip).unwrap().mac(), M2);
    // A new INCOMPLETE entry dirties it (the awaited set); packets held for it do not.
    out.clear();
    t.resolve(30_300, B, 1, &mut out);
    assert_eq!(out, vec![bcast(B)]);
    assert!(t.is_dirty());
    assert!(t.snapshot().knows(B.port, B.ip));
    t.resolve(30_310, B, 2, &mut out);
    assert!(!t.is_dirty());
}

#[test]
fn failed_entry_gc_and_restart() {
    let mut t = table();
    let mut out = Out::new();
    t.resolve(0, A, 1, &mut out);
    t.resolve(0, B, 2, &mut out);
    run_until(&mut t, 3_000, &mut out);
    assert_eq!(state(&t, A), Some(NeighState::Failed));
    assert_eq!(state(&t, B), Some(NeighState::Failed));
    out.clear();

    // B gets traffic again: back to INCOMPLETE with fresh probes.
    t.resolve(10_000, B, 3, &mut out);
    assert_eq!(out, vec![bcast(B)]);
    assert_eq!(state(&t, B), Some(NeighState::Incomplete));
    assert_eq!(t.get(B).unwrap().probes, 1);
    out.clear();

    run_until(&mut t, 32_999, &mut out);
    assert!(t.get(A).is_some());
    run_until(&mut t, 33_000, &mut out);
    assert!(t.get(A).is_none(), "FAILED removed after failed_gc_ms");
    // B failed again at 13000 and lingers until 43000.
    assert_eq!(state(&t, B), Some(NeighState::Failed));
    assert_eq!(
        out,
        vec![bcast(B), bcast(B), NeighAction::Unreachable { pkt: 3 }]
    );
    run_until(&mut t, 43_000, &mut out);
    assert!(t.is_empty());
    assert_eq!(t.next_deadline(), None);
}

#[test]
fn unused_stale_is_collected() {
    let mut t = table();
    let mut out = Out::new();
    t.on_arp(0, B, M2, ArpKind::Request, &mut out);
    let _ = t.snapshot();
    run_until(&mut t, 59_999, &mut out);
    assert_eq!(state(&t, B), Some(NeighState::Stale));
    run_until(&mut t, 60_000, &mut out);
    assert!(t.get(B).is_none());
    assert!(t.is_dirty());
    assert!(out.is_empty());
}

#[test]
fn table_limit_evicts_failed_then_old_stale_then_refuses() {
    let params = NeighParams {
        max_entries: 2,
        ..NeighParams::default()
    };
    let mut t = NeighTable::<u32>::new(params);
    let mut out = Out::new();
    t.add_static(key(2, 1), M1, &mut out); // permanent entries do not count
    t.on_arp(0, A, M1, ArpKind::Request, &mut out);
    t.on_arp(10, B, M2, ArpKind::Request, &mut out);
    // Both STALE, but updated in the last 5 s: spared, the newcomer is refused
    // (Linux neigh_forced_gc), as are the ones after it.
    t.resolve(20, C, 1, &mut out);
    assert_eq!(out, vec![dropped(1, DropReason::TableFull)]);
    t.on_arp(30, key(1, 6), M1, ArpKind::Request, &mut out);
    assert!(t.get(key(1, 6)).is_none());
    assert!(t.get(A).is_some() && t.get(B).is_some());
    // A is older than 5 s now: the oldest STALE goes; B (updated at 10) is still spared.
    out.clear();
    t.resolve(GC_PROTECT_MS + 5, C, 2, &mut out);
    assert!(t.get(A).is_none(), "oldest STALE evicted");
    assert_eq!(out, vec![bcast(C)]);
    out.clear();
    t.resolve(GC_PROTECT_MS + 6, key(1, 4), 3, &mut out);
    assert_eq!(out, vec![dropped(3, DropReason::TableFull)]);
    // A STALE entry in use (a worker sent through it) is spared too.
    t.snapshot().lookup(B.port, B.ip).unwrap().mark_used();
    out.clear();
    t.resolve(GC_PROTECT_MS + 20, key(1, 4), 4, &mut out);
    assert_eq!(out, vec![dropped(4, DropReason::TableFull)]);
    assert!(t.get(B).is_some());
    assert_eq!(t.len(), 3);
    // C fails: it is now the first to go, whatever its age.
    run_until(&mut t, GC_PROTECT_MS + 3_010, &mut out);
    assert_eq!(state(&t, C), Some(NeighState::Failed));
    t.on_arp(
        GC_PROTECT_MS + 3_020,
        key(1, 6),
        M1,
        ArpKind::Request,
        &mut out,
    );
    assert!(t.get(C).is_none());
    assert_eq!(state(&t, key(1, 6)), Some(NeighState::Stale));
}

#[test]
fn flush_port_keeps_permanent_and_other_ports() {
    let mut t = table();
    let mut out = Out::new();
    t.add_static(key(1, 9), M1, &mut out);
    learn(&mut t, 0, key(2, 1), M2);
    learn(&mut t, 0, A, M1);
    t.resolve(0, B, 7, &mut out);
    out.clear();
    assert_eq!(t.flush_port(1, &mut out), 2);
    assert_eq!(out, vec![dropped(7, DropReason::Deleted)]);
    let keys: Vec<NeighKey> = t.dump().iter().map(|i| i.key).collect();
    assert_eq!(keys, vec![key(1, 9), key(2, 1)]);
    assert_eq!(t.held_packets(), 0);
}

#[test]
fn snapshot_lookup_many() {
    let mut t = table();
    let mut out = Out::new();
    for port in 0..4u16 {
        for last in 1..=200u8 {
            t.add_static(
                key(port, last),
                MacAddr([2, 0, 0, 0, port as u8, last]),
                &mut out,
            );
        }
    }
    let s = t.snapshot();
    assert_eq!(s.len(), 800);
    for port in 0..4u16 {
        for last in 1..=200u8 {
            let k = key(port, last);
            assert_eq!(
                s.lookup(k.port, k.ip).map(|h| h.mac()),
                Some(MacAddr([2, 0, 0, 0, port as u8, last]))
            );
        }
        assert!(s
            .lookup(port, Ipv4Addr::new(10, 0, port as u8, 201))
            .is_none());
    }
    assert_eq!(s.iter().count(), 800);
    assert!(NeighSnapshot::default()
        .lookup(0, Ipv4Addr::LOCALHOST)
        .is_none());
}

/// Internal consistency, checked after every step of the random walk.
fn check_invariants(t: &NeighTable<u32>) {
    let p = t.params();
    let mut held = 0;
    let mut armed = 0;
    let mut permanent = 0;
    for (k, e) in &t.entries {
        held += e.queue.len();
        assert!(e.queue.len() <= p.hold_queue);
        assert!(
            e.queue.is_empty() || e.state == NeighState::Incomplete,
            "{k}"
        );
        assert_eq!(e.hot.is_some(), e.state.is_usable(), "{k} {:?}", e.state);
        if let Some(d) = e.deadline {
            armed += 1;
            assert!(t.core.timers.contains(&(d, *k)));
        } else {
            assert_eq!(e.state, NeighState::Permanent, "{k} has no timer");
        }
        assert!(e.probes <= p.mcast_probes.max(p.ucast_probes));
        if e.state == NeighState::Permanent {
            permanent += 1;
        }
    }
    assert_eq!(held, t.held_packets());
    assert!(held <= p.hold_total);
    assert_eq!(armed, t.core.timers.len());
    assert_eq!(permanent, t.core.permanent);
    assert!(t.len() - permanent <= p.max_entries);
}

#[test]
fn random_walk_conserves_packets() {
    let params = NeighParams {
        hold_queue: 4,
        hold_total: 10,
        max_entries: 8,
        reachable_ms: 3_000,
        delay_probe_ms: 500,
        gc_stale_ms: 6_000,
        failed_gc_ms: 3_000,
        ..NeighParams::default()
    };
    let mut t = NeighTable::<u32>::new(params);
    let mut rng: u64 = 0x2545_f491_4f6c_dd1d;
    let mut next = move |n: u64| {
        rng ^= rng << 13;
        rng ^= rng >> 7;
        rng ^= rng << 17;
        rng % n
    };
    let keys: Vec<NeighKey> = (0..2u16)
        .flat_map(|p| (1..=6u8).map(move |l| key(p, l)))
        .collect();
    let macs = [M1, M2, MacAddr([2, 0, 0, 0, 0, 3])];
    let mut now = 0u64;
    let mut next_pkt = 0u32;
    let mut outstanding: HashSet<u32> = HashSet::new();
    let mut snap = t.snapshot();
    let mut out = Out::new();
    let mut seen: Vec<NeighState> = Vec::new();
    for _ in 0..20_000 {
        let k = keys[next(keys.len() as u64) as usize];
        let mac = macs[next(3) as usize];
        match next(100) {
            0..=39 => {
                outstanding.insert(next_pkt);
                t.resolve(now, k, next_pkt, &mut out);
                next_pkt += 1;
            }
            40..=59 => {
                let kind = if next(2) == 0 {
                    ArpKind::Reply
                } else {
                    ArpKind::Request
                };
                t.on_arp(now, k, mac, kind, &mut out);
            }
            60..=84 => {
                now += next(700);
                t.tick(now, &mut out);
            }
            85..=89 => {
                if let Some(h) = snap.lookup(k.port, k.ip) {
                    h.mark_used();
                }
            }
            90 => t.add_static(k, mac, &mut out),
            91..=93 => {
                t.delete(k, &mut out);
            }
            94 => {
                t.flush_port(k.port, &mut out);
            }
            _ => {
                if t.is_dirty() {
                    snap = t.snapshot();
                }
            }
        }
        for a in out.drain(..) {
            match a {
                NeighAction::Transmit { pkt, .. }
                | NeighAction::Unreachable { pkt }
                | NeighAction::Dropped { pkt, .. } => {
                    assert!(outstanding.remove(&pkt), "packet {pkt} returned twice");
                }
                NeighAction::SendRequest { .. } => {}
            }
        }
        check_invariants(&t);
        assert_eq!(outstanding.len(), t.held_packets());
        for i in t.dump() {
            if !seen.contains(&i.state) {
                seen.push(i.state);
            }
        }
        // The snapshot always mirrors the usable set.
        if !t.is_dirty() {
            let s = t.snapshot();
            let usable: Vec<_> = t.dump().into_iter().filter(|i| i.mac.is_some()).collect();
            assert_eq!(s.len(), usable.len());
            for i in usable {
                assert_eq!(s.lookup(i.key.port, i.key.ip).map(|h| h.mac()), i.mac);
            }
        }
    }
    assert_eq!(seen.len(), 7, "walk visited only {seen:?}");
    for k in keys {
        t.delete(k, &mut out);
    }
    for a in out.drain(..) {
        if let NeighAction::Dropped { pkt, .. } = a {
            outstanding.remove(&pkt);
        }
    }
    assert!(outstanding.is_empty());
    assert!(t.is_empty());
    assert_eq!(t.next_deadline(), None);
}

#[test]
fn arp_the_router_needs_is_known_to_the_workers() {
    let mut t = table();
    let mut out = Out::new();
    t.resolve(0, A, 1, &mut out);
    assert!(t.snapshot().knows(A.port, A.ip), "awaited while INCOMPLETE");
    // Answered: REACHABLE, still needed. An entry an unsolicited request made (STALE)
    // is not, until a worker sends through it.
    t.on_arp(30, A, M1, ArpKind::Reply, &mut out);
    t.on_arp(30, B, M2, ArpKind::Request, &mut out);
    let snap = t.snapshot();
    assert!(snap.knows(A.port, A.ip));
    assert!(!snap.knows(B.port, B.ip));
    snap.lookup(B.port, B.ip).unwrap().mark_used();
    assert!(snap.knows(B.port, B.ip));
    // A permanent entry is needed; an unknown address is not.
    t.add_static(C, M1, &mut out);
    let snap = t.snapshot();
    assert!(snap.knows(C.port, C.ip));
    assert!(!snap.knows(9, A.ip));
}
