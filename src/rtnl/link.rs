//! Links: `ip link set|show` (Linux `do_setlink`): MTU and admin state of a port.
use super::*;

impl Rtnl {
    pub(super) fn link_index(&self, l: &LinkMsg) -> Result<usize, ApiError> {
        match (l.ifindex, &l.name) {
            (0, Some(name)) => self
                .ports
                .iter()
                .position(|p| &p.name == name)
                .ok_or_else(|| ApiError::new(errno::ENODEV, format!("no port named {name:?}"))),
            (0, None) => Err(ApiError::new(errno::ENODEV, "no port given")),
            (i, name) => {
                let k = self.port_index(i)?;
                if name.as_ref().is_some_and(|n| n != &self.ports[k].name) {
                    return Err(ApiError::new(
                        errno::EOPNOTSUPP,
                        "renaming a port is not supported",
                    ));
                }
                Ok(k)
            }
        }
    }

    pub(super) fn link_set(&mut self, l: &LinkMsg, env: &mut dyn Env) -> Result<(), ApiError> {
        let i = self.link_index(l)?;
        if l.mac.is_some() {
            return Err(ApiError::new(
                errno::EOPNOTSUPP,
                "changing a port's MAC address is not supported",
            ));
        }
        if l.change & !IFF_UP != 0 {
            return Err(ApiError::new(
                errno::EOPNOTSUPP,
                format!(
                    "only the up flag can be changed (change mask {:#x})",
                    l.change
                ),
            ));
        }
        let id = self.ports[i].id;
        if let Some(mtu) = l.mtu {
            if !MTU_RANGE.contains(&mtu) {
                return Err(ApiError::inval(format!(
                    "mtu {mtu} is out of range {}..={}",
                    MTU_RANGE.start(),
                    MTU_RANGE.end()
                )));
            }
            let mtu = mtu as u16;
            if mtu != self.ports[i].mtu {
                env.set_mtu(id, mtu)?;
                self.ports[i].mtu = mtu;
                self.ports_dirty = true;
            }
        }
        if l.change & IFF_UP != 0 {
            let up = l.flags & IFF_UP != 0;
            if up != self.ports[i].up {
                self.ports[i].up = up;
                self.ports_dirty = true;
                let addrs = self.ports[i].addrs.clone();
                if up {
                    // Linux re-adds the address routes (NETDEV_UP -> fib_add_ifaddr);
                    // static routes deleted on down stay deleted.
                    for a in addrs {
                        self.add_address_routes(a, id)?;
                    }
                } else {
                    // NETDEV_DOWN -> fib_disable_ip: every route through the port goes,
                    // and the neighbours learned on it (arp_ifdown).
                    for a in &addrs {
                        self.remove_address_routes(*a, id, &[]);
                    }
                    self.flush_routes_via(id, None);
                    env.neigh(NeighReq::FlushPort(id))?;
                }
            }
        }
        Ok(())
    }

    pub(super) fn link_msg(&self, p: &PortState, env: &dyn Env) -> LinkMsg {
        let mut flags = IFF_BROADCAST;
        if p.up {
            flags |= IFF_UP;
            if env.link_running(p.id) {
                flags |= IFF_RUNNING | IFF_LOWER_UP;
            }
        }
        LinkMsg {
            ifindex: ifindex(p.id),
            flags,
            change: 0,
            name: Some(p.name.clone()),
            mtu: Some(u32::from(p.mtu)),
            mac: Some(p.mac),
        }
    }

    pub(super) fn link_dump(
        &self,
        l: &LinkMsg,
        seq: u32,
        dump: bool,
        env: &dyn Env,
        out: &mut Vec<Message>,
    ) -> Result<(), ApiError> {
        if !dump {
            let p = &self.ports[self.link_index(l)?];
            out.push(Message::new(
                RTM_NEWLINK,
                0,
                seq,
                Body::Link(self.link_msg(p, env)),
            ));
            return Ok(());
        }
        for p in &self.ports {
            out.push(Message::new(
                RTM_NEWLINK,
                NLM_F_MULTI,
                seq,
                Body::Link(self.link_msg(p, env)),
            ));
        }
        out.push(Message::done(seq));
        Ok(())
    }
}
