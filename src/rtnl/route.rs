//! Routes: `ip route add|del|show|get` (Linux `inet_rtm_newroute`, `fib_table_insert/delete`, `inet_rtm_getroute`).
use super::*;

impl Rtnl {
    /// Applies `f` to the route list of `prefix`, recording what changed.
    pub(super) fn edit<T>(
        &mut self,
        prefix: Ipv4Net,
        f: impl FnOnce(&mut Vec<Route>) -> Result<T, ApiError>,
    ) -> Result<T, ApiError> {
        let old = self.rib.get(&prefix);
        let mut list = old.to_vec();
        let r = f(&mut list)?;
        if list.as_slice() != old {
            if let Some(undo) = &mut self.undo {
                undo.push((prefix, old.to_vec()));
            }
            self.rib.set(&prefix, list);
            self.changed.push(prefix);
            self.fib_dirty = true;
        }
        Ok(r)
    }

    /// The RIB route a NEWROUTE message describes, checked like Linux's `fib_check_nh`.
    pub(super) fn route_from_msg(&self, r: &RouteMsg) -> Result<Route, ApiError> {
        let prefix = Ipv4Net::new(r.dst, r.dst_len).map_err(|_| {
            ApiError::inval(format!("invalid prefix length {}", r.dst_len)).at(ReqField::Dst)
        })?;
        let out_port = match r.oif {
            Some(i) => {
                let p = &self.ports[self.port_index(i)?];
                if !p.up {
                    return Err(ApiError::new(
                        errno::ENETDOWN,
                        format!("nexthop device {} is not up", p.name),
                    )
                    .at(ReqField::Ifindex));
                }
                Some(p)
            }
            None => None,
        };
        let target = match r.rtype {
            RouteType::Unicast | RouteType::Unspec if !r.multipath.is_empty() => {
                if r.gateway.is_some() || r.oif.is_some() {
                    return Err(ApiError::inval(
                        "a multipath route names its gateways and devices in its next hops \
                         (RTA_MULTIPATH), not in RTA_GATEWAY/RTA_OIF",
                    )
                    .at(gateway_or_device(r)));
                }
                self.multipath_target(&r.multipath)?
            }
            RouteType::Unicast | RouteType::Unspec => {
                match (r.gateway, out_port) {
                    (Some(gw), Some(p)) => {
                        if !p.addrs.iter().any(|a| a.contains(&gw)) {
                            return Err(ApiError::new(
                                errno::ENETUNREACH,
                                format!(
                                    "nexthop has invalid gateway: {gw} is not on {} of port {:?}",
                                    connected_networks(p),
                                    p.name
                                ),
                            )
                            .at(ReqField::Gateway));
                        }
                        RouteTarget::Gateway {
                            gw,
                            port: Some(p.id),
                        }
                    }
                    (Some(gw), None) => {
                        let port = self.on_link_port(gw).ok_or_else(|| {
                        ApiError::new(
                            errno::ENETUNREACH,
                            format!("nexthop has invalid gateway: {gw} is not on a connected network"),
                        ).at(ReqField::Gateway)
                    })?;
                        RouteTarget::Gateway {
                            gw,
                            port: Some(port),
                        }
                    }
                    (None, Some(p)) => RouteTarget::Connected { port: p.id },
                    (None, None) => {
                        return Err(ApiError::inval(
                            "a unicast route needs a gateway (via) or an output port (dev)",
                        ))
                    }
                }
            }
            RouteType::Blackhole | RouteType::Unreachable | RouteType::Prohibit => {
                if r.gateway.is_some() || r.oif.is_some() || !r.multipath.is_empty() {
                    let e = ApiError::inval(
                        "blackhole, unreachable and prohibit routes take no gateway or device",
                    );
                    return Err(if r.multipath.is_empty() {
                        e.at(gateway_or_device(r))
                    } else {
                        e
                    });
                }
                match r.rtype {
                    RouteType::Blackhole => RouteTarget::Blackhole,
                    RouteType::Unreachable => RouteTarget::Unreachable,
                    _ => RouteTarget::Prohibit,
                }
            }
            _ => {
                return Err(ApiError::new(
                    errno::EOPNOTSUPP,
                    "local and broadcast routes follow the ports' addresses (use addr add)",
                ))
            }
        };
        if let RouteTarget::Gateway { gw, .. } = target {
            if self
                .ports
                .iter()
                .any(|p| p.addrs.iter().any(|a| a.addr() == gw))
            {
                return Err(ApiError::inval(format!(
                    "nexthop has invalid gateway: {gw} is this router's own address"
                ))
                .at(ReqField::Gateway));
            }
        }
        if let RouteTarget::Gateway { gw, port: Some(p) } = target {
            self.check_gateway_host(gw, p)?;
        }
        Ok(Route {
            prefix,
            target,
            metric: r.metric.unwrap_or(0),
            proto: match r.protocol {
                Proto::Other(0) => Proto::Static,
                p => p,
            },
        })
    }

