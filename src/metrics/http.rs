//! A tiny HTTP/1.1 responder for `/metrics` on its own std thread: one connection at a
//! time, `Connection: close`, GET and HEAD only. Enough for Prometheus, curl and
//! browsers; nothing here is on a worker's path.
use std::io::{self, Read, Write};
use std::net::{SocketAddr, TcpListener, TcpStream};
use std::sync::atomic::{AtomicBool, Ordering::Relaxed};
use std::sync::Arc;
use std::thread::JoinHandle;
use std::time::Duration;

/// Largest request head read (request line and headers).
const MAX_HEAD: usize = 8192;
/// How often the idle accept loop looks at the stop flag.
const POLL: Duration = Duration::from_millis(20);
/// A client that sends nothing (or reads nothing) for this long is dropped.
const IO_TIMEOUT: Duration = Duration::from_secs(2);

/// The path served.
pub const PATH: &str = "/metrics";

/// A bound listener, not yet serving.
pub struct Endpoint {
    listener: TcpListener,
}

impl Endpoint {
    pub fn bind(addr: SocketAddr) -> io::Result<Endpoint> {
        let listener = TcpListener::bind(addr)?;
        listener.set_nonblocking(true)?;
        Ok(Endpoint { listener })
    }

    pub fn local_addr(&self) -> io::Result<SocketAddr> {
        self.listener.local_addr()
    }

    /// Serves on a new thread named `metrics` until the returned handle is stopped or
    /// dropped. `render` produces the body of `/metrics`; its error is answered with a
    /// 500 carrying the error's text.
    pub fn spawn<F, E>(self, render: F) -> io::Result<Serving>
    where
        F: Fn() -> Result<String, E> + Send + 'static,
        E: std::fmt::Display,
    {
        let stop = Arc::new(AtomicBool::new(false));
        let flag = Arc::clone(&stop);
        let handle = std::thread::Builder::new()
            .name("metrics".into())
            .spawn(move || {
                while !flag.load(Relaxed) {
                    match self.listener.accept() {
                        Ok((stream, _)) => serve(stream, &render),
                        // WouldBlock when idle; other errors (ECONNABORTED, EMFILE) are
                        // transient for a listener: wait and try again.
                        Err(_) => std::thread::sleep(POLL),
                    }
                }
            })?;
        Ok(Serving {
            stop,
            handle: Some(handle),
        })
    }
}

/// The serving thread; stopping (or dropping) it waits for the thread to finish, so
/// nothing reads DPDK state after the ports are closed.
pub struct Serving {
    stop: Arc<AtomicBool>,
    handle: Option<JoinHandle<()>>,
}

impl Serving {
    pub fn stop(mut self) {
        self.halt();
    }

    fn halt(&mut self) {
        self.stop.store(true, Relaxed);
        if let Some(h) = self.handle.take() {
            let _ = h.join();
        }
    }
}

impl Drop for Serving {
    fn drop(&mut self) {
        self.halt();
    }
}

/// An HTTP response.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Response {
    pub status: u16,
    pub reason: &'static str,
    pub content_type: &'static str,
    pub body: String,
    /// HEAD: headers (with the body's length) but no body.
    pub head_only: bool,
    pub allow: bool,
}

impl Response {
    fn plain(status: u16, reason: &'static str, body: impl Into<String>) -> Response {
        Response {
            status,
            reason,
            content_type: "text/plain; charset=utf-8",
            body: body.into(),
            head_only: false,
            allow: false,
        }
    }

    /// The bytes on the wire.
    pub fn to_bytes(&self) -> Vec<u8> {
        let mut head = format!(
            "HTTP/1.1 {} {}\r\nContent-Type: {}\r\nContent-Length: {}\r\nConnection: close\r\n",
            self.status,
            self.reason,
            self.content_type,
            self.body.len()
        );
        if self.allow {
            head.push_str("Allow: GET, HEAD\r\n");
        }
        head.push_str("\r\n");
        let mut out = head.into_bytes();
        if !self.head_only {
            out.extend_from_slice(self.body.as_bytes());
        }
        out
    }
}

/// Answers a request head (`GET /metrics HTTP/1.1\r\n...`).
pub fn respond<E: std::fmt::Display>(
    head: &str,
    render: impl Fn() -> Result<String, E>,
) -> Response {
    let line = head.lines().next().unwrap_or("");
    let mut parts = line.split(' ');
    let (Some(method), Some(target), Some(version), None) =
        (parts.next(), parts.next(), parts.next(), parts.next())
    else {
        return Response::plain(400, "Bad Request", "bad request line\n");
    };
    if !version.starts_with("HTTP/1.") {
        return Response::plain(400, "Bad Request", "HTTP/1.x only\n");
    }
    let head_only = match method {
        "GET" => false,
        "HEAD" => true,
        _ => {
            let mut r = Response::plain(405, "Method Not Allowed", "GET or HEAD only\n");
            r.allow = true;
            return r;
        }
    };
    let path = target.split(['?', '#']).next().unwrap_or("");
    let mut r = if path == PATH {
        match render() {
            Ok(body) => Response {
                status: 200,
                reason: "OK",
                content_type: super::CONTENT_TYPE,
                body,
                head_only: false,
                allow: false,
            },
            Err(e) => Response::plain(500, "Internal Server Error", format!("{e}\n")),
        }
    } else {
        Response::plain(
            404,
            "Not Found",
            format!("not found; metrics are at {PATH}\n"),
        )
    };
    r.head_only = head_only;
    r
}

