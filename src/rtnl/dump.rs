//! `ferroute config dump`: the running configuration as a config file. It starts from
//! the file the router was started with (EAL, sockets, datapath, workers, devices) and
//! writes what the API can change as it is now: ports' MTU, primary address and admin
//! state, further addresses, static routes in RIB order (so routes sharing a prefix and
//! metric keep their order), permanent neighbours, egress qdiscs. Loaded with `ferroute
//! run -c`, it reproduces the same `route show`, `addr show`, static `neigh show` and
//! `qdisc show`.
use super::Rtnl;
use crate::config::Config;
use crate::datapath::qdisc::fmt_size;
use crate::fib::{Proto, RouteTarget};
use crate::neigh::{NeighInfo, NeighState};
use std::fmt::Write as _;

/// A TOML string (quoted and escaped).
fn q(s: &str) -> String {
    toml::Value::String(s.to_string()).to_string()
}

pub fn render(base: &Config, rtnl: &Rtnl, neighbours: &[NeighInfo]) -> String {
    let mut o = String::new();
    let _ = writeln!(
        o,
        "# ferroute running configuration (`ferroute config dump`), started from {}.\n\
         # Load it with `ferroute run -c FILE`.\n",
        base.source
    );
    let args: Vec<String> = base.eal_args.iter().map(|a| q(a)).collect();
    let _ = writeln!(o, "[eal]\nargs = [{}]\n", args.join(", "));
    let _ = writeln!(
        o,
        "[control]\nsocket = {}\n",
        q(&base.control.socket.to_string_lossy())
    );
    let listen = base
        .metrics
        .listen
        .map(|a| a.to_string())
        .unwrap_or_default();
    let _ = writeln!(o, "[metrics]\nlisten = {}\n", q(&listen));
    let d = &base.datapath;
    let _ = writeln!(
        o,
        "[datapath]\nburst = {}\ntx_drain_us = {}\nidle_sleep_us = {}\nmbufs = {}\n\
         mbuf_cache = {}\nrx_desc = {}\ntx_desc = {}\n",
        d.burst, d.tx_drain_us, d.idle_sleep_us, d.mbufs, d.mbuf_cache, d.rx_desc, d.tx_desc
    );
    let i = &base.icmp;
    let _ = writeln!(
        o,
        "[icmp]\nmsgs_per_sec = {}\nmsgs_burst = {}\nratelimit_ms = {}\nratemask = {}\n\
         burst = {}\npeers = {}\n",
        i.msgs_per_sec, i.msgs_burst, i.ratelimit_ms, i.ratemask, i.burst, i.peers
    );
    let p = &base.punt;
    let _ = writeln!(
        o,
        "[punt]\narp_known_pps = {}\narp_known_burst = {}\narp_pps = {}\narp_burst = {}\n\
         resolve_pps = {}\nresolve_burst = {}\nfrag_pps = {}\nfrag_burst = {}\n",
        p.arp_known.pps,
        p.arp_known.burst,
        p.arp.pps,
        p.arp.burst,
        p.resolve.pps,
        p.resolve.burst,
        p.frag.pps,
        p.frag.burst
    );
    let a = &base.arp;
    let _ = writeln!(
        o,
        "[arp]\nreachable_ms = {}\nretrans_ms = {}\nmcast_probes = {}\nucast_probes = {}\n\
         delay_probe_ms = {}\nhold_queue = {}\n",
        a.reachable_ms,
        a.retrans_ms,
        a.mcast_probes,
        a.ucast_probes,
        a.delay_probe_ms,
        a.hold_queue
    );
    // Ports in config order; the API's state is matched by name.
    let state = |name: &str| rtnl.ports().iter().find(|p| p.name == name);
    for p in &base.ports {
        let s = state(&p.name);
        let _ = writeln!(
            o,
            "[[port]]\nname = {}\ndevargs = {}",
            q(&p.name),
            q(&p.devargs)
        );
        let addr = s
            .and_then(|s| s.addrs.first())
            .copied()
            .unwrap_or(p.address);
        let _ = writeln!(o, "address = {}", q(&addr.to_string()));
        let _ = writeln!(o, "mtu = {}", s.map_or(p.mtu, |s| s.mtu));
        if let Some(mac) = p.mac {
            let _ = writeln!(o, "mac = {}", q(&mac.to_string()));
        }
        if !s.map_or(p.up, |s| s.up) {
            let _ = writeln!(o, "up = false");
        }
        o.push('\n');
    }
    for w in &base.workers {
        let rx: Vec<String> =
            w.rx.iter()
                .map(|r| q(&format!("{}:{}", base.ports[r.port].name, r.queue)))
                .collect();
        let _ = writeln!(
            o,
            "[[worker]]\nlcore = {}\nrx = [{}]\n",
            w.lcore,
            rx.join(", ")
        );
    }
    for p in rtnl.ports() {
        for a in p.addrs.iter().skip(1) {
            let _ = writeln!(
                o,
                "[[address]]\nport = {}\naddress = {}\n",
                q(&p.name),
                q(&a.to_string())
            );
        }
    }
    for r in rtnl.rib().iter().filter(|r| r.proto == Proto::Static) {
        let _ = writeln!(o, "[[route]]\nprefix = {}", q(&r.prefix.to_string()));
        match &r.target {
            &RouteTarget::Gateway { gw, port } => {
                let _ = writeln!(o, "via = {}", q(&gw.to_string()));
                if let Some(p) = port {
                    let _ = writeln!(o, "port = {}", q(&rtnl.name_of(p)));
                }
            }
            &(RouteTarget::Connected { port }
            | RouteTarget::Local { port }
            | RouteTarget::Broadcast { port }) => {
                let _ = writeln!(o, "port = {}", q(&rtnl.name_of(port)));
            }
            RouteTarget::Multipath(mp) => {
                let hops: Vec<String> = mp
                    .members()
                    .iter()
                    .map(|m| {
                        let via = m
                            .gw
                            .map_or(String::new(), |g| format!("via = {}, ", q(&g.to_string())));
                        let port = q(&rtnl.name_of(m.port));
                        format!("{{ {via}port = {port}, weight = {} }}", m.weight)
                    })
                    .collect();
                let _ = writeln!(o, "nexthops = [{}]", hops.join(", "));
            }
            RouteTarget::Blackhole => {
                let _ = writeln!(o, "type = \"blackhole\"");
            }
            RouteTarget::Unreachable => {
                let _ = writeln!(o, "type = \"unreachable\"");
            }
            RouteTarget::Prohibit => {
                let _ = writeln!(o, "type = \"prohibit\"");
            }
        }
        if r.metric != 0 {
            let _ = writeln!(o, "metric = {}", r.metric);
        }
        o.push('\n');
    }
    for n in neighbours
        .iter()
        .filter(|n| n.state == NeighState::Permanent)
    {
        if let Some(mac) = n.mac {
            let _ = writeln!(
                o,
                "[[neighbor]]\naddress = {}\nmac = {}\nport = {}\n",
                q(&n.key.ip.to_string()),
                q(&mac.to_string()),
                q(&rtnl.name_of(n.key.port))
            );
        }
    }
    for (&port, t) in rtnl.qdiscs() {
        let _ = writeln!(
            o,
            "[[qdisc]]\nport = {}\nkind = \"tbf\"\nrate = {}\nburst = {}",
            q(&rtnl.name_of(port)),
            q(&format!("{}bit", t.rate)),
            q(&fmt_size(u64::from(t.burst)))
        );
        match t.latency_us {
            Some(us) if us % 1000 == 0 => {
                let _ = writeln!(o, "latency = {}", q(&format!("{}ms", us / 1000)));
            }
            Some(us) => {
                let _ = writeln!(o, "latency = {}", q(&format!("{us}us")));
            }
            None => {
                let _ = writeln!(o, "limit = {}", q(&fmt_size(u64::from(t.limit))));
            }
        }
        o.push('\n');
    }
    o
}