    pub(super) fn route_new(&mut self, change: Change, r: &RouteMsg) -> Result<(), ApiError> {
        let route = self.route_from_msg(r)?;
        self.insert_route(change, route)
    }

    /// `fib_table_insert`'s flag logic on one prefix's list.
    pub(super) fn insert_route(&mut self, change: Change, route: Route) -> Result<(), ApiError> {
        // The prefix and metric are taken.
        let exists = || ApiError::new(errno::EEXIST, "route already exists").at(ReqField::Dst);
        self.edit(route.prefix, |list| {
            let m = route.metric;
            let same: Vec<usize> = (0..list.len()).filter(|&i| list[i].metric == m).collect();
            if let (Some(&first), Some(&last)) = (same.first(), same.last()) {
                if change.if_exists == IfExists::Refuse {
                    return Err(exists());
                }
                if change.if_exists == IfExists::Replace {
                    let target = multipath::succeed(&list[first].target, route.target.clone());
                    list[first] = Route { target, ..route };
                    return Ok(());
                }
                if same.iter().any(|&i| list[i].target == route.target) {
                    return Err(exists());
                }
                if change.if_exists == IfExists::Append {
                    list.insert(last + 1, route);
                } else {
                    list.insert(first, route);
                }
                return Ok(());
            }
            if !change.create {
                return Err(ApiError::new(
                    errno::ENOENT,
                    "no such route to change (NLM_F_CREATE not set)",
                )
                .at(ReqField::Dst));
            }
            let at = list.iter().position(|x| x.metric > m).unwrap_or(list.len());
            list.insert(at, route);
            Ok(())
        })
    }

    pub(super) fn route_del(&mut self, r: &RouteMsg) -> Result<(), ApiError> {
        let prefix = Ipv4Net::new(r.dst, r.dst_len)
            .map_err(|_| ApiError::inval(format!("invalid prefix length {}", r.dst_len)))?;
        let port = match r.oif {
            Some(i) => Some(self.ports[self.port_index(i)?].id),
            None => None,
        };
        self.edit(prefix, |list| {
            let i = list
                .iter()
                .position(|x| {
                    let (t, gw, p) = route_parts(x);
                    r.metric.map_or(true, |m| m == x.metric)
                        && (r.rtype == RouteType::Unspec || r.rtype == t)
                        && r.gateway.map_or(true, |g| gw == Some(g))
                        && port.map_or(true, |o| p == Some(o))
                        && (r.protocol == Proto::Other(0) || r.protocol == x.proto)
                        && (r.multipath.is_empty()
                            || multipath::multipath_of(x)
                                .iter()
                                .map(|h| h.gateway)
                                .eq(r.multipath.iter().map(|h| h.gateway)))
                })
                .ok_or_else(|| ApiError::new(errno::ESRCH, "no such route"))?;
            list.remove(i);
            Ok(())
        })
    }

    pub(super) fn route_msg(&self, r: &Route) -> RouteMsg {
        let (rtype, gateway, port) = route_parts(r);
        let scope = match r.target {
            RouteTarget::Local { .. } => Scope::Host,
            RouteTarget::Connected { .. } | RouteTarget::Broadcast { .. } => Scope::Link,
            _ => Scope::Universe,
        };
        let prefsrc = match (r.proto, port) {
            (Proto::Kernel, Some(p)) => self.port_state(p).and_then(|ps| {
                ps.addrs
                    .iter()
                    .find(|a| a.contains(&r.prefix.network()))
                    .map(|a| a.addr())
            }),
            _ => None,
        };
        RouteMsg {
            dst: r.prefix.network(),
            dst_len: r.prefix.prefix_len(),
            protocol: r.proto,
            scope,
            rtype,
            gateway,
            oif: port.map(ifindex),
            metric: Some(r.metric),
            prefsrc,
            multipath: multipath::multipath_of(r),
        }
    }

    /// Every route, or those of exactly the prefix asked for when one is given.
    pub(super) fn route_dump(&self, filter: &RouteMsg, seq: u32, out: &mut Vec<Message>) {
        let part =
            |r: &RouteMsg| Message::new(RTM_NEWROUTE, NLM_F_MULTI, seq, Body::Route(r.clone()));
        if filter.dst_len > 0 || filter.dst != Ipv4Addr::UNSPECIFIED {
            if let Ok(p) = Ipv4Net::new(filter.dst, filter.dst_len) {
                for r in self.rib.get(&p) {
                    out.push(part(&self.route_msg(r)));
                }
            }
        } else {
            out.reserve(self.rib.len() + 1);
            for r in self.rib.iter() {
                out.push(part(&self.route_msg(r)));
            }
        }
        out.push(Message::done(seq));
    }

