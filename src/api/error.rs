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

/// An error answer: errno (positive, as in `errno.h`), a readable message and, where the
/// handler says, the field of the request at fault. Displays as `route already exists
/// (EEXIST)`, what the CLI prints after `Error: `.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{msg} ({})", errno::name(*errno))]
pub struct ApiError {
    pub errno: i32,
    pub msg: String,
    /// The field at fault (sent as `NLMSGERR_ATTR_FIELD` to a request that asks with
    /// `FR_F_EXT_ACK`); `None` when the request as a whole is refused.
    pub field: Option<ReqField>,
}

impl ApiError {
    pub fn new(errno: i32, msg: impl Into<String>) -> ApiError {
        ApiError {
            errno,
            msg: msg.into(),
            field: None,
        }
    }
    pub fn inval(msg: impl Into<String>) -> ApiError {
        ApiError::new(errno::EINVAL, msg)
    }
    /// The same error, about `field` of the request.
    pub fn at(self, field: ReqField) -> ApiError {
        ApiError {
            field: Some(field),
            ..self
        }
    }
}

/// The field of a request an error is about, as netlink's extended ack points at the
/// attribute at fault (`NLMSGERR_ATTR_OFFS`), but by name rather than byte offset, so
/// that a client can tell which of its inputs to blame without reading the message
/// (`config::requests::refusal` names the config key with it). Next hops count from 0.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ReqField {
    /// The object's own address: a route's prefix (RTA_DST, `rtm_dst_len`), an
    /// address (IFA_LOCAL, `ifa_prefixlen`), a neighbour's (NDA_DST).
    Dst,
    /// RTA_GATEWAY.
    Gateway,
    /// The device: RTA_OIF, `ifa_index`, `ndm_ifindex`.
    Ifindex,
    /// NDA_LLADDR.
    Lladdr,
    /// Next hop `n` of RTA_MULTIPATH as a whole, and the earlier one it duplicates.
    Nexthop { n: u16, same_as: Option<u16> },
    /// The gateway of next hop `n`.
    NexthopGateway(u16),
    /// The device of next hop `n`.
    NexthopIfindex(u16),
    /// The weight (`rtnh_hops` + 1) of next hop `n`.
    NexthopWeight(u16),
}

/// `NLMSGERR_ATTR_FIELD`'s value: three u16 and two bytes of padding.
pub(super) mod field {
    use crate::api::header::Field;
    /// What: 0 the next hop itself, 1 dst, 2 gateway, 3 device, 4 lladdr, 5 weight.
    pub const CODE: Field = 0..2;
    /// Next hop n + 1; 0 when the field is not in a next hop.
    pub const NEXTHOP: Field = 2..4;
    /// The next hop duplicated, + 1; 0 for none.
    pub const SAME_AS: Field = 4..6;
    pub const LEN: usize = 8;
    const _: () = assert!(SAME_AS.end <= LEN);
}

impl ReqField {
    /// (code, next hop + 1, duplicated next hop + 1), as [`field`] lays them out.
    pub(super) fn to_wire(self) -> (u16, u16, u16) {
        let hop = |n: u16| n.saturating_add(1);
        match self {
            ReqField::Dst => (1, 0, 0),
            ReqField::Gateway => (2, 0, 0),
            ReqField::Ifindex => (3, 0, 0),
            ReqField::Lladdr => (4, 0, 0),
            ReqField::Nexthop { n, same_as } => (0, hop(n), same_as.map_or(0, hop)),
            ReqField::NexthopGateway(n) => (2, hop(n), 0),
            ReqField::NexthopIfindex(n) => (3, hop(n), 0),
            ReqField::NexthopWeight(n) => (5, hop(n), 0),
        }
    }

    /// The field of a wire triple; `None` for one this side does not know (the field is
    /// advice beside the message, so an unknown one is dropped, not refused).
    pub(super) fn from_wire(code: u16, hop: u16, same_as: u16) -> Option<ReqField> {
        let n = hop.checked_sub(1);
        Some(match (code, n, same_as) {
            (1, None, 0) => ReqField::Dst,
            (2, None, 0) => ReqField::Gateway,
            (3, None, 0) => ReqField::Ifindex,
            (4, None, 0) => ReqField::Lladdr,
            (0, Some(n), m) => ReqField::Nexthop {
                n,
                same_as: m.checked_sub(1),
            },
            (2, Some(n), 0) => ReqField::NexthopGateway(n),
            (3, Some(n), 0) => ReqField::NexthopIfindex(n),
            (5, Some(n), 0) => ReqField::NexthopWeight(n),
            _ => return None,
        })
    }
}
