//! Attributes (`rtattr`) and the checks every fixed header shares.
use super::*;
use crate::wire::MacAddr;
use std::net::Ipv4Addr;

pub(super) fn align4(n: usize) -> usize {
    (n + 3) & !3
}

/// Builds attributes.
pub(super) struct Attrs<'a>(pub(super) &'a mut Vec<u8>);

/// The longest attribute value: an attribute's length field (header included) is 16 bits.
pub(super) const MAX_ATTR_VALUE: usize = u16::MAX as usize - 4;

impl Attrs<'_> {
    /// Appends an attribute. `value` must be at most [`MAX_ATTR_VALUE`] octets: callers
    /// with longer values split them (as `Body::Text` does). A longer one is a bug; it is
    /// cut short rather than given a length that wraps and breaks the message's framing.
    pub(super) fn put(&mut self, kind: u16, value: &[u8]) {
        debug_assert!(value.len() <= MAX_ATTR_VALUE, "attribute {kind} too long");
        let value = &value[..value.len().min(MAX_ATTR_VALUE)];
        let len = 4 + value.len();
        self.0.extend_from_slice(&(len as u16).to_le_bytes());
        self.0.extend_from_slice(&kind.to_le_bytes());
        self.0.extend_from_slice(value);
        self.0.resize(align4(self.0.len()), 0);
    }
    pub(super) fn u32(&mut self, kind: u16, v: u32) {
        self.put(kind, &v.to_le_bytes());
    }
    pub(super) fn ip(&mut self, kind: u16, v: Ipv4Addr) {
        self.put(kind, &v.octets());
    }
    /// A string with its terminating NUL (at most `MAX_ATTR_VALUE - 1` octets).
    pub(super) fn str(&mut self, kind: u16, s: &str) {
        let mut v = s.as_bytes().to_vec();
        v.push(0);
        self.put(kind, &v);
    }
}

/// Walks attributes, strictly.
pub(super) fn attrs(mut b: &[u8]) -> Result<Vec<(u16, &[u8])>, ApiError> {
    let mut out = Vec::new();
    while !b.is_empty() {
        if b.len() < 4 {
            return Err(ApiError::inval("truncated attribute header"));
        }
        let len = u16::from_le_bytes([b[0], b[1]]) as usize;
        let kind = u16::from_le_bytes([b[2], b[3]]);
        if len < 4 || len > b.len() {
            return Err(ApiError::inval(format!(
                "attribute {kind}: length {len} does not fit the message"
            )));
        }
        out.push((kind, &b[4..len]));
        b = b.get(align4(len)..).unwrap_or(&[]);
    }
    Ok(out)
}

pub(super) fn a_u32(kind: u16, v: &[u8]) -> Result<u32, ApiError> {
    <[u8; 4]>::try_from(v)
        .map(u32::from_le_bytes)
        .map_err(|_| ApiError::inval(format!("attribute {kind}: expected 4 bytes")))
}

pub(super) fn a_u64(kind: u16, v: &[u8]) -> Result<u64, ApiError> {
    <[u8; 8]>::try_from(v)
        .map(u64::from_le_bytes)
        .map_err(|_| ApiError::inval(format!("attribute {kind}: expected 8 bytes")))
}

pub(super) fn a_ip(kind: u16, v: &[u8]) -> Result<Ipv4Addr, ApiError> {
    <[u8; 4]>::try_from(v)
        .map(Ipv4Addr::from)
        .map_err(|_| ApiError::inval(format!("attribute {kind}: expected an IPv4 address")))
}

pub(super) fn a_mac(kind: u16, v: &[u8]) -> Result<MacAddr, ApiError> {
    <[u8; 6]>::try_from(v)
        .map(MacAddr)
        .map_err(|_| ApiError::inval(format!("attribute {kind}: expected a 6-byte MAC")))
}

pub(super) fn a_str(kind: u16, v: &[u8]) -> Result<String, ApiError> {
    let v = v.strip_suffix(&[0]).unwrap_or(v);
    String::from_utf8(v.to_vec())
        .map_err(|_| ApiError::inval(format!("attribute {kind}: not UTF-8")))
}

pub(super) fn unknown_attr(what: &str, kind: u16) -> ApiError {
    ApiError::inval(format!("unknown {what} attribute {kind}"))
}

pub(super) fn fixed<const N: usize>(b: &[u8], what: &str) -> Result<[u8; N], ApiError> {
    b.get(..N)
        .and_then(|s| s.try_into().ok())
        .ok_or_else(|| ApiError::inval(format!("truncated {what} ({} of {N} bytes)", b.len())))
}

pub(super) fn family(f: u8, dump: bool) -> Result<(), ApiError> {
    let f = Family::from(f);
    if f == Family::Inet || (dump && f == Family::Unspec) {
        Ok(())
    } else {
        Err(ApiError::new(
            errno::EAFNOSUPPORT,
            format!("address family {} not supported (IPv4 only)", u8::from(f)),
        ))
    }
}

pub(super) fn check_prefix(addr: Ipv4Addr, len: u8) -> Result<(), ApiError> {
    if len > 32 {
        return Err(ApiError::inval(format!("invalid prefix length {len}")));
    }
    let mask = if len == 0 { 0 } else { u32::MAX << (32 - len) };
    if u32::from(addr) & !mask != 0 {
        return Err(ApiError::inval(format!(
            "invalid prefix for given prefix length: {addr}/{len} has host bits set"
        )));
    }
    Ok(())
}

/// `t` in parts of at most `max` octets (at least 4, the longest character), split at
/// character boundaries. An empty `t` has no parts.
pub(crate) fn split_text(mut t: &str, max: usize) -> impl Iterator<Item = &str> {
    debug_assert!(max >= 4);
    std::iter::from_fn(move || {
        if t.is_empty() {
            return None;
        }
        let mut end = t.len().min(max.max(4));
        while !t.is_char_boundary(end) {
            end -= 1;
        }
        let (part, rest) = t.split_at(end);
        t = rest;
        Some(part)
    })
}
