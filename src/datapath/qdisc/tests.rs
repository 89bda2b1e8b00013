//! The tbf with a simulated TSC (1 cycle = 1 ns) and packets that count themselves, so
//! every test also proves that no packet is lost or freed twice.
use super::*;
use crate::datapath::Reason;
use std::cell::Cell;
use std::collections::HashMap;
use std::rc::Rc;

const HZ: u64 = 1_000_000_000;
const PORT: u16 = 1;
const SEC: u64 = HZ;
const MS: u64 = HZ / 1000;
const US: u64 = HZ / 1_000_000;

/// A packet stand-in: its id, enqueue time, and a shared count of live packets.
struct Pkt {
    id: u64,
    born: u64,
    live: Rc<Cell<i64>>,
}

impl Drop for Pkt {
    fn drop(&mut self) {
        self.live.set(self.live.get() - 1);
    }
}

#[derive(Default)]
struct Factory {
    live: Rc<Cell<i64>>,
    next: u64,
}

impl Factory {
    fn pkt(&mut self, now: u64) -> Pkt {
        self.live.set(self.live.get() + 1);
        self.next += 1;
        Pkt {
            id: self.next,
            born: now,
            live: Rc::clone(&self.live),
        }
    }
    fn live(&self) -> i64 {
        self.live.get()
    }
}

fn tbf(rate: &str, burst: &str, limit: Limit) -> TbfParams {
    TbfParams::new(
        parse_rate(rate).unwrap(),
        parse_size(burst).unwrap(),
        limit,
        1514,
    )
    .unwrap()
}

fn ms(n: u64) -> Limit {
    Limit::LatencyUs(n * 1000)
}

/// A table with `p` on PORT shared by `workers`, and one synced QdiscSet per worker.
fn setup(p: TbfParams, workers: u32) -> (Qdiscs, Vec<QdiscSet<Pkt>>) {
    let q = Qdiscs::new(HZ, workers, 100_000);
    q.set(PORT, Some(p)).unwrap();
    let sets = (0..workers)
        .map(|_| {
            let mut s = QdiscSet::default();
            assert!(s.sync(&q, &mut |_, _, _| panic!("nothing to move")));
            s
        })
        .collect();
    (q, sets)
}

/// What came out of a qdisc: (packet, length, time) in order; drops by reason.
#[derive(Default)]
struct Sink {
    sent: Vec<(u64, u32, u64)>,
    sent_bytes: u64,
    dropped: HashMap<Reason, u64>,
    max_wait: u64,
}

impl Sink {
    fn service(&mut self, set: &mut QdiscSet<Pkt>, now: u64) -> Option<u64> {
        set.service(now, &mut |port, p, len| {
            assert_eq!(port, PORT);
            self.sent.push((p.id, len, now));
            self.sent_bytes += u64::from(len);
            self.max_wait = self.max_wait.max(now - p.born);
        })
    }
    fn offer(&mut self, set: &mut QdiscSet<Pkt>, p: Pkt, len: u32) -> bool {
        match set.enqueue(PORT, p, len) {
            Ok(()) => true,
            Err((_, r)) => {
                *self.dropped.entry(r).or_default() += 1;
                false
            }
        }
    }
    fn drops(&self) -> u64 {
        self.dropped.values().sum()
    }
}

#[test]
fn tc_units() {
    // tc(8) UNITS: rates in bit/s, SI prefixes; *bps are bytes per second.
    assert_eq!(parse_rate("20mbit"), Ok(20_000_000));
    assert_eq!(parse_rate("20Mbit"), Ok(20_000_000));
    assert_eq!(parse_rate("1.5gbit"), Ok(1_500_000_000));
    assert_eq!(parse_rate("512kbit"), Ok(512_000));
    assert_eq!(parse_rate("1kibit"), Ok(1024));
    assert_eq!(parse_rate("100kbps"), Ok(800_000));
    assert_eq!(parse_rate("1tbit"), Ok(1_000_000_000_000));
    assert_eq!(parse_rate("9600"), Ok(9600));
    for bad in ["", "fast", "mbit", "-5mbit", "10 mbit", "10mbits", "1e400"] {
        let e = parse_rate(bad).unwrap_err().to_string();
        assert!(e.contains(&format!("{bad:?}")), "{bad:?}: {e}");
    }
    // Sizes are binary: kb = 1024 bytes, kbit = 1024 bits.
    assert_eq!(parse_size("32kb"), Ok(32768));
    assert_eq!(parse_size("32K"), Ok(32768));
    assert_eq!(parse_size("1.5kb"), Ok(1536));
    assert_eq!(parse_size("1mb"), Ok(1 << 20));
    assert_eq!(parse_size("10kbit"), Ok(1280));
    assert_eq!(parse_size("1514"), Ok(1514));
    assert_eq!(parse_size("1514b"), Ok(1514));
    assert!(parse_size("32kib").is_err());
    // Times: a bare number is microseconds.
    assert_eq!(parse_time_us("50ms"), Ok(50_000));
    assert_eq!(parse_time_us("2msecs"), Ok(2000));
    assert_eq!(parse_time_us("1s"), Ok(1_000_000));
    assert_eq!(parse_time_us("0.5sec"), Ok(500_000));
    assert_eq!(parse_time_us("400us"), Ok(400));
    assert_eq!(parse_time_us("400"), Ok(400));
    assert!(parse_time_us("1min").is_err());
    // And printed the way tc prints them.
    assert_eq!(fmt_rate(20_000_000), "20Mbit");
    assert_eq!(fmt_rate(1_500_000_000), "1.5Gbit");
    assert_eq!(fmt_rate(999), "999bit");
    assert_eq!(fmt_size(32768), "32Kb");
    assert_eq!(fmt_size(1514), "1514b");
    assert_eq!(fmt_size(3 << 20), "3Mb");
    assert_eq!(fmt_size(157768), "157768b");
    assert_eq!(fmt_time_us(50_000), "50ms");
    assert_eq!(fmt_time_us(63_107), "63.107ms");
}

