//! The router's own replies: `ferroute status` and `ferroute config dump` (text), and
//! `ferroute counters` (an FR_COUNTERS message of attributes, `api::counters`).
use super::*;

impl Rtnl {
    /// `ferroute status`: one line per port, then whether every link is up.
    pub(super) fn status(&self, env: &dyn Env) -> String {
        use std::fmt::Write as _;
        let mut out = String::new();
        let mut ready = true;
        for p in &self.ports {
            let up = env.link_running(p.id);
            ready &= up;
            let addr = p
                .addrs
                .first()
                .map_or_else(|| "none".to_string(), |a| a.to_string());
            let _ = writeln!(
                out,
                "port {} id {} link {} mac {} addr {addr} mtu {} admin {}",
                p.name,
                p.id,
                if up { "up" } else { "down" },
                p.mac,
                p.mtu,
                if p.up { "up" } else { "down" },
            );
        }
        let _ = writeln!(out, "fib_version {}", self.version);
        let _ = writeln!(out, "ready {}", if ready { "yes" } else { "no" });
        out
    }

    /// The running configuration as a config file (see [`dump`]).
    pub(super) fn config_dump(&self, env: &mut dyn Env) -> Result<String, ApiError> {
        let base = self
            .base
            .as_ref()
            .ok_or_else(|| ApiError::new(errno::EOPNOTSUPP, "no base configuration"))?;
        let neighbours = match env.neigh(NeighReq::Dump)? {
            NeighResp::Dump(v) => v,
            _ => Vec::new(),
        };
        Ok(dump::render(base, self, &neighbours))
    }

    /// A port's name by DPDK id, for rendering.
    pub fn name_of(&self, id: u16) -> String {
        self.port_name(id)
    }
}

pub(super) fn text(seq: u32, t: String) -> Message {
    Message::new(FR_TEXT, 0, seq, Body::Text(t))
}

pub(super) fn counters(seq: u32, c: Counters) -> Message {
    Message::new(FR_COUNTERS, 0, seq, Body::Counters(c))
}
