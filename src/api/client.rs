//! Client side of the control API: one connection, requests with sequence numbers, and
//! the answers gathered (data messages, then the ack or error; dumps up to NLMSG_DONE).
use super::*;
use std::io::{Read, Write};
use std::os::unix::net::UnixStream;
use std::path::Path;
use std::time::Duration;

/// Why a request failed: the connection, or the router's answer.
#[derive(Debug)]
pub enum ClientError {
    Io(String),
    Api(ApiError),
}

impl std::fmt::Display for ClientError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            ClientError::Io(s) => f.write_str(s),
            ClientError::Api(e) => write!(f, "{e}"),
        }
    }
}

impl From<ApiError> for ClientError {
    fn from(e: ApiError) -> Self {
        ClientError::Api(e)
    }
}

pub struct Conn {
    stream: UnixStream,
    seq: u32,
    buf: Vec<u8>,
}

impl Conn {
    pub fn connect(path: &Path) -> Result<Conn, ClientError> {
        let stream = UnixStream::connect(path).map_err(|e| {
            ClientError::Io(format!(
                "cannot reach the router at {}: {e}",
                path.display()
            ))
        })?;
        // Long enough for a FIB build of a full table and a large dump.
        let _ = stream.set_read_timeout(Some(Duration::from_secs(120)));
        Ok(Conn {
            stream,
            seq: 0,
            buf: Vec::new(),
        })
    }

    /// How long `recv` waits before it fails with a timeout (streams that poll a flag
    /// between messages, as `ferroute capture`).
    pub fn set_read_timeout(&self, d: Duration) -> Result<(), ClientError> {
        self.stream.set_read_timeout(Some(d)).map_err(Conn::io)
    }

    fn io(e: std::io::Error) -> ClientError {
        ClientError::Io(format!("control socket: {e}"))
    }

    /// Sends one message with the next sequence number; returns that number.
    pub fn send(&mut self, kind: u16, flags: u16, body: Body) -> Result<u32, ClientError> {
        self.seq = self.seq.wrapping_add(1);
        let m = Message::new(kind, flags | NLM_F_REQUEST, self.seq, body);
        self.stream.write_all(&m.to_bytes()).map_err(Conn::io)?;
        Ok(self.seq)
    }

    /// Queues messages into `out` without sending (for batches written in one go).
    pub fn queue(&mut self, out: &mut Vec<u8>, kind: u16, flags: u16, body: Body) -> u32 {
        self.seq = self.seq.wrapping_add(1);
        Message::new(kind, flags | NLM_F_REQUEST, self.seq, body).encode(out);
        self.seq
    }

    pub fn write_raw(&mut self, bytes: &[u8]) -> Result<(), ClientError> {
        self.stream.write_all(bytes).map_err(Conn::io)
    }

    /// The next message from the router.
    pub fn recv(&mut self) -> Result<Message, ClientError> {
        let mut chunk = [0u8; 64 * 1024];
        loop {
            match Message::decode(&self.buf) {
                Decoded::Msg(m, n) => {
                    self.buf.drain(..n);
                    return Ok(m);
                }
                Decoded::Bad(_, e, _) | Decoded::Fatal(_, e) => {
                    return Err(ClientError::Io(format!("bad reply from the router: {e}")))
                }
                Decoded::Incomplete => {}
            }
            let n = match self.stream.read(&mut chunk) {
                Ok(n) => n,
                Err(e) if e.kind() == std::io::ErrorKind::Interrupted => continue,
                Err(e) => return Err(Conn::io(e)),
            };
            if n == 0 {
                return Err(ClientError::Io("the router closed the connection".into()));
            }
            self.buf.extend_from_slice(&chunk[..n]);
        }
    }

    /// Waits for the ack or error of request `seq`.
    pub fn wait_ack(&mut self, seq: u32) -> Result<(), ClientError> {
        loop {
            let m = self.recv()?;
            if matches!(m.body, Body::Error { .. }) && (m.seq == seq || m.seq == 0) {
                return m.body.api_error().map_or(Ok(()), |e| Err(e.into()));
            }
        }
    }

    /// A change (NEW/DEL): sent with NLM_F_ACK, Ok once acked.
    pub fn change(&mut self, kind: u16, flags: u16, body: Body) -> Result<(), ClientError> {
        let seq = self.send(kind, flags | NLM_F_ACK, body)?;
        self.wait_ack(seq)
    }

    /// A dump: every part up to NLMSG_DONE.
    pub fn dump(&mut self, kind: u16, body: Body) -> Result<Vec<Message>, ClientError> {
        let seq = self.send(kind, NLM_F_DUMP, body)?;
        self.parts(seq)
    }

    /// The parts of the multi-part answer to request `seq`, up to NLMSG_DONE (acks
    /// skipped, an error returned).
    fn parts(&mut self, seq: u32) -> Result<Vec<Message>, ClientError> {
        let mut out = Vec::new();
        loop {
            let m = self.recv()?;
            if m.seq != seq && m.seq != 0 {
                continue;
            }
            if let Some(e) = m.body.api_error() {
                return Err(e.into());
            }
            match m.body {
                Body::Error { .. } => {}
                _ if m.kind == NLMSG_DONE => return Ok(out),
                _ => out.push(m),
            }
        }
    }

    /// A GET of one object (or an FR_GET* text): the reply message.
    pub fn get(&mut self, kind: u16, body: Body) -> Result<Message, ClientError> {
        let seq = self.send(kind, 0, body)?;
        loop {
            let m = self.recv()?;
            if m.seq != seq && m.seq != 0 {
                continue;
            }
            if let Some(e) = m.body.api_error() {
                return Err(e.into());
            }
            match m.body {
                Body::Error { .. } => {}
                _ => return Ok(m),
            }
        }
    }

    /// FR_GETSTATUS / FR_GETCONFIG: the text, joined from its parts when the router sent
    /// it in several (NLM_F_MULTI, up to NLMSG_DONE).
    pub fn text(&mut self, kind: u16) -> Result<String, ClientError> {
        let first = self.get(kind, Body::Empty)?;
        let unexpected = |b: Body| ClientError::Io(format!("unexpected reply {b:?}"));
        let Body::Text(mut t) = first.body else {
            return Err(unexpected(first.body));
        };
        if first.flags & NLM_F_MULTI != 0 {
            for m in self.parts(first.seq)? {
                match m.body {
                    Body::Text(part) => t.push_str(&part),
                    other => return Err(unexpected(other)),
                }
            }
        }
        Ok(t)
    }

    /// FR_GETSTATUS_ATTRS: the router's status.
    pub fn status(&mut self) -> Result<Status, ClientError> {
        match self.get(FR_GETSTATUS_ATTRS, Body::Empty)?.body {
            Body::Status(s) => Ok(s),
            other => Err(ClientError::Io(format!("unexpected reply {other:?}"))),
        }
    }

    /// FR_GETCOUNTERS: every counter of the router.
    pub fn counters(&mut self) -> Result<Counters, ClientError> {
        match self.get(FR_GETCOUNTERS, Body::Empty)?.body {
            Body::Counters(c) => Ok(c),
            other => Err(ClientError::Io(format!("unexpected reply {other:?}"))),
        }
    }
}

/// The counters of the router at `path` (for `ferroute stats`).
pub fn counters(path: &Path) -> Result<Counters, ClientError> {
    Conn::connect(path)?.counters()
}
