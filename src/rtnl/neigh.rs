//! Neighbours: `ip neigh add|del|show`, carried out on the control thread's table through [`Env`](super::Env) (Linux `neigh_add`, `neigh_delete`).
use super::*;

impl Rtnl {
    pub(super) fn neigh_key(&self, n: &NeighMsg) -> Result<(NeighKey, &PortState), ApiError> {
        let ip = n.dst.ok_or_else(|| {
            ApiError::inval("missing neighbour address (NDA_DST)").at(ReqField::Dst)
        })?;
        let port = if n.ifindex == 0 {
            let id = self.on_link_port(ip).ok_or_else(|| {
                ApiError::inval(format!("{ip} is not on a connected network of any port"))
                    .at(ReqField::Dst)
            })?;
            self.port_state(id)
                .ok_or_else(|| ApiError::new(errno::ENODEV, "no such port"))?
        } else {
            &self.ports[self.port_index(n.ifindex)?]
        };
        Ok((NeighKey::new(port.id, ip), port))
    }

    pub(super) fn neigh_new(
        &mut self,
        change: Change,
        n: &NeighMsg,
        env: &mut dyn Env,
    ) -> Result<(), ApiError> {
        let (key, port) = self.neigh_key(n)?;
        // The address is fine on some port, but not on the one the request names.
        if !port.addrs.iter().any(|a| a.contains(&key.ip)) {
            return Err(ApiError::inval(format!(
                "{} is not on a connected network of {}",
                key.ip, port.name
            ))
            .at(ReqField::Ifindex));
        }
        if port.addrs.iter().any(|a| a.addr() == key.ip) {
            return Err(
                ApiError::inval(format!("{} is this router's own address", key.ip))
                    .at(ReqField::Dst),
            );
        }
        if !matches!(n.state, Nud::None | Nud::Permanent | Nud::Noarp) {
            return Err(ApiError::new(
                errno::EOPNOTSUPP,
                "only permanent (static) neighbours can be added",
            ));
        }
        let mac = n.lladdr.ok_or_else(|| {
            ApiError::inval("missing link-layer address (lladdr)").at(ReqField::Lladdr)
        })?;
        if mac.is_zero() || mac.is_multicast() {
            return Err(
                ApiError::inval(format!("{mac} is not a unicast MAC address")).at(ReqField::Lladdr),
            );
        }
        let exists = matches!(env.neigh(NeighReq::Get(key))?, NeighResp::Entry(Some(_)));
        if exists && change.if_exists == IfExists::Refuse {
            return Err(ApiError::new(errno::EEXIST, "neighbour entry exists").at(ReqField::Dst));
        }
        if !exists && !change.create {
            return Err(ApiError::new(errno::ENOENT, "no such neighbour entry"));
        }
        env.neigh(NeighReq::AddStatic(key, mac))?;
        Ok(())
    }

    pub(super) fn neigh_del(&mut self, n: &NeighMsg, env: &mut dyn Env) -> Result<(), ApiError> {
        let (key, _) = self.neigh_key(n)?;
        match env.neigh(NeighReq::Delete(key))? {
            NeighResp::Done(true) => Ok(()),
            _ => Err(ApiError::new(errno::ENOENT, "no such neighbour entry")),
        }
    }

    pub(super) fn neigh_dump(
        &mut self,
        filter: &NeighMsg,
        seq: u32,
        dump: bool,
        env: &mut dyn Env,
        out: &mut Vec<Message>,
    ) -> Result<(), ApiError> {
        let entries = if dump {
            match env.neigh(NeighReq::Dump)? {
                NeighResp::Dump(v) => v,
                _ => Vec::new(),
            }
        } else {
            let (key, _) = self.neigh_key(filter)?;
            match env.neigh(NeighReq::Get(key))? {
                NeighResp::Entry(Some(e)) => vec![e],
                _ => return Err(ApiError::new(errno::ENOENT, "no such neighbour entry")),
            }
        };
        for e in entries {
            if filter.ifindex != 0 && ifindex(e.key.port) != filter.ifindex {
                continue;
            }
            let body = Body::Neigh(NeighMsg {
                ifindex: ifindex(e.key.port),
                state: nud(e.state),
                dst: Some(e.key.ip),
                lladdr: e.mac,
                probes: Some(e.probes),
            });
            out.push(Message::new(
                RTM_NEWNEIGH,
                if dump { NLM_F_MULTI } else { 0 },
                seq,
                body,
            ));
        }
        if dump {
            out.push(Message::done(seq));
        }
        Ok(())
    }
}

/// NUD_* of a neighbour state.
pub fn nud(s: NeighState) -> Nud {
    match s {
        NeighState::Incomplete => Nud::Incomplete,
        NeighState::Reachable => Nud::Reachable,
        NeighState::Stale => Nud::Stale,
        NeighState::Delay => Nud::Delay,
        NeighState::Probe => Nud::Probe,
        NeighState::Failed => Nud::Failed,
        NeighState::Permanent => Nud::Permanent,
    }
}
