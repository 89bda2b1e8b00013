//! Addresses: `ip addr add|del|show` and the local, broadcast and subnet routes each address brings (Linux `inet_rtm_newaddr`, `fib_add_ifaddr`).
use super::*;

impl Rtnl {
    /// Local, connected and broadcast routes of `addr` on `port` (as Linux's
    /// `fib_add_ifaddr`); already present ones are left alone.
    pub(super) fn add_address_routes(&mut self, addr: Ipv4Net, port: u16) -> Result<(), ApiError> {
        for r in crate::fib::address_routes(addr, port) {
            self.edit(r.prefix, |list| {
                if !list.contains(&r) {
                    let at = list.iter().position(|x| x.metric > 0).unwrap_or(list.len());
                    list.insert(at, r);
                }
                Ok(())
            })?;
        }
        Ok(())
    }

    /// Removes the routes of `addr` on `port`; the subnet's routes only if no other
    /// address of the port is in it. Returns whether the subnet went away.
    pub(super) fn remove_address_routes(
        &mut self,
        addr: Ipv4Net,
        port: u16,
        others: &[Ipv4Net],
    ) -> bool {
        let subnet_gone = !others.iter().any(|o| o.trunc() == addr.trunc());
        for r in crate::fib::address_routes(addr, port) {
            let keep = match r.target {
                RouteTarget::Local { .. } => others.iter().any(|o| o.addr() == addr.addr()),
                _ => !subnet_gone,
            };
            if !keep {
                let _ = self.edit(r.prefix, |list| {
                    list.retain(|x| x != &r);
                    Ok(())
                });
            }
        }
        subnet_gone
    }

    /// Deletes the routes not derived from addresses (static, a daemon's) through `port`
    /// whose gateway is in `net` (all of them when `net` is None): Linux flushes routes
    /// whose nexthop died.
    pub(super) fn flush_routes_via(&mut self, port: u16, net: Option<Ipv4Net>) {
        let dead_via = |gw: Option<Ipv4Addr>, p: u16| match gw {
            Some(gw) => p == port && net.map_or(true, |n| n.contains(&gw)),
            None => p == port && net.is_none(),
        };
        // A multipath route goes when all its members are dead (through this port or
        // a port that is down); until then the dead ones are skipped in the FIB (they
        // resolve through no connected subnet), and come back with their subnet (Linux
        // RTNH_F_DEAD, fib_sync_up).
        let down: Vec<u16> = self.ports.iter().filter(|p| !p.up).map(|p| p.id).collect();
        let dead = |r: &Route| match &r.target {
            RouteTarget::Gateway { gw, port: Some(p) } => dead_via(Some(*gw), *p),
            RouteTarget::Connected { port: p } => dead_via(None, *p),
            RouteTarget::Multipath(mp) => mp
                .members()
                .iter()
                .all(|m| dead_via(m.gw, m.port) || down.contains(&m.port)),
            _ => false,
        };
        let prefixes: Vec<Ipv4Net> = self
            .rib
            .iter()
            .filter(|r| r.proto != Proto::Kernel && dead(r))
            .map(|r| r.prefix)
            .collect();
        for p in prefixes {
            let _ = self.edit(p, |list| {
                list.retain(|r| !(r.proto != Proto::Kernel && dead(r)));
                Ok(())
            });
        }
    }

    pub(super) fn addr_new(&mut self, change: Change, a: &AddrMsg) -> Result<(), ApiError> {
        let i = self.port_index(a.ifindex)?;
        let dst = ReqField::Dst;
        let ip = a
            .local
            .ok_or_else(|| ApiError::inval("missing address (IFA_LOCAL)").at(dst))?;
        if a.prefix_len == 0 {
            return Err(ApiError::inval("prefix length must be 1..=32").at(dst));
        }
        let net = Ipv4Net::new(ip, a.prefix_len).map_err(|_| {
            ApiError::inval(format!("invalid prefix length {}", a.prefix_len)).at(dst)
        })?;
        if net.prefix_len() <= 30 && (ip == net.network() || ip == net.broadcast()) {
            return Err(ApiError::inval(format!(
                "{net} is the network or broadcast address of its subnet"
            ))
            .at(dst));
        }
        let port = &self.ports[i];
        if port.addrs.iter().any(|x| x.addr() == ip) {
            if change.if_exists != IfExists::Replace {
                return Err(ApiError::new(errno::EEXIST, "address already assigned").at(dst));
            }
            return Ok(());
        }
        if !change.create {
            return Err(ApiError::new(errno::ENOENT, "no such address").at(dst));
        }
        for other in self.ports.iter().filter(|p| p.id != port.id) {
            for o in &other.addrs {
                if o.contains(&net.network()) || net.contains(&o.network()) {
                    return Err(ApiError::inval(format!(
                        "subnet {} overlaps {} of {}",
                        net.trunc(),
                        o.trunc(),
                        other.name
                    ))
                    .at(dst));
                }
            }
        }
        let (id, up) = (port.id, port.up);
        self.ports[i].addrs.push(net);
        self.ports_dirty = true;
        if up {
            self.add_address_routes(net, id)?;
        }
        Ok(())
    }

    pub(super) fn addr_del(&mut self, a: &AddrMsg, env: &mut dyn Env) -> Result<(), ApiError> {
        let i = self.port_index(a.ifindex)?;
        let ip = a
            .local
            .ok_or_else(|| ApiError::inval("missing address (IFA_LOCAL)"))?;
        let port = &self.ports[i];
        let k = port
            .addrs
            .iter()
            .position(|x| x.addr() == ip && (a.prefix_len == 0 || x.prefix_len() == a.prefix_len))
            .ok_or_else(|| ApiError::new(errno::EADDRNOTAVAIL, "address not found"))?;
        if port.addrs.len() == 1 {
            return Err(ApiError::new(
                errno::EBUSY,
                format!(
                    "{} would have no address left (each port keeps one: add another first)",
                    port.name
                ),
            ));
        }
        let id = port.id;
        let net = self.ports[i].addrs.remove(k);
        self.ports_dirty = true;
        let others = self.ports[i].addrs.clone();
        if self.remove_address_routes(net, id, &others) {
            self.flush_routes_via(id, Some(net.trunc()));
            env.neigh(NeighReq::FlushSubnet {
                port: id,
                net: net.trunc(),
            })?;
        }
        Ok(())
    }

    pub(super) fn addr_dump(&self, filter: &AddrMsg, seq: u32, out: &mut Vec<Message>) {
        for p in &self.ports {
            if filter.ifindex != 0 && filter.ifindex != ifindex(p.id) {
                continue;
            }
            for a in &p.addrs {
                out.push(Message::new(
                    RTM_NEWADDR,
                    NLM_F_MULTI,
                    seq,
                    Body::Addr(AddrMsg {
                        ifindex: ifindex(p.id),
                        prefix_len: a.prefix_len(),
                        local: Some(a.addr()),
                        label: Some(p.name.clone()),
                    }),
                ));
            }
        }
        out.push(Message::done(seq));
    }
}
