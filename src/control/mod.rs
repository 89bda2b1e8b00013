//! The control API: its wire format, client, handlers, server and CLI. The slow-path
//! packet thread that was here is now the `slowpath` module.

pub mod cli;
pub mod client;
pub mod dump;
pub mod message;
pub mod rtnl;
pub mod server;