#[test]
fn params_as_tc_derives_them() {
    // tc/q_tbf.c: limit = rate (bytes/s) * latency + burst.
    let p = tbf("20mbit", "32kb", ms(50));
    assert_eq!(p.limit, 2_500_000 / 20 + 32768);
    assert_eq!(p.latency_us, Some(50_000));
    // The longest wait is limit / rate: latency + burst / rate.
    assert_eq!(p.max_delay_us(), 63_107);
    assert_eq!(
        p.to_string(),
        "rate 20Mbit burst 32Kb limit 157768b latency 50ms"
    );
    let p = tbf("1gbit", "64kb", Limit::Bytes(1 << 20));
    assert_eq!((p.limit, p.latency_us), (1 << 20, None));

    let bad =
        |rate: u64, burst: u64, limit: Limit| TbfParams::new(rate, burst, limit, 1514).unwrap_err();
    assert_eq!(bad(999, 32768, ms(50)).key, "rate");
    assert_eq!(bad(2_000_000_000_000, 32768, ms(50)).key, "rate");
    let e = bad(20_000_000, 1500, ms(50));
    assert_eq!(e.key, "burst");
    assert!(e.message.contains("1514"), "{e}");
    assert_eq!(bad(20_000_000, 2 << 30, ms(50)).key, "burst");
    assert_eq!(bad(20_000_000, 32768, Limit::Bytes(1000)).key, "limit");
    assert_eq!(
        bad(20_000_000, 32768, Limit::LatencyUs(11_000_000)).key,
        "latency"
    );
    assert_eq!(bad(1_000_000_000_000, 32768, ms(10_000)).key, "latency");
}

#[test]
fn unshaped_ports_cost_one_bit_test_and_take_nothing() {
    let (_q, mut sets) = setup(tbf("20mbit", "32kb", ms(50)), 1);
    let s = &mut sets[0];
    assert!(s.is_shaped(PORT));
    for port in [0, 2, 15, 16, 31, 32, 200, u16::MAX] {
        assert!(!s.is_shaped(port), "{port}");
    }
    let mut f = Factory::default();
    let p = f.pkt(0);
    assert!(s.enqueue(0, p, 100).is_err());
    assert!(s.enqueue(500, f.pkt(0), 100).is_err());
    assert_eq!(f.live(), 0);
}

#[test]
fn burst_passes_at_line_speed_then_rate() {
    let (_q, mut sets) = setup(tbf("20mbit", "32kb", ms(50)), 1);
    let s = &mut sets[0];
    let mut f = Factory::default();
    let mut sink = Sink::default();
    let t0 = 5 * SEC;
    // A full bucket: 32 packets of 1024 bytes (= burst) leave at once.
    for _ in 0..32 {
        assert!(sink.offer(s, f.pkt(t0), 1024));
    }
    assert!(sink.offer(s, f.pkt(t0), 1024));
    let due = sink.service(s, t0).expect("33rd packet waits");
    assert_eq!(sink.sent.len(), 32);
    assert!(sink.sent.iter().all(|&(_, _, t)| t == t0));
    // ... the 33rd when 1024 bytes' worth of tokens came back: 1024 * 8 / 20e6 s (the
    // bucket is one cycle deeper than burst, for the carried fraction of a cycle).
    let wait = due - t0;
    assert!((409_599..=409_601).contains(&wait), "{wait}");
    assert_eq!(sink.service(s, due - 1), Some(due));
    assert_eq!(sink.sent.len(), 32);
    assert_eq!(sink.service(s, due), None);
    assert_eq!(sink.sent.len(), 33);
    assert_eq!(s.backlog(PORT), (0, 0));
    drop(sink);
    assert_eq!(f.live(), 0);
}

