//! Service life under systemd: the `Type=notify` readiness protocol (sd_notify(3)) and
//! the exit codes a unit file can tell apart.
//!
//! Outside systemd (`NOTIFY_SOCKET` unset) the notifications do nothing. See
//! `dist/systemd/ferroute.service` for the unit that uses them.
use sd_notify::NotifyState;

/// The configuration is unusable (sysexits.h `EX_CONFIG`): restarting will not help,
/// so the unit has `RestartPreventExitStatus=78`.
pub const EXIT_CONFIG: u8 = 78;
/// The configuration is good but the router could not start: EAL, hugepages or the EAL
/// lock, a port the driver refuses, the control socket or metrics address taken
/// (sysexits.h `EX_UNAVAILABLE`). Worth a restart.
pub const EXIT_START: u8 = 69;
/// A client command the router refused (iproute2's 2: "the kernel said no").
pub const EXIT_REFUSED: u8 = 2;
/// Bad arguments, or a client that could not reach the router (iproute2's 1).
pub const EXIT_USAGE: u8 = 1;

/// Sends `states` to systemd if it is listening; a failure is logged, never fatal.
fn notify(states: &[NotifyState]) {
    if std::env::var_os("NOTIFY_SOCKET").is_none() {
        return;
    }
    if let Err(e) = sd_notify::notify(false, states) {
        log::warn!("sd_notify: {e}");
    }
}

/// READY=1 with a STATUS line: the ports are up and the control socket serves.
pub fn ready(status: &str) {
    notify(&[NotifyState::Ready, NotifyState::Status(status)]);
}

/// STOPPING=1: shutdown has begun.
pub fn stopping() {
    notify(&[NotifyState::Stopping, NotifyState::Status("stopping")]);
}

/// STATUS= only (start-up progress, shown by `systemctl status`).
pub fn status(status: &str) {
    notify(&[NotifyState::Status(status)]);
}
