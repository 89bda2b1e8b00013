//! The router as a process: `ferroute check` ([`check`]), and `ferroute run`'s start-up
//! and tear-down in one place.
//!
//! [`run`] (in `start.rs`) brings the router up step by step and runs the control thread
//! on the main lcore until SIGINT/SIGTERM. Each step that starts something registers it
//! with a stop guard (`stop.rs`), whose `Drop` stops the workers, joins the threads,
//! stops and closes the ports and cleans up the EAL, so an error at any step after the
//! EAL leaves nothing running. A failed step is a [`StartError`] naming what failed;
//! `main` maps it to exit code 69.
pub mod check;
mod error;
mod start;
mod stop;

pub use error::StartError;
pub use start::run;
