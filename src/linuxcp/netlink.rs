//! A small rtnetlink client over the rust-netlink crates: requests with an ack, dumps,
//! and the route events of a multicast group. Errors are the kernel's errno.
use netlink_packet_core::{
    NetlinkHeader, NetlinkMessage, NetlinkPayload, NLM_F_ACK, NLM_F_DUMP, NLM_F_REQUEST,
};
use netlink_packet_route::RouteNetlinkMessage;
use netlink_sys::{protocols::NETLINK_ROUTE, Socket, SocketAddr};
use std::io::{
    self,
    ErrorKind::{TimedOut, WouldBlock},
};

/// RTNLGRP_IPV4_ROUTE (linux/rtnetlink.h): IPv4 route changes.
pub const RTNLGRP_IPV4_ROUTE: u32 = 7;

pub struct Netlink {
    sock: Socket,
    seq: u32,
    buf: Vec<u8>,
}

fn decode_err(e: impl std::fmt::Display) -> io::Error {
    io::Error::new(io::ErrorKind::InvalidData, format!("netlink: {e}"))
}

impl Netlink {
    /// A socket in the calling thread's network namespace.
    pub fn open() -> io::Result<Netlink> {
        let mut sock = Socket::new(NETLINK_ROUTE)?;
        sock.bind_auto()?;
        sock.connect(&SocketAddr::new(0, 0))?;
        Ok(Netlink {
            sock,
            seq: 0,
            buf: vec![0; 1 << 16],
        })
    }

    /// The socket, for options (groups, buffer sizes, timeouts).
    pub fn socket(&self) -> &Socket {
        &self.sock
    }

    fn send(&mut self, msg: RouteNetlinkMessage, flags: u16) -> io::Result<u32> {
        self.seq = self.seq.wrapping_add(1);
        let mut header = NetlinkHeader::default();
        header.flags = NLM_F_REQUEST | flags;
        header.sequence_number = self.seq;
        let mut m = NetlinkMessage::new(header, NetlinkPayload::from(msg));
        m.finalize();
        let mut bytes = vec![0; m.buffer_len()];
        m.serialize(&mut bytes);
        self.sock.send(&bytes, 0)?;
        Ok(self.seq)
    }

    /// A change, acked: Ok, or the kernel's errno.
    pub fn change(&mut self, msg: RouteNetlinkMessage, flags: u16) -> io::Result<()> {
        let seq = self.send(msg, flags | NLM_F_ACK)?;
        self.collect(seq, &mut |_| {})
    }

    /// A dump: every message up to NLMSG_DONE.
    pub fn dump(&mut self, msg: RouteNetlinkMessage) -> io::Result<Vec<RouteNetlinkMessage>> {
        let seq = self.send(msg, NLM_F_DUMP)?;
        let mut out = Vec::new();
        self.collect(seq, &mut |m| out.push(m))?;
        Ok(out)
    }

    /// A GET of one object: its answer, if any.
    pub fn dump_one(
        &mut self,
        msg: RouteNetlinkMessage,
    ) -> io::Result<Option<RouteNetlinkMessage>> {
        let seq = self.send(msg, NLM_F_ACK)?;
        let mut out = None;
        self.collect(seq, &mut |m| out = out.take().or(Some(m)))?;
        Ok(out)
    }

    /// Reads the answers of request `seq` until its ack, error or NLMSG_DONE.
    fn collect(&mut self, seq: u32, each: &mut dyn FnMut(RouteNetlinkMessage)) -> io::Result<()> {
        loop {
            let n = self.sock.recv(&mut &mut self.buf[..], 0)?;
            let mut at = 0;
            while at < n {
                let m = NetlinkMessage::<RouteNetlinkMessage>::deserialize(&self.buf[at..n])
                    .map_err(decode_err)?;
                let len = m.header.length as usize;
                at += len.max(16).next_multiple_of(4);
                if m.header.sequence_number != seq {
                    continue;
                }
                match m.payload {
                    NetlinkPayload::InnerMessage(inner) => each(inner),
                    NetlinkPayload::Error(e) => {
                        return match e.code {
                            None => Ok(()),
                            Some(c) => Err(io::Error::from_raw_os_error(-c.get())),
                        }
                    }
                    NetlinkPayload::Done(_) => return Ok(()),
                    _ => {}
                }
            }
        }
    }

    /// The multicast messages queued now, up to about `max`: waits for the first one
    /// up to the socket's receive timeout (Ok(empty) then), takes the rest without
    /// waiting. ENOBUFS means events were lost (the caller resyncs).
    pub fn events(&mut self, max: usize) -> io::Result<Vec<RouteNetlinkMessage>> {
        let mut out = Vec::new();
        while out.len() < max {
            let flags = if out.is_empty() {
                0
            } else {
                nix::libc::MSG_DONTWAIT
            };
            let n = match self.sock.recv(&mut &mut self.buf[..], flags) {
                Ok(n) => n,
                Err(e) if matches!(e.kind(), WouldBlock | TimedOut) => break,
                Err(e) => return Err(e),
            };
            let mut at = 0;
            while at < n {
                let m = NetlinkMessage::<RouteNetlinkMessage>::deserialize(&self.buf[at..n])
                    .map_err(decode_err)?;
                at += (m.header.length as usize).max(16).next_multiple_of(4);
                if let NetlinkPayload::InnerMessage(inner) = m.payload {
                    out.push(inner);
                }
            }
        }
        Ok(out)
    }
}
