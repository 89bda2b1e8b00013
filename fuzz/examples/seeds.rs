//! Writes the seed corpora (`fuzz/corpus/<target>/`): real frames, real requests and the
//! embedded config, built with ferroute's own encoders so that they stay valid when the
//! formats change. Run from the repository root:
//! `cargo run --manifest-path fuzz/Cargo.toml --example seeds`.
use ferroute::api::*;
use ferroute::wire::arp;
use ferroute::wire::checksum;
use ferroute::wire::ethernet::{EthernetFrame, ETHERTYPE_ARP, ETHERTYPE_IPV4};
use ferroute::wire::icmpv4::{self, Icmpv4Packet};
use ferroute::wire::ipv4::Ipv4Packet;
use ferroute::wire::MacAddr;
use ferroute_fuzz::{HOST0, MAC0};
use std::net::Ipv4Addr;
use std::path::Path;

fn write(target: &str, name: &str, bytes: &[u8]) {
    let dir = Path::new("fuzz/corpus").join(target);
    std::fs::create_dir_all(&dir).expect("corpus directory");
    std::fs::write(dir.join(name), bytes).expect("seed written");
}

struct Ip {
    src: [u8; 4],
    dst: [u8; 4],
    proto: u8,
    ttl: u8,
    df: bool,
    mf: bool,
    off: u16,
    ident: u16,
    options: Vec<u8>,
}

impl Ip {
    fn new(src: [u8; 4], dst: [u8; 4], proto: u8) -> Ip {
        Ip {
            src,
            dst,
            proto,
            ttl: 64,
            df: true,
            mf: false,
            off: 0,
            ident: 0x1234,
            options: Vec::new(),
        }
    }

    /// Ethernet (host -> router port 0) + this header + `payload`.
    fn frame(&self, payload: &[u8]) -> Vec<u8> {
        let hlen = 20 + self.options.len();
        let mut f = vec![0u8; 14 + hlen + payload.len()];
        {
            let mut e = EthernetFrame::new_unchecked(&mut f[..]);
            e.set_dst(MAC0);
            e.set_src(HOST0);
            e.set_ethertype(ETHERTYPE_IPV4);
        }
        f[34..34 + self.options.len()].copy_from_slice(&self.options);
        f[14 + hlen..].copy_from_slice(payload);
        let mut ip = Ipv4Packet::new_unchecked(&mut f[14..]);
        ip.set_version_ihl(4, (hlen / 4) as u8);
        ip.set_total_len((hlen + payload.len()) as u16);
        ip.set_ident(self.ident);
        ip.set_frag(self.df, self.mf, self.off);
        ip.set_ttl(self.ttl);
        ip.set_protocol(self.proto);
        ip.set_src_addr(Ipv4Addr::from(self.src));
        ip.set_dst_addr(Ipv4Addr::from(self.dst));
        ip.fill_checksum();
        f
    }
}

/// An ICMP echo request with `data`.
fn echo(data: &[u8]) -> Vec<u8> {
    let mut m = vec![0u8; 8 + data.len()];
    m[8..].copy_from_slice(data);
    let mut p = Icmpv4Packet::new_unchecked(&mut m[..]);
    p.set_msg_type(icmpv4::ECHO_REQUEST);
    p.set_echo_ident(0x4242);
    p.set_echo_seq(1);
    p.fill_checksum();
    m
}

fn udp(len: usize) -> Vec<u8> {
    let mut u = vec![0u8; len];
    u[0..2].copy_from_slice(&40000u16.to_be_bytes());
    u[2..4].copy_from_slice(&33434u16.to_be_bytes());
    u[4..6].copy_from_slice(&(len as u16).to_be_bytes());
    u
}

fn arp_frame(op: u16, spa: [u8; 4], tpa: [u8; 4], dst: MacAddr) -> Vec<u8> {
    let mut f = vec![0u8; 60];
    {
        let mut e = EthernetFrame::new_unchecked(&mut f[..]);
        e.set_dst(dst);
        e.set_src(HOST0);
        e.set_ethertype(ETHERTYPE_ARP);
    }
    let tha = if op == arp::OP_REPLY {
        MAC0
    } else {
        MacAddr::ZERO
    };
    arp::emit(&mut f[14..], op, HOST0, spa.into(), tha, tpa.into()).unwrap();
    f
}

/// A pipeline input: flags (RX checksum, ingress port, port 1's MTU index), then frames.
fn burst(flags: u8, frames: &[Vec<u8>]) -> Vec<u8> {
    let mut v = vec![flags];
    for f in frames {
        v.extend_from_slice(&(f.len() as u16).to_be_bytes());
        v.extend_from_slice(f);
    }
    v
}

