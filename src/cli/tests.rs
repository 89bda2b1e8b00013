//! The argument syntax (`parse.rs`).
use super::json::route::prefix_text;
use super::parse::*;
use std::net::Ipv4Addr;

#[test]
fn tc_units() {
    assert_eq!(parse_rate("20mbit").unwrap(), 2_500_000);
    assert_eq!(parse_rate("8kbps").unwrap(), 8000);
    assert_eq!(parse_rate("1000").unwrap(), 125);
    assert_eq!(parse_size("32kb").unwrap(), 32768);
    assert_eq!(parse_size("1500").unwrap(), 1500);
    assert_eq!(parse_time_us("50ms").unwrap(), 50_000);
    assert_eq!(parse_time_us("1s").unwrap(), 1_000_000);
    assert!(parse_rate("fast").is_err());
    assert!(parse_size("0").is_err());
    assert_eq!(rate_text(2_500_000), "20Mbit");
    assert_eq!(size_text(32768), "32Kb");
    assert_eq!(time_text(50_000), "50ms");
}

#[test]
fn prefixes() {
    assert_eq!(parse_prefix("default").unwrap(), (Ipv4Addr::UNSPECIFIED, 0));
    assert_eq!(
        parse_prefix("10.9.0.0/16").unwrap(),
        (Ipv4Addr::new(10, 9, 0, 0), 16)
    );
    assert_eq!(
        parse_prefix("10.9.1.1").unwrap(),
        (Ipv4Addr::new(10, 9, 1, 1), 32)
    );
    assert!(parse_prefix("10.9.0.0/x").is_err());
    assert!(parse_prefix("10.9.0.0/33").is_err());
    assert_eq!(prefix_text(Ipv4Addr::new(10, 9, 1, 1), 32), "10.9.1.1");
    assert_eq!(prefix_text(Ipv4Addr::UNSPECIFIED, 0), "default");
}

#[test]
fn change_verbs_send_ips_flags() {
    use super::change;
    use crate::api::*;
    let new = |v| change(v, RTM_NEWROUTE, RTM_DELROUTE);
    assert_eq!(new("add"), (RTM_NEWROUTE, NLM_F_CREATE | NLM_F_EXCL));
    assert_eq!(new("replace"), (RTM_NEWROUTE, NLM_F_CREATE | NLM_F_REPLACE));
    assert_eq!(new("append"), (RTM_NEWROUTE, NLM_F_CREATE | NLM_F_APPEND));
    assert_eq!(new("prepend"), (RTM_NEWROUTE, NLM_F_CREATE));
    assert_eq!(new("change"), (RTM_NEWROUTE, NLM_F_REPLACE));
    assert_eq!(new("delete"), (RTM_DELROUTE, 0));
}
