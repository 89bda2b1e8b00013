//! The router as a process: `ferroute check` ([`check`]) and, in `router`, start-up and
//! tear-down.
pub mod check;
