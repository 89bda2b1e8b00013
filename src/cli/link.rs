//! `ferroute link set PORT [mtu N] [up|down]` fills one RTM_NEWLINK (`api::LinkMsg`);
//! `link show [PORT]` and `addr show [dev PORT]` print the RTM_GETLINK dump (with the
//! RTM_GETADDR dump for `addr`) as `ip link` / `ip addr` print them, or as JSON
//! (`json/link.rs`, `json/addr.rs`). With `-stats`, each port's RX and TX counts come
//! from the typed counters (`api::Counters`, PMD group).
use super::session::{dump_qdiscs, to_json};
use super::{json, usage, verb, CliError, Session, HELP};
use crate::api::*;
use std::fmt::Write as _;

/// ip link's verbs (iplink.c `do_iplink`): `set` is `change`.
const LINK_VERBS: &[(&str, &str, bool)] = &[
    ("add", "add", false),
    ("change", "set", false),
    ("set", "set", false),
    ("replace", "replace", false),
    ("delete", "delete", false),
    ("show", "show", false),
    ("lst", "show", false),
    ("list", "show", false),
    ("xstats", "xstats", false),
    ("afstats", "afstats", false),
    ("property", "property", false),
    ("help", "help", false),
];

impl Session {
    pub(super) fn link(&mut self, args: &[&str], out: &mut String) -> Result<(), CliError> {
        let (verb, rest) = verb(args, LINK_VERBS, "link", &["set", "show", "help"])?;
        match verb {
            "show" => self.link_show(rest, false, out),
            "help" => {
                let _ = writeln!(out, "{HELP}");
                Ok(())
            }
            _ => {
                let rest = rest.strip_prefix(&["dev"]).unwrap_or(rest);
                let (name, opts) = rest
                    .split_first()
                    .ok_or_else(|| usage("usage: ferroute link set PORT [mtu N] [up|down]"))?;
                let mut l = LinkMsg {
                    ifindex: self.ifindex(name)?,
                    ..LinkMsg::default()
                };
                let mut it = opts.iter().copied();
                while let Some(w) = it.next() {
                    match w {
                        "up" => {
                            l.flags |= IFF_UP;
                            l.change |= IFF_UP;
                        }
                        "down" => {
                            l.flags &= !IFF_UP;
                            l.change |= IFF_UP;
                        }
                        "mtu" => {
                            let v = it.next().ok_or_else(|| usage("\"mtu\" needs a value"))?;
                            l.mtu = Some(
                                v.parse()
                                    .map_err(|_| usage(format!("invalid mtu \"{v}\"")))?,
                            );
                        }
                        other => return Err(usage(format!("unknown link argument \"{other}\""))),
                    }
                }
                if l.change == 0 && l.mtu.is_none() {
                    return Err(usage("nothing to set: give mtu N, up or down"));
                }
                self.conn.change(RTM_NEWLINK, 0, Body::Link(l))?;
                self.links = None;
                Ok(())
            }
        }
    }

    /// A link's lines as `ip link` prints them (today's text: index, name, flags, mtu,
    /// state, link/ether), with `-s` the RX and TX counters.
    pub(super) fn link_text(&mut self, l: &LinkMsg, stats: Option<&json::link::Stats64>) -> String {
        let j = json::link::Link::new(l, None, false);
        let mut s = format!(
            "{}: {}: <{}> mtu {} state {}\n    link/ether {} brd ff:ff:ff:ff:ff:ff",
            j.ifindex,
            j.ifname,
            j.flags.join(","),
            j.mtu,
            j.operstate,
            j.address
        );
        if let Some(st) = stats {
            let (r, t) = (&st.rx, &st.tx);
            let _ = write!(
                s,
                "\n    RX:  bytes packets errors dropped  missed   mcast\n {:>13} {:>7} {:>6} {:>7} {:>7} {:>7}\n    TX:  bytes packets errors dropped carrier collsns\n {:>13} {:>7} {:>6} {:>7} {:>7} {:>7}",
                r.bytes, r.packets, r.errors, r.dropped, r.over_errors, r.multicast,
                t.bytes, t.packets, t.errors, t.dropped, t.carrier_errors, t.collisions
            );
        }
        s
    }

    pub(super) fn link_show(
        &mut self,
        args: &[&str],
        addrs: bool,
        out: &mut String,
    ) -> Result<(), CliError> {
        let only = match args {
            [] => None,
            [d] | ["dev", d] => Some(self.ifindex(d)?),
            _ => return Err(usage("usage: ferroute link|addr show [dev PORT]")),
        };
        self.links = None;
        let links: Vec<LinkMsg> = self.links()?.to_vec();
        let addr_msgs = if addrs {
            self.conn.dump(
                RTM_GETADDR,
                Body::Addr(AddrMsg {
                    ifindex: 0,
                    prefix_len: 0,
                    local: None,
                    label: None,
                }),
            )?
        } else {
            Vec::new()
        };
        // The root qdisc of each port (`qdisc noqueue` without one, as Linux shows).
        let qdiscs: Vec<QdiscMsg> = if self.json {
            dump_qdiscs(&mut self.conn, QdiscMsg::default())?
        } else {
            Vec::new()
        };
        let counters = self.counters_for_stats()?;
        let mut rows = Vec::new();
        for l in links
            .iter()
            .filter(|l| only.map_or(true, |i| i == l.ifindex))
        {
            let name = l.name.clone().unwrap_or_default();
            let stats = self
                .stats
                .then(|| json::link::Stats64::from_counters(&counters, &name));
            let mine: Vec<&AddrMsg> = addr_msgs
                .iter()
                .filter_map(|m| match &m.body {
                    Body::Addr(a) if a.ifindex == l.ifindex => Some(a),
                    _ => None,
                })
                .collect();
            if self.json {
                let kind = qdiscs
                    .iter()
                    .find(|q| q.ifindex == l.ifindex)
                    .and_then(|q| q.kind.as_deref());
                let mut j = json::link::Link::new(l, kind, addrs);
                j.stats64 = stats;
                if addrs {
                    j.addr_info = Some(json::addr::AddrInfo::of_port(&mine, &name));
                }
                rows.push(j);
            } else {
                let text = self.link_text(l, stats.as_ref());
                let _ = writeln!(out, "{text}");
                for i in json::addr::AddrInfo::of_port(&mine, &name) {
                    let _ = write!(out, "    inet {}/{}", i.local, i.prefixlen);
                    if let Some(b) = &i.broadcast {
                        let _ = write!(out, " brd {b}");
                    }
                    let sec = if i.secondary { " secondary" } else { "" };
                    let _ = writeln!(out, " scope global{sec} {}", i.label);
                }
            }
        }
        if self.json {
            let _ = writeln!(out, "{}", to_json(&rows));
        }
        Ok(())
    }
}
