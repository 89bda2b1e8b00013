//! The router's own replies: `ferroute status` (an `api::Status`, sent as text or as
//! attributes), `ferroute config dump` (text) and `ferroute counters` (attributes).
use super::*;

impl Rtnl {
    /// `ferroute status`: every port, the FIB version, and whether every link is up.
    pub(super) fn status(&self, env: &dyn Env) -> Status {
        let ports: Vec<PortStatus> = self
            .ports
            .iter()
            .map(|p| PortStatus {
                name: p.name.clone(),
                id: p.id,
                link_up: env.link_running(p.id),
                mac: p.mac,
                addr: p.addrs.first().copied(),
                mtu: p.mtu,
                admin_up: p.up,
            })
            .collect();
        Status {
            ready: ports.iter().all(|p| p.link_up),
            ports,
            fib_version: self.version,
        }
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