fn main() {
    let h = [10, 0, 1, 2];
    let me = [10, 0, 1, 1];
    let ping = Ip::new(h, me, 1).frame(&echo(b"abcdefghijklmnopqrstuvwxyz012345"));
    let fwd = Ip::new(h, [8, 8, 8, 8], 17).frame(&udp(26));
    let big_df = Ip::new(h, [8, 8, 4, 4], 17).frame(&udp(1472));
    let big = Ip {
        df: false,
        ..Ip::new(h, [8, 8, 4, 4], 17)
    }
    .frame(&udp(1472));
    let ttl1 = Ip {
        ttl: 1,
        ..Ip::new(h, [8, 8, 8, 8], 17)
    }
    .frame(&udp(12));
    let opts = Ip {
        options: vec![0x94, 4, 0, 0, 1, 1, 1, 0], // router alert (copied), NOP, EOL
        df: false,
        ..Ip::new(h, [10, 0, 3, 7], 17)
    }
    .frame(&udp(1200));
    let arp_req = arp_frame(arp::OP_REQUEST, h, me, MacAddr::BROADCAST);
    let arp_rep = arp_frame(arp::OP_REPLY, h, me, MAC0);
    // A ping of 3000 data octets to the router in three fragments.
    let payload = echo(&[0x61; 3000]);
    let frags: Vec<Vec<u8>> = payload
        .chunks(1480)
        .enumerate()
        .map(|(i, c)| {
            Ip {
                df: false,
                mf: (i + 1) * 1480 < payload.len(),
                off: (i * 1480) as u16,
                ident: 0x7777,
                ..Ip::new(h, me, 1)
            }
            .frame(c)
        })
        .collect();

    // Wire parsers.
    write("wire_ethernet", "arp-request", &arp_req);
    write("wire_ethernet", "ping", &ping);
    write("wire_ethernet", "mac", b"02:00:5e:10:00:01");
    write("wire_ipv4", "ping", &ping[14..]);
    write("wire_ipv4", "options", &opts[14..]);
    write("wire_ipv4", "fragment", &frags[1][14..]);
    write("wire_arp", "request", &arp_req[14..]);
    write("wire_arp", "reply", &arp_rep[14..42]);
    write("wire_icmpv4", "echo", &ping[34..]);
    let mut err = ttl1.clone();
    let mut err_pkt = ferroute::datapath::VecPacket::<2048>::new(&err, 0);
    ferroute::datapath::icmp_error::build_icmp_error(
        &mut err_pkt,
        ferroute::datapath::IcmpOut::FragNeeded,
        Ipv4Addr::from(me),
        1400,
        1,
    );
    err.clone_from(&err_pkt.buf);
    write("wire_icmpv4", "frag-needed", &err[34..]);
    write("wire_checksum", "header", &ping[14..34]);
    write("wire_checksum", "odd", &ping[14..47]);
    let _ = checksum::checksum(&ping[14..34]);

    // The pipeline: flags 0 = software checksum, port 0, port 1 MTU 68; 0x50 = MTU 1500;
    // 0x20 = MTU 576.
    write(
        "pipeline",
        "forward",
        &burst(0x50, std::slice::from_ref(&fwd)),
    );
    write(
        "pipeline",
        "forward-offload",
        &burst(0x51, &[fwd.clone(), fwd.clone()]),
    );
    write(
        "pipeline",
        "ping-router",
        &burst(0x50, std::slice::from_ref(&ping)),
    );
    write(
        "pipeline",
        "ttl-expired",
        &burst(0x50, std::slice::from_ref(&ttl1)),
    );
    write("pipeline", "frag-needed", &burst(0x20, &[big_df]));
    write("pipeline", "fragment", &burst(0x20, &[big]));
    write("pipeline", "options-fragment", &burst(0x20, &[opts]));
    write("pipeline", "arp", &burst(0x50, &[arp_req, arp_rep]));
    write("pipeline", "reassembly", &burst(0x20, &frags));
    let mut others = Vec::new();
    for dst in [
        [10, 0, 1, 1],
        [192, 0, 2, 1],
        [198, 51, 100, 1],
        [203, 0, 113, 1],
        [10, 0, 1, 255],
        [10, 9, 1, 1],
        [172, 16, 0, 1],
        [100, 64, 0, 1],
        [10, 0, 2, 9],
    ] {
        others.push(Ip::new(h, dst, 17).frame(&udp(20)));
    }
    write("pipeline", "routes", &burst(0x50, &others));

    // Reassembly: params (timeout, max bytes, max datagrams), then three fragments of
    // datagram 0 out of order and a timer run (see fuzz_targets/reassembly.rs).
    let mut r = vec![100, 0x10, 0x00, 4];
    for (off8, len, fl) in [(185u16, 1000u16, 0u8), (0, 1480, 1), (370, 520, 1)] {
        r.extend_from_slice(&[2, 0]);
        r.extend_from_slice(&off8.to_be_bytes());
        r.extend_from_slice(&len.to_be_bytes());
        r.push(fl);
    }
    r.extend_from_slice(&[1, 0x10, 0]);
    write("reassembly", "three-fragments", &r);
    let mut raw = vec![10, 0x01, 0x00, 2, 0];
    raw.extend_from_slice(&(frags[0].len() as u16).to_be_bytes());
    raw.extend_from_slice(&frags[0]);
    write("reassembly", "raw-first-fragment", &raw);

    // The control API: requests as the CLI sends them.
    let req = NLM_F_REQUEST | NLM_F_ACK;
    let add = req | NLM_F_CREATE | NLM_F_EXCL;
    let msg = |kind, flags, seq, body| Message::new(kind, flags, seq, body).to_bytes();
    let addr = |ifindex, a: [u8; 4], len| {
        Body::Addr(AddrMsg {
            ifindex,
            prefix_len: len,
            local: Some(a.into()),
            label: None,
        })
    };
    let mut setup = vec![0u8];
    setup.extend(msg(RTM_NEWADDR, add, 1, addr(1, [10, 0, 1, 1], 24)));
    setup.extend(msg(RTM_NEWADDR, add, 2, addr(2, [10, 0, 2, 1], 24)));
    let route = |dst: [u8; 4], len, gw: Option<[u8; 4]>| {
        Body::Route(RouteMsg {
            gateway: gw.map(Ipv4Addr::from),
            ..RouteMsg::new(dst.into(), len)
        })
    };
    let mut routes = setup.clone();
    routes.extend(msg(
        RTM_NEWROUTE,
        add,
        3,
        route([0; 4], 0, Some([10, 0, 2, 2])),
    ));
    routes.extend(msg(
        RTM_NEWROUTE,
        add,
        4,
        route([10, 9, 0, 0], 16, Some([10, 0, 1, 9])),
    ));
    routes.extend(msg(RTM_DELROUTE, req, 5, route([10, 9, 0, 0], 16, None)));
    routes.extend(msg(
        RTM_GETROUTE,
        req | NLM_F_DUMP,
        6,
        route([0; 4], 0, None),
    ));
    routes.extend(msg(RTM_GETROUTE, req, 7, route([8, 8, 8, 8], 32, None)));
    write("control", "routes", &routes);
    let mut b = setup.clone();
    b[0] = 1;
    b.extend(msg(FR_BATCH_BEGIN, NLM_F_REQUEST, 3, Body::Empty));
    for i in 0..4u8 {
        b.extend(msg(
            RTM_NEWROUTE,
            add,
            4 + u32::from(i),
            route([10, 10 + i, 0, 0], 16, Some([10, 0, 2, 2])),
        ));
    }
    b.extend(msg(FR_BATCH_END, NLM_F_REQUEST, 9, Body::Empty));
    write("control", "batch", &b);
    let mut n = setup.clone();
    let neigh = |ip: [u8; 4], mac: Option<MacAddr>| {
        Body::Neigh(NeighMsg {
            ifindex: 1,
            state: ferroute::api::Nud::Permanent,
            dst: Some(ip.into()),
            lladdr: mac,
            probes: None,
        })
    };
    n.extend(msg(RTM_NEWNEIGH, add, 3, neigh([10, 0, 1, 2], Some(HOST0))));
    n.extend(msg(RTM_GETNEIGH, req | NLM_F_DUMP, 4, neigh([0; 4], None)));
    n.extend(msg(RTM_DELNEIGH, req, 5, neigh([10, 0, 1, 2], None)));
    write("control", "neighbours", &n);
    let mut l = setup.clone();
    let link = Body::Link(LinkMsg {
        ifindex: 2,
        flags: 0,
        change: IFF_UP,
        mtu: Some(1400),
        ..LinkMsg::default()
    });
    l.extend(msg(RTM_NEWLINK, req, 3, link));
    l.extend(msg(
        RTM_GETLINK,
        req | NLM_F_DUMP,
        4,
        Body::Link(LinkMsg::default()),
    ));
    let tbf = Body::Qdisc(QdiscMsg {
        ifindex: 1,
        kind: Some("tbf".into()),
        tbf: Some(TbfSpec {
            rate: 125_000,
            burst: 10_000,
            latency_us: 50_000,
            limit: 0,
        }),
        ..QdiscMsg::default()
    });
    l.extend(msg(RTM_NEWQDISC, add, 5, tbf));
    l.extend(msg(
        RTM_GETQDISC,
        req | NLM_F_DUMP,
        6,
        Body::Qdisc(QdiscMsg::default()),
    ));
    l.extend(msg(FR_GETSTATUS, req, 7, Body::Empty));
    l.extend(msg(FR_GETCONFIG, req, 8, Body::Empty));
    write("control", "links-qdiscs-status", &l);

    // The config: the embedded default.
    let conf = std::fs::read("conf/router.toml").expect("run from the repository root");
    write("config", "router.toml", &conf);
}
