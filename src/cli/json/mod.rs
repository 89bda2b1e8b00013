//! `-j` output: one typed serde struct per object, shaped as iproute2 6.1's `ip -j` and
//! `tc -j` print them (the same keys in the same order, the same value types, and the
//! same omissions: no `metric` of 0, no `type` for unicast routes, `flags: []` always).
//! `tests/json.rs` compares them with the real tools, object by object.
//!
//! Each file converts the control API's message for its object (`RouteMsg`, ...) into
//! its struct; the CLI only serializes.
pub mod addr;
pub mod link;
pub mod neigh;
pub mod qdisc;
pub mod route;

/// `serde(skip_serializing_if)` for false booleans (iproute2 prints `"secondary": true`
/// only when set).
pub fn is_false(b: &bool) -> bool {
    !*b
}
