//! The operator's CLI (`ferroute ip ...`, `ferroute tc ...`). The API it talks to is in
//! `api` (wire format, client) and `rtnl` (state, handlers, server); the slow-path packet
//! thread is `slowpath`.

pub mod cli;