#[test]
fn long_run_rate_is_rate_and_drops_are_counted_exactly() {
    // 10 s offered at 10x the rate, packets of every size, serviced every 10 us.
    let p = tbf("20mbit", "32kb", ms(50));
    let (_q, mut sets) = setup(p, 1);
    let s = &mut sets[0];
    let mut f = Factory::default();
    let mut sink = Sink::default();
    let mut offered = 0u64;
    let mut accepted = 0u64;
    let mut credit = 0u64; // bytes the generator may send (200 Mbit/s = 25 bytes/us)
    let mut lcg = 12345u64;
    let mut t = 0;
    while t < 10 * SEC {
        credit += 25 * 10;
        loop {
            lcg = lcg
                .wrapping_mul(6364136223846793005)
                .wrapping_add(1442695040888963407);
            let len = 60 + (lcg >> 33) as u32 % (1514 - 60 + 1);
            if credit < u64::from(len) {
                break;
            }
            credit -= u64::from(len);
            offered += 1;
            if sink.offer(s, f.pkt(t), len) {
                accepted += 1;
            }
            // The backlog never exceeds limit.
            assert!(s.backlog(PORT).0 <= u64::from(p.limit));
        }
        sink.service(s, t);
        t += 10 * US;
    }
    // Sent = rate * T + the initial full bucket, to within one packet.
    let want = 2_500_000 * 10 + 32768;
    let got = sink.sent_bytes;
    assert!(got <= want && want - got < 1514, "sent {got} want {want}");
    // Every packet is accounted for: sent, dropped (counted) or still waiting.
    let (backlog_bytes, backlog_pkts) = s.backlog(PORT);
    assert_eq!(accepted, sink.sent.len() as u64 + backlog_pkts);
    assert_eq!(offered, accepted + sink.drops());
    assert_eq!(sink.drops(), sink.dropped[&Reason::QdiscOverlimit]);
    assert!(backlog_bytes > u64::from(p.limit) - 1514);
    assert_eq!(f.live(), backlog_pkts as i64);
    // In order.
    assert!(sink.sent.windows(2).all(|w| w[0].0 < w[1].0));
    drop(sets);
    assert_eq!(f.live(), 0);
}

#[test]
fn wait_is_bounded_by_limit_over_rate() {
    // Overloaded with full-size frames: the queue stays full, the bucket empty, so each
    // packet waits close to the bound limit / rate = latency + burst / rate.
    let p = tbf("20mbit", "32kb", ms(50));
    let bound = p.max_delay_us() * US;
    let (_q, mut sets) = setup(p, 1);
    let s = &mut sets[0];
    let mut f = Factory::default();
    let mut sink = Sink::default();
    let step = 20 * US;
    let mut t = 0;
    while t < 3 * SEC {
        // 1514 bytes every 20 us: 605 Mbit/s.
        sink.offer(s, f.pkt(t), 1514);
        sink.service(s, t);
        t += step;
    }
    assert!(sink.max_wait <= bound + step, "{} > {bound}", sink.max_wait);
    assert!(
        sink.max_wait >= bound - 2 * MS,
        "queue was not full: {}",
        sink.max_wait
    );
}

#[test]
fn oversize_packets_are_dropped_as_linux_does() {
    let (_q, mut sets) = setup(tbf("20mbit", "2kb", Limit::Bytes(64 * 1024)), 1);
    let s = &mut sets[0];
    let mut f = Factory::default();
    let mut sink = Sink::default();
    assert!(sink.offer(s, f.pkt(0), 2048));
    assert!(!sink.offer(s, f.pkt(0), 2049));
    assert_eq!(sink.dropped[&Reason::QdiscExceedsBurst], 1);
    assert_eq!(f.live(), 1);
}

#[test]
fn two_workers_share_one_bucket() {
    // Both overloaded; rounds interleave in a varying order, with clocks a few us apart.
    let p = tbf("20mbit", "32kb", ms(50));
    let (q, mut sets) = setup(p, 2);
    let bucket = q.get(PORT).unwrap();
    // Each worker may hold half the limit.
    assert_eq!(bucket.worker_limit(), u64::from(p.limit) / 2);
    let mut f = Factory::default();
    let mut sinks = [Sink::default(), Sink::default()];
    let mut t = 0;
    let mut round = 0u64;
    while t < 10 * SEC {
        for k in 0..2 {
            let w = (k + (round % 3) as usize) % 2;
            let tw = t + w as u64 * 3 * US;
            // 1000-byte packets every 20 us each: 400 Mbit/s per worker.
            sinks[w].offer(&mut sets[w], f.pkt(tw), 1000);
            sinks[w].service(&mut sets[w], tw);
            assert!(sets[w].backlog(PORT).0 <= bucket.worker_limit());
        }
        round += 1;
        t += 20 * US;
    }
    let total: u64 = sinks.iter().map(|s| s.sent_bytes).sum();
    let want = 2_500_000 * 10 + 32768;
    assert!(total.abs_diff(want) <= 2000, "combined {total} want {want}");
    for s in &sinks {
        assert!(s.sent_bytes > want / 3, "unfair: {}", s.sent_bytes);
    }
}