    /// `ip route get`: what the workers' FIB does with `dst` (published first, so that a
    /// change made just before is seen).
    pub(super) fn route_get(
        &mut self,
        r: &RouteMsg,
        seq: u32,
        out: &mut Vec<Message>,
    ) -> Result<(), ApiError> {
        if r.dst_len != 32 {
            return Err(ApiError::inval("route get needs a host address (/32)"));
        }
        if self.dirty() {
            self.publish_fib();
        }
        let fib = self.shared.fib.load();
        // A multipath route answers with the member a flow to `dst` from nowhere takes.
        let d = u32::from(r.dst);
        let hash = crate::fib::flow::hash_tuple(0, d, 0, 0, 0);
        let nh = fib
            .pick(fib.lookup(d), hash)
            .ok_or_else(|| ApiError::new(errno::ENETUNREACH, "network is unreachable"))?;
        let (rtype, gateway, port) = match nh {
            NextHop::Local { port } => (RouteType::Local, None, Some(port)),
            NextHop::Broadcast { port } => (RouteType::Broadcast, None, Some(port)),
            NextHop::Connected { port } => (RouteType::Unicast, None, Some(port)),
            NextHop::Gateway { port, gw } => (RouteType::Unicast, Some(gw), Some(port)),
            NextHop::Blackhole => (RouteType::Blackhole, None, None),
            NextHop::Unreachable => (RouteType::Unreachable, None, None),
            NextHop::Prohibit => (RouteType::Prohibit, None, None),
            NextHop::Group { .. } => {
                return Err(ApiError::new(errno::ENETUNREACH, "network is unreachable"))
            }
        };
        let prefsrc = port.and_then(|p| self.port_state(p)).and_then(|ps| {
            let towards = gateway.unwrap_or(r.dst);
            ps.addrs
                .iter()
                .find(|a| a.contains(&towards))
                .or(ps.addrs.first())
                .map(|a| a.addr())
        });
        let reply = RouteMsg {
            dst: r.dst,
            dst_len: 32,
            protocol: Proto::Other(0),
            scope: Scope::Universe,
            rtype,
            gateway,
            oif: port.map(ifindex),
            metric: None,
            prefsrc,
            multipath: Vec::new(),
        };
        out.push(Message::new(RTM_NEWROUTE, 0, seq, Body::Route(reply)));
        Ok(())
    }
}

/// (type, gateway, port) of a route.
fn route_parts(r: &Route) -> (RouteType, Option<Ipv4Addr>, Option<u16>) {
    match r.target {
        RouteTarget::Local { port } => (RouteType::Local, None, Some(port)),
        RouteTarget::Broadcast { port } => (RouteType::Broadcast, None, Some(port)),
        RouteTarget::Connected { port } => (RouteType::Unicast, None, Some(port)),
        RouteTarget::Gateway { gw, port } => (RouteType::Unicast, Some(gw), port),
        RouteTarget::Blackhole => (RouteType::Blackhole, None, None),
        RouteTarget::Unreachable => (RouteType::Unreachable, None, None),
        RouteTarget::Prohibit => (RouteType::Prohibit, None, None),
        RouteTarget::Multipath(_) => (RouteType::Unicast, None, None),
    }
}

/// `the connected network 10.0.2.0/24` (or `networks A, B`) of a port, for messages.
fn connected_networks(p: &PortState) -> String {
    let nets: Vec<String> = p.addrs.iter().map(|a| a.trunc().to_string()).collect();
    let s = if nets.len() == 1 { "" } else { "s" };
    format!("the connected network{s} {}", nets.join(", "))
}

impl Rtnl {
    /// A gateway must be a host of its connected network, not the network's or the
    /// broadcast address (Linux's local table has a broadcast route for it, so
    /// `fib_check_nh` refuses it); /31 and /32 have no such addresses.
    pub(super) fn check_gateway_host(&self, gw: Ipv4Addr, port: u16) -> Result<(), ApiError> {
        let Some(p) = self.port_state(port) else {
            return Ok(());
        };
        let net = (p.addrs.iter().filter(|a| a.contains(&gw))).max_by_key(|a| a.prefix_len());
        match net {
            Some(n) if n.prefix_len() <= 30 && (gw == n.network() || gw == n.broadcast()) => {
                let what = if gw == n.network() {
                    "network"
                } else {
                    "broadcast"
                };
                Err(ApiError::inval(format!(
                    "nexthop has invalid gateway: {gw} is the {what} address of the connected \
                     network {} of port {:?}",
                    n.trunc(),
                    p.name
                ))
                .at(ReqField::Gateway))
            }
            _ => Ok(()),
        }
    }
}

/// The field a refusal of a gateway or device given where none may be is about.
fn gateway_or_device(r: &RouteMsg) -> ReqField {
    match r.gateway {
        Some(_) => ReqField::Gateway,
        None => ReqField::Ifindex,
    }
}
