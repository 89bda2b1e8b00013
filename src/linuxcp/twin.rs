//! A port's kernel twin: a TAP device in the control-plane namespace with the port's
//! name, MAC, MTU, addresses and admin state, and no ARP of its own (ferroute owns ARP;
//! the kernel addresses frames to the twin's own MAC and ferroute resolves the next hop).
use super::netlink::Netlink;
use super::netns::sysctl;
use crate::datapath::PortCtx;
use ipnet::Ipv4Net;
use netlink_packet_core::{NLM_F_CREATE, NLM_F_EXCL};
use netlink_packet_route::address::{AddressAttribute, AddressMessage};
use netlink_packet_route::link::{LinkAttribute, LinkFlags, LinkMessage};
use netlink_packet_route::{AddressFamily, RouteNetlinkMessage};
use std::io;
use std::net::IpAddr;
use tun_tap::{Iface, Mode};

/// What the control thread and the follower know of a twin.
#[derive(Debug, Clone)]
pub struct Twin {
    pub port: u16,
    pub name: String,
    /// Its ifindex in the control-plane namespace.
    pub ifindex: u32,
}

/// The state last given to a twin, to change only what differs.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Applied {
    pub addrs: Vec<Ipv4Net>,
    pub mtu: u16,
    pub up: bool,
}

/// The addresses of a port, primary first (the kernel makes the first of a subnet
/// primary).
pub fn port_addrs(p: &PortCtx) -> Vec<Ipv4Net> {
    std::iter::once(p.addr)
        .chain(p.secondary.iter().copied())
        .filter(|a| !a.addr().is_unspecified())
        .collect()
}

fn with_name(e: io::Error, name: &str, what: &str) -> io::Error {
    io::Error::new(e.kind(), format!("twin {name}: {what}: {e}"))
}

/// Creates the twin of `port` (call on a thread inside the namespace, with a netlink
/// socket opened there) and gives it the port's state; the TAP is non-blocking.
pub fn create(nl: &mut Netlink, port: &PortCtx) -> io::Result<(Twin, Iface, Applied)> {
    let name = &port.name;
    let tap = Iface::without_packet_info(name, Mode::Tap)
        .map_err(|e| with_name(e, name, "cannot create the TAP (is the name taken?)"))?;
    if tap.name() != name {
        return Err(io::Error::other(format!(
            "twin {name}: the kernel named the TAP {} (names are at most 15 bytes)",
            tap.name()
        )));
    }
    tap.set_non_blocking()
        .map_err(|e| with_name(e, name, "O_NONBLOCK"))?;
    // IPv4 only: no IPv6 link-local address, router solicitations or MLD reports.
    let _ = sysctl(&format!("net.ipv6.conf.{name}.disable_ipv6"), "1");
    let ifindex = ifindex_of(nl, name)?;
    let twin = Twin {
        port: port.id,
        name: name.clone(),
        ifindex,
    };
    let mut applied = Applied::default();
    set_link(nl, &twin, port.mac.0, None, false)?;
    sync(nl, &twin, &mut applied, port)?;
    Ok((twin, tap, applied))
}

fn ifindex_of(nl: &mut Netlink, name: &str) -> io::Result<u32> {
    let mut m = LinkMessage::default();
    m.attributes.push(LinkAttribute::IfName(name.into()));
    let got = nl
        .dump_one(RouteNetlinkMessage::GetLink(m))
        .map_err(|e| with_name(e, name, "RTM_GETLINK"))?;
    match got {
        Some(RouteNetlinkMessage::NewLink(l)) => Ok(l.header.index),
        _ => Err(io::Error::other(format!(
            "twin {name}: no RTM_NEWLINK answer"
        ))),
    }
}

/// MAC (when given), MTU (when given), NOARP always, and up or down.
fn set_link(
    nl: &mut Netlink,
    twin: &Twin,
    mac: [u8; 6],
    mtu: Option<u16>,
    up: bool,
) -> io::Result<()> {
    let mut m = LinkMessage::default();
    m.header.index = twin.ifindex;
    m.header.flags = LinkFlags::Noarp
        | if up {
            LinkFlags::Up
        } else {
            LinkFlags::empty()
        };
    m.header.change_mask = LinkFlags::Noarp | LinkFlags::Up;
    m.attributes.push(LinkAttribute::Address(mac.to_vec()));
    if let Some(mtu) = mtu {
        m.attributes.push(LinkAttribute::Mtu(mtu.into()));
    }
    nl.change(RouteNetlinkMessage::SetLink(m), 0)
        .map_err(|e| with_name(e, &twin.name, "RTM_SETLINK"))
}

/// Brings the namespace's `lo` up (a new namespace has it down; daemons and `ssh
/// localhost` expect it).
pub fn loopback_up(nl: &mut Netlink) -> io::Result<()> {
    let mut m = LinkMessage::default();
    m.header.index = ifindex_of(nl, "lo")?;
    m.header.flags = LinkFlags::Up;
    m.header.change_mask = LinkFlags::Up;
    nl.change(RouteNetlinkMessage::SetLink(m), 0)
}

fn addr_msg(twin: &Twin, a: Ipv4Net) -> AddressMessage {
    let mut m = AddressMessage::default();
    m.header.family = AddressFamily::Inet;
    m.header.prefix_len = a.prefix_len();
    m.header.index = twin.ifindex;
    m.attributes
        .push(AddressAttribute::Local(IpAddr::V4(a.addr())));
    m.attributes
        .push(AddressAttribute::Address(IpAddr::V4(a.addr())));
    if a.prefix_len() < 31 {
        // So the kernel takes the subnet's broadcast (RIP, DHCP relays) as its own.
        m.attributes
            .push(AddressAttribute::Broadcast(a.broadcast()));
    }
    m
}

/// Gives the twin what changed in the port since `applied`.
pub fn sync(
    nl: &mut Netlink,
    twin: &Twin,
    applied: &mut Applied,
    port: &PortCtx,
) -> io::Result<()> {
    let want = Applied {
        addrs: port_addrs(port),
        mtu: port.mtu,
        up: port.up,
    };
    if want == *applied {
        return Ok(());
    }
    if want.mtu != applied.mtu || want.up != applied.up {
        set_link(nl, twin, port.mac.0, Some(want.mtu), want.up)?;
    }
    for a in applied.addrs.iter().filter(|a| !want.addrs.contains(a)) {
        match nl.change(RouteNetlinkMessage::DelAddress(addr_msg(twin, *a)), 0) {
            Ok(()) => {}
            Err(e) if e.raw_os_error() == Some(nix::libc::EADDRNOTAVAIL) => {}
            Err(e) => return Err(with_name(e, &twin.name, &format!("delete address {a}"))),
        }
    }
    for a in want.addrs.iter().filter(|a| !applied.addrs.contains(a)) {
        let m = RouteNetlinkMessage::NewAddress(addr_msg(twin, *a));
        match nl.change(m, NLM_F_CREATE | NLM_F_EXCL) {
            Ok(()) => {}
            Err(e) if e.raw_os_error() == Some(nix::libc::EEXIST) => {}
            Err(e) => return Err(with_name(e, &twin.name, &format!("add address {a}"))),
        }
    }
    *applied = want;
    Ok(())
}
