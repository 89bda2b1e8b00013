//! A client session: the connection, the output options (`-j`, `-stats`) and the port
//! names the commands look up. The links are fetched once per session (RTM_GETLINK
//! dump) and dropped when a command changes one (`link set`), so a batch of a thousand
//! routes asks for them once. Also the dump helpers the object files share, and the
//! one-line JSON writer.
use super::{usage, CliError};
use crate::api::client::{ClientError, Conn};
use crate::api::*;

/// A connection plus what commands need to look up (port names).
pub struct Session {
    pub conn: Conn,
    pub(super) links: Option<Vec<LinkMsg>>,
    pub json: bool,
    /// `-stats` (`tc -s`): show counters with the objects (qdiscs).
    pub stats: bool,
}

impl Session {
    pub fn new(conn: Conn, json: bool) -> Session {
        Session {
            conn,
            links: None,
            json,
            stats: false,
        }
    }

    pub(super) fn links(&mut self) -> Result<&[LinkMsg], CliError> {
        if self.links.is_none() {
            self.links = Some(dump_links(&mut self.conn)?);
        }
        Ok(self.links.as_deref().unwrap_or(&[]))
    }

    pub(super) fn ifindex(&mut self, name: &str) -> Result<u32, CliError> {
        self.links()?
            .iter()
            .find(|l| l.name.as_deref() == Some(name))
            .map(|l| l.ifindex)
            .ok_or_else(|| usage(format!("Cannot find device \"{name}\"")))
    }

    pub(super) fn name(&mut self, ifindex: u32) -> String {
        self.links()
            .ok()
            .and_then(|ls| ls.iter().find(|l| l.ifindex == ifindex))
            .and_then(|l| l.name.clone())
            .unwrap_or_else(|| format!("if{ifindex}"))
    }
}

/// A list of objects as one line of JSON (serializing these structs cannot fail).
pub(super) fn to_json<T: serde::Serialize + ?Sized>(v: &T) -> String {
    serde_json::to_string(v).unwrap_or_else(|_| "[]".into())
}

/// Every port, as RTM_GETLINK dumps them.
pub(super) fn dump_links(conn: &mut Conn) -> Result<Vec<LinkMsg>, ClientError> {
    let msgs = conn.dump(RTM_GETLINK, Body::Link(LinkMsg::default()))?;
    Ok(msgs
        .into_iter()
        .filter_map(|m| match m.body {
            Body::Link(l) => Some(l),
            _ => None,
        })
        .collect())
}

/// The qdiscs `filter` selects (its port, or every port).
pub(super) fn dump_qdiscs(conn: &mut Conn, filter: QdiscMsg) -> Result<Vec<QdiscMsg>, ClientError> {
    let msgs = conn.dump(RTM_GETQDISC, Body::Qdisc(filter))?;
    Ok(msgs
        .into_iter()
        .filter_map(|m| match m.body {
            Body::Qdisc(q) => Some(q),
            _ => None,
        })
        .collect())
}
