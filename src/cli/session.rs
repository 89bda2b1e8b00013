//! A client session: the connection, the output options (`-j`, `-stats`) and the port
//! names the commands look up (fetched once per session, dropped when a link changes).
use super::{usage, CliError};
use crate::api::client::Conn;
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
            let v = self
                .conn
                .dump(RTM_GETLINK, Body::Link(LinkMsg::default()))?
                .into_iter()
                .filter_map(|m| match m.body {
                    Body::Link(l) => Some(l),
                    _ => None,
                })
                .collect();
            self.links = Some(v);
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
