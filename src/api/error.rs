//! Errnos and the error answer.

/// Errnos the API returns (Linux's numbers).
pub mod errno {
    pub const ENOENT: i32 = 2;
    pub const ENOBUFS: i32 = 105;
    pub const ESRCH: i32 = 3;
    pub const EIO: i32 = 5;
    pub const EBUSY: i32 = 16;
    pub const EEXIST: i32 = 17;
    pub const ENODEV: i32 = 19;
    pub const EINVAL: i32 = 22;
    pub const ERANGE: i32 = 34;
    pub const EMSGSIZE: i32 = 90;
    pub const EOPNOTSUPP: i32 = 95;
    pub const EAFNOSUPPORT: i32 = 97;
    pub const EADDRNOTAVAIL: i32 = 99;
    pub const ENETDOWN: i32 = 100;
    pub const ENETUNREACH: i32 = 101;
    pub const ECANCELED: i32 = 125;

    /// The symbolic name (`EEXIST`), or `errno N`.
    pub fn name(e: i32) -> String {
        let n = match e {
            0 => "OK",
            ENOENT => "ENOENT",
            ESRCH => "ESRCH",
            EIO => "EIO",
            EBUSY => "EBUSY",
            EEXIST => "EEXIST",
            ENODEV => "ENODEV",
            EINVAL => "EINVAL",
            ERANGE => "ERANGE",
            EMSGSIZE => "EMSGSIZE",
            EOPNOTSUPP => "EOPNOTSUPP",
            EAFNOSUPPORT => "EAFNOSUPPORT",
            EADDRNOTAVAIL => "EADDRNOTAVAIL",
            ENETDOWN => "ENETDOWN",
            ENETUNREACH => "ENETUNREACH",
            ECANCELED => "ECANCELED",
            ENOBUFS => "ENOBUFS",
            _ => return format!("errno {e}"),
        };
        n.to_string()
    }
}

/// An error answer: errno (positive, as in `errno.h`) and a readable message. Displays
/// as `route already exists (EEXIST)`, what the CLI prints after `Error: `.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{msg} ({})", errno::name(*errno))]
pub struct ApiError {
    pub errno: i32,
    pub msg: String,
}

impl ApiError {
    pub fn new(errno: i32, msg: impl Into<String>) -> ApiError {
        ApiError {
            errno,
            msg: msg.into(),
        }
    }
    pub fn inval(msg: impl Into<String>) -> ApiError {
        ApiError::new(errno::EINVAL, msg)
    }
}
