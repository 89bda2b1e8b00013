//! The routes an interface address brings (as Linux adds for `ip addr add`).
use super::{Proto, Route, RouteTarget};
use ipnet::Ipv4Net;

/// Connected, local and broadcast routes of address `addr` on `port`.
pub fn address_routes(addr: Ipv4Net, port: u16) -> Vec<Route> {
    let kernel = |prefix, target| Route {
        prefix,
        target,
        metric: 0,
        proto: Proto::Kernel,
    };
    let host = |a| Ipv4Net::new(a, 32).unwrap_or_default();
    let mut v = vec![
        kernel(addr.trunc(), RouteTarget::Connected { port }),
        kernel(host(addr.addr()), RouteTarget::Local { port }),
    ];
    // /31 and /32 have no broadcast address (RFC 3021).
    if addr.prefix_len() <= 30 {
        v.push(kernel(
            host(addr.broadcast()),
            RouteTarget::Broadcast { port },
        ));
    }
    v
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_subnet_brings_connected_local_and_broadcast() {
        let r = address_routes("10.0.1.1/24".parse().unwrap(), 3);
        let got: Vec<(String, RouteTarget)> = r
            .iter()
            .map(|r| (r.prefix.to_string(), r.target.clone()))
            .collect();
        assert_eq!(
            got,
            vec![
                ("10.0.1.0/24".into(), RouteTarget::Connected { port: 3 }),
                ("10.0.1.1/32".into(), RouteTarget::Local { port: 3 }),
                ("10.0.1.255/32".into(), RouteTarget::Broadcast { port: 3 }),
            ]
        );
        assert_eq!(address_routes("10.0.9.0/31".parse().unwrap(), 0).len(), 2);
    }
}