#[test]
fn replacing_or_deleting_mid_backlog_loses_no_packet() {
    let (q, mut sets) = setup(tbf("20mbit", "32kb", ms(50)), 1);
    let s = &mut sets[0];
    let mut f = Factory::default();
    let mut sink = Sink::default();
    // Empty the bucket and build a backlog of 100 packets (100,000 bytes).
    for _ in 0..132 {
        sink.offer(s, f.pkt(0), 1000);
    }
    sink.service(s, 0);
    assert_eq!(s.backlog(PORT), (100_000, 100));
    assert_eq!(f.live(), 100);

    // Replace with a smaller limit: 50 packets move over, 50 are dropped (and counted).
    q.set(PORT, Some(tbf("10mbit", "32kb", Limit::Bytes(50_000))))
        .unwrap();
    let mut moved_dropped = Vec::new();
    assert!(s.sync(&q, &mut |port, p, fate| {
        assert_eq!(port, PORT);
        assert_eq!(fate, Err(Reason::QdiscOverlimit));
        moved_dropped.push(p.id);
    }));
    assert_eq!(moved_dropped.len(), 50);
    drop(moved_dropped);
    assert_eq!(s.backlog(PORT), (50_000, 50));
    assert_eq!(f.live(), 50);
    // Syncing again without a change does nothing.
    assert!(!s.sync(&q, &mut |_, _, _| panic!("no change")));
    // The new bucket starts full (as Linux's tbf_change): 32 packets leave at once, in
    // their original order.
    sink.service(s, 1);
    assert_eq!(sink.sent.len(), 32 + 32);
    assert!(sink.sent.windows(2).all(|w| w[0].0 < w[1].0));
    assert_eq!(f.live(), 18);

    // Delete: what waits goes out unshaped, in order.
    q.set(PORT, None).unwrap();
    let mut out = Vec::new();
    assert!(s.sync(&q, &mut |_, p, fate| {
        assert!(fate.is_ok());
        out.push(p);
    }));
    assert_eq!(out.len(), 18);
    assert!(out.windows(2).all(|w| w[0].id < w[1].id));
    assert!(!s.is_shaped(PORT));
    assert!(!s.has_backlog());
    assert_eq!(s.backlog(PORT), (0, 0));
    drop(out);
    assert_eq!(f.live(), 0);
}

#[test]
fn tokens_and_status() {
    let p = tbf("8mbit", "10kb", Limit::Bytes(100_000));
    let (q, mut sets) = setup(p, 1);
    let b = q.get(PORT).unwrap();
    assert_eq!(b.tokens(0), 10240);
    let mut f = Factory::default();
    let mut sink = Sink::default();
    sink.offer(&mut sets[0], f.pkt(SEC), 1000);
    sink.service(&mut sets[0], SEC);
    assert!((9239..=9240).contains(&b.tokens(SEC)), "{}", b.tokens(SEC));
    // 8 Mbit/s refills 1000 bytes in 1 ms.
    assert_eq!(b.tokens(SEC + MS), 10240);
    assert!((9739..=9740).contains(&b.tokens(SEC + MS / 2)));

    let counters = SharedCounters::default();
    let mut t = crate::datapath::Tally::default();
    t.qdisc(PORT, QdiscStat::SentBytes, 1000);
    t.qdisc(PORT, QdiscStat::SentPackets, 1);
    t.qdisc(PORT, QdiscStat::Dropped, 2);
    counters.flush(&mut t);
    counters.set_backlog(PORT, 3000, 3);
    let st = q.status([&counters, &SharedCounters::default()], SEC + MS);
    assert_eq!(
        st,
        [QdiscStatus {
            port: PORT,
            params: p,
            sent_bytes: 1000,
            sent_packets: 1,
            dropped: 2,
            backlog_bytes: 3000,
            backlog_packets: 3,
            tokens: 10240,
        }]
    );
    assert_eq!(
        st[0].render("port1"),
        "qdisc tbf dev port1 rate 8Mbit burst 10Kb limit 100000b\n \
         Sent 1000 bytes 1 pkt (dropped 2)\n backlog 3000b 3p tokens 10240b\n"
    );
    assert!(q.set(MAX_PORTS as u16, Some(p)).is_err());
    q.set(PORT, None).unwrap();
    assert!(q.status([&counters], 0).is_empty());
}
