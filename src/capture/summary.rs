//! One line per captured frame, as tcpdump prints it without `-v` (`ferroute capture`
//! without `-w`): `12:00:01.000123 port0 In  IP 10.0.1.2 > 10.0.2.2: ICMP echo request,
//! id 7, seq 1, length 64`. Reads what it can of the bytes and never panics on a runt
//! or a malformed header (the frames a capture of drops shows).
use std::fmt::Write as _;
use std::net::Ipv4Addr;

/// `HH:MM:SS.uuuuuu` of a time in nanoseconds since the epoch (UTC).
pub fn clock(ts_ns: u64) -> String {
    let s = ts_ns / 1_000_000_000;
    let us = ts_ns % 1_000_000_000 / 1000;
    format!(
        "{:02}:{:02}:{:02}.{us:06}",
        s / 3600 % 24,
        s / 60 % 60,
        s % 60
    )
}

fn ip(b: &[u8], at: usize) -> Option<Ipv4Addr> {
    let o: [u8; 4] = b.get(at..at + 4)?.try_into().ok()?;
    Some(Ipv4Addr::from(o))
}

fn be16(b: &[u8], at: usize) -> Option<u16> {
    Some(u16::from_be_bytes([*b.get(at)?, *b.get(at + 1)?]))
}

fn mac(b: &[u8]) -> String {
    b.iter()
        .map(|x| format!("{x:02x}"))
        .collect::<Vec<_>>()
        .join(":")
}

/// What tcpdump prints after the time and interface for an Ethernet frame of
/// `orig_len` octets.
pub fn frame(f: &[u8], orig_len: u32) -> String {
    let Some(ethertype) = be16(f, 12) else {
        return format!("[|ether], length {orig_len}");
    };
    let p = &f[14..];
    match ethertype {
        0x0800 => ipv4(p),
        0x0806 => arp(p),
        t => format!("ethertype 0x{t:04x}, length {orig_len}"),
    }
}

fn arp(p: &[u8]) -> String {
    let (Some(op), Some(sha), Some(spa), Some(tpa)) =
        (be16(p, 6), p.get(8..14), ip(p, 14), ip(p, 24))
    else {
        return "ARP, [|arp]".into();
    };
    match op {
        1 => format!("ARP, Request who-has {tpa} tell {spa}, length {}", p.len()),
        2 => format!("ARP, Reply {spa} is-at {}, length {}", mac(sha), p.len()),
        o => format!("ARP, opcode {o}, length {}", p.len()),
    }
}

fn ipv4(p: &[u8]) -> String {
    let Some(&vihl) = p.first() else {
        return "IP [|ip]".into();
    };
    let ihl = usize::from(vihl & 0xf) * 4;
    if vihl >> 4 != 4 {
        return format!("IP{} [|ip]", vihl >> 4);
    }
    let (Some(total), Some(src), Some(dst), Some(&proto)) =
        (be16(p, 2), ip(p, 12), ip(p, 16), p.get(9))
    else {
        return "IP [|ip]".into();
    };
    if ihl < 20 {
        return format!("IP {src} > {dst}: bad-hlen {ihl}");
    }
    let len = usize::from(total).saturating_sub(ihl);
    // Not the first fragment: no transport header to read.
    let frag = be16(p, 6).unwrap_or(0) & 0x1fff != 0;
    let l4 = p.get(ihl..).unwrap_or(&[]);
    let mut s = String::new();
    match (proto, frag) {
        (1, false) => {
            let _ = write!(s, "IP {src} > {dst}: ");
            icmp(&mut s, l4, len);
        }
        (6, false) => match (be16(l4, 0), be16(l4, 2), l4.get(13)) {
            (Some(sp), Some(dp), Some(&fl)) => {
                let hl = l4.get(12).map_or(20, |o| usize::from(o >> 4) * 4);
                let _ = write!(
                    s,
                    "IP {src}.{sp} > {dst}.{dp}: Flags [{}], length {}",
                    tcp_flags(fl),
                    len.saturating_sub(hl)
                );
            }
            _ => {
                let _ = write!(s, "IP {src} > {dst}: tcp [|tcp]");
            }
        },
        (17, false) => match (be16(l4, 0), be16(l4, 2)) {
            (Some(sp), Some(dp)) => {
                let _ = write!(
                    s,
                    "IP {src}.{sp} > {dst}.{dp}: UDP, length {}",
                    len.saturating_sub(8)
                );
            }
            _ => {
                let _ = write!(s, "IP {src} > {dst}: udp [|udp]");
            }
        },
        (p, _) => {
            let name = match p {
                1 => "icmp".to_string(),
                6 => "tcp".into(),
                17 => "udp".into(),
                n => format!("ip-proto-{n}"),
            };
            let _ = write!(s, "IP {src} > {dst}: {name} {len}");
        }
    }
    s
}

