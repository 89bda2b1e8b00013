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

/// Text per FR_TEXT message of a multipart reply: well inside `MAX_MSG_LEN`.
const TEXT_PART: usize = 256 * 1024;

/// A text reply: one FR_TEXT message, or for a longer text (a `config dump` with tens of
/// thousands of static routes) FR_TEXT parts flagged NLM_F_MULTI and NLMSG_DONE, as a
/// netlink dump is sent.
pub(super) fn text(seq: u32, t: String, out: &mut Vec<Message>) {
    if t.len() <= TEXT_PART {
        out.push(Message::new(FR_TEXT, 0, seq, Body::Text(t)));
        return;
    }
    for part in split_text(&t, TEXT_PART) {
        out.push(Message::new(
            FR_TEXT,
            NLM_F_MULTI,
            seq,
            Body::Text(part.to_string()),
        ));
    }
    out.push(Message::done(seq));
}

pub(super) fn counters(seq: u32, c: Counters) -> Message {
    Message::new(FR_COUNTERS, 0, seq, Body::Counters(c))
}