fn serve<E: std::fmt::Display>(mut stream: TcpStream, render: &impl Fn() -> Result<String, E>) {
    let _ = stream.set_nonblocking(false);
    let _ = stream.set_read_timeout(Some(IO_TIMEOUT));
    let _ = stream.set_write_timeout(Some(IO_TIMEOUT));
    let mut buf = Vec::with_capacity(1024);
    let mut chunk = [0u8; 1024];
    while buf.len() < MAX_HEAD && !head_complete(&buf) {
        match stream.read(&mut chunk) {
            Ok(0) | Err(_) => break,
            Ok(n) => buf.extend_from_slice(&chunk[..n]),
        }
    }
    if buf.is_empty() {
        return;
    }
    let response = if head_complete(&buf) {
        respond(&String::from_utf8_lossy(&buf), render)
    } else if buf.len() >= MAX_HEAD {
        Response::plain(
            431,
            "Request Header Fields Too Large",
            "request head too large\n",
        )
    } else {
        Response::plain(400, "Bad Request", "incomplete request\n")
    };
    let _ = stream.write_all(&response.to_bytes());
    let _ = stream.flush();
    let _ = stream.shutdown(std::net::Shutdown::Write);
}

fn head_complete(buf: &[u8]) -> bool {
    buf.windows(4).any(|w| w == b"\r\n\r\n") || buf.windows(2).any(|w| w == b"\n\n")
}

#[cfg(test)]
mod tests {
    use super::*;

    fn ok() -> Result<String, String> {
        Ok("m 1\n".into())
    }

    #[test]
    fn get_metrics_is_200_with_the_text_format_type() {
        let r = respond("GET /metrics HTTP/1.1\r\nHost: x\r\n\r\n", ok);
        assert_eq!((r.status, r.body.as_str()), (200, "m 1\n"));
        let wire = String::from_utf8(r.to_bytes()).unwrap();
        assert!(wire.starts_with("HTTP/1.1 200 OK\r\n"), "{wire}");
        assert!(wire.contains("\r\nContent-Type: text/plain; version=0.0.4; charset=utf-8\r\n"));
        assert!(wire.contains("\r\nContent-Length: 4\r\n"));
        assert!(wire.ends_with("\r\n\r\nm 1\n"));
        // Query strings are ignored; HTTP/1.0 is fine.
        assert_eq!(respond("GET /metrics?x=1 HTTP/1.0\r\n\r\n", ok).status, 200);
    }

    #[test]
    fn other_paths_methods_and_garbage() {
        for p in ["/", "/metric", "/metrics/", "/favicon.ico"] {
            let r = respond(&format!("GET {p} HTTP/1.1\r\n\r\n"), ok);
            assert_eq!(r.status, 404, "{p}");
        }
        let r = respond("POST /metrics HTTP/1.1\r\n\r\n", ok);
        assert_eq!(r.status, 405);
        assert!(String::from_utf8(r.to_bytes())
            .unwrap()
            .contains("\r\nAllow: GET, HEAD\r\n"));
        for bad in [
            "",
            "GET",
            "GET /metrics",
            "GET /metrics HTTP/2 x",
            "GET /metrics SPDY",
        ] {
            assert_eq!(respond(bad, ok).status, 400, "{bad:?}");
        }
        let r = respond("GET /metrics HTTP/1.1\r\n\r\n", || Err::<String, _>("boom"));
        assert_eq!((r.status, r.body.as_str()), (500, "boom\n"));
    }

    #[test]
    fn head_has_length_but_no_body() {
        let r = respond("HEAD /metrics HTTP/1.1\r\n\r\n", ok);
        let wire = String::from_utf8(r.to_bytes()).unwrap();
        assert!(wire.contains("Content-Length: 4\r\n") && wire.ends_with("\r\n\r\n"));
    }

    #[test]
    fn serves_over_tcp_and_stops() {
        let ep = Endpoint::bind("127.0.0.1:0".parse().unwrap()).unwrap();
        let addr = ep.local_addr().unwrap();
        let serving = ep.spawn(ok).unwrap();
        let get = |req: &str| {
            let mut s = TcpStream::connect(addr).unwrap();
            s.write_all(req.as_bytes()).unwrap();
            let mut out = String::new();
            s.read_to_string(&mut out).unwrap();
            out
        };
        let out = get("GET /metrics HTTP/1.1\r\nHost: t\r\n\r\n");
        assert!(
            out.starts_with("HTTP/1.1 200 OK") && out.ends_with("m 1\n"),
            "{out}"
        );
        assert!(get("GET / HTTP/1.1\r\n\r\n").starts_with("HTTP/1.1 404"));
        // A client that never finishes its request is cut off by the timeout, and the
        // next one is served.
        let _idle = TcpStream::connect(addr).unwrap();
        assert!(get("GET /metrics HTTP/1.1\r\n\r\n").starts_with("HTTP/1.1 200"));
        serving.stop();
        assert!(
            TcpStream::connect(addr).is_err(),
            "listener closed after stop"
        );
    }
}