fn icmp(s: &mut String, m: &[u8], len: usize) {
    let (Some(&t), Some(&c)) = (m.first(), m.get(1)) else {
        let _ = write!(s, "ICMP [|icmp]");
        return;
    };
    let (id, seq) = (be16(m, 4).unwrap_or(0), be16(m, 6).unwrap_or(0));
    // The quoted header of an error: its destination.
    let quoted = ip(m, 8 + 16).map_or_else(String::new, |a| a.to_string());
    let _ = match (t, c) {
        (8, _) => write!(s, "ICMP echo request, id {id}, seq {seq}, length {len}"),
        (0, _) => write!(s, "ICMP echo reply, id {id}, seq {seq}, length {len}"),
        (11, _) => write!(s, "ICMP time exceeded in-transit, length {len}"),
        (3, 0) => write!(s, "ICMP net {quoted} unreachable, length {len}"),
        (3, 1) => write!(s, "ICMP host {quoted} unreachable, length {len}"),
        (3, 3) => write!(s, "ICMP {quoted} port unreachable, length {len}"),
        (3, 4) => write!(s, "ICMP {quoted} unreachable - need to frag, length {len}"),
        (3, c) => write!(s, "ICMP {quoted} unreachable code {c}, length {len}"),
        (t, c) => write!(s, "ICMP type-#{t} code {c}, length {len}"),
    };
}

/// tcpdump's flag letters: S F P R . (ack) U E W.
fn tcp_flags(f: u8) -> String {
    let mut s = String::new();
    for (bit, ch) in [
        (0x02, 'S'),
        (0x01, 'F'),
        (0x08, 'P'),
        (0x04, 'R'),
        (0x20, 'U'),
        (0x40, 'E'),
        (0x80, 'W'),
    ] {
        if f & bit != 0 {
            s.push(ch);
        }
    }
    if f & 0x10 != 0 {
        s.push('.');
    }
    if s.is_empty() {
        s.push_str("none");
    }
    s
}

#[cfg(test)]
mod tests {
    use super::*;

    fn ipv4_frame(proto: u8, l4: &[u8]) -> Vec<u8> {
        let mut f = vec![0u8; 14];
        f[12..14].copy_from_slice(&[0x08, 0x00]);
        let total = (20 + l4.len()) as u16;
        f.extend_from_slice(&[0x45, 0, 0, 0, 0, 1, 0x40, 0, 64, proto, 0, 0]);
        f[16..18].copy_from_slice(&total.to_be_bytes());
        f.extend_from_slice(&[10, 0, 1, 2, 10, 0, 2, 2]);
        f.extend_from_slice(l4);
        f
    }

    #[test]
    fn lines_as_tcpdump_prints_them() {
        let mut echo = vec![8, 0, 0, 0, 0, 7, 0, 1];
        echo.resize(64, 0);
        let f = ipv4_frame(1, &echo);
        assert_eq!(
            frame(&f, f.len() as u32),
            "IP 10.0.1.2 > 10.0.2.2: ICMP echo request, id 7, seq 1, length 64"
        );
        echo[0] = 0;
        assert!(frame(&ipv4_frame(1, &echo), 98).contains("ICMP echo reply, id 7, seq 1"));
        let udp = [0x30, 0x39, 0x00, 0x35, 0, 12, 0, 0, 1, 2, 3, 4];
        assert_eq!(
            frame(&ipv4_frame(17, &udp), 46),
            "IP 10.0.1.2.12345 > 10.0.2.2.53: UDP, length 4"
        );
        let mut syn = [0u8; 20];
        syn[..4].copy_from_slice(&[0x04, 0xd2, 0x00, 0x50]);
        syn[12] = 0x50;
        syn[13] = 0x12;
        assert_eq!(
            frame(&ipv4_frame(6, &syn), 54),
            "IP 10.0.1.2.1234 > 10.0.2.2.80: Flags [S.], length 0"
        );
        let mut arp = vec![0u8; 14];
        arp[12..14].copy_from_slice(&[0x08, 0x06]);
        arp.extend_from_slice(&[0, 1, 8, 0, 6, 4, 0, 1, 2, 0, 0, 0, 0, 1, 10, 0, 1, 2]);
        arp.extend_from_slice(&[0, 0, 0, 0, 0, 0, 10, 0, 1, 1]);
        assert_eq!(
            frame(&arp, 42),
            "ARP, Request who-has 10.0.1.1 tell 10.0.1.2, length 28"
        );
        assert_eq!(clock(3_723_000_456_000), "01:02:03.000456");
    }

    #[test]
    fn malformed_and_short_frames_never_panic() {
        let f = ipv4_frame(1, &[8, 0, 0, 0, 0, 7, 0, 1]);
        for cut in 0..f.len() {
            let _ = frame(&f[..cut], cut as u32);
        }
        let mut bad = f.clone();
        bad[14] = 0x43;
        assert_eq!(frame(&bad, 42), "IP 10.0.1.2 > 10.0.2.2: bad-hlen 12");
        bad[14] = 0x65;
        assert_eq!(frame(&bad, 42), "IP6 [|ip]");
        assert_eq!(frame(&[0; 5], 5), "[|ether], length 5");
    }
}
