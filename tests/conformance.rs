//! The conformance suite (tests/conformance/conformance.py): every case against a Linux
//! router (namespaces, veth, ip_forward=1) and against ferroute set up as the quick start
//! does (tests/common Lab), with the report printed, one line per case with both
//! routers' observations. Fails if any case fails on either router (a deviation must
//! show ferroute's documented behaviour, and Linux's).
//!
//! Both routers get an egress MTU of 1280 towards h2 (fragmentation cases) and a 1 s
//! reassembly timeout (reassembly-timeout case); nothing else differs from the
//! defaults.
mod common;

use common::{text, Lab};
use std::process::Command;

const SUITE: &str = concat!(
    env!("CARGO_MANIFEST_DIR"),
    "/tests/conformance/conformance.py"
);

#[test]
fn conformance_against_linux_and_ferroute() {
    suite("conf", "default", "");
}

/// The cases of `rp_filter = 1` and `bc_forwarding` (Linux: the same sysctls).
#[test]
fn conformance_policy_switches() {
    suite(
        "confp",
        "policy",
        "[ip]\nrp_filter = 1\nbc_forwarding = true\n",
    );
}

/// The ICMP rate-limit cases: both routers with Linux's default limits (ferroute's
/// `[icmp]` defaults; Linux's sysctls set to theirs).
#[test]
fn conformance_icmp_rate_limits() {
    suite("confr", "ratelimit", "");
}

/// Runs the suite's cases of `variant` against Linux and a lab started with `ip` added
/// to its config.
fn suite(name: &str, variant: &str, ip: &str) {
    let lab = Lab::start_ports(
        name,
        ["", "mtu = 1280"],
        &format!("[reassembly]\ntimeout_ms = 1000\n{ip}"),
    );
    let json = std::env::temp_dir().join(format!("ferroute-conf-{}.json", std::process::id()));
    let (h1, h2) = (&lab.hosts[0], &lab.hosts[1]);
    let mut args = vec![
        SUITE.to_string(),
        std::env::var("CONFORMANCE_MODE").unwrap_or_else(|_| "both".into()),
        h1.ns.clone(),
        h1.tap.clone(),
        h2.ns.clone(),
        h2.tap.clone(),
        "--metrics".into(),
        lab.metrics.to_string(),
        "--json".into(),
        json.display().to_string(),
        "--variant".into(),
        variant.into(),
    ];
    if let Ok(only) = std::env::var("CONFORMANCE_ONLY") {
        args.extend(["--only".into(), only]);
    }
    // Debian's python3 (python3-scapy), whatever python3 comes first on PATH.
    let out = Command::new("/usr/bin/python3")
        .args(&args)
        .output()
        .expect("run /usr/bin/python3 tests/conformance/conformance.py");
    let report = text(&out);
    println!("{report}");
    let _ = std::fs::remove_file(&json);
    assert!(
        out.status.success(),
        "conformance cases failed (see the report above)\n{}",
        report
            .lines()
            .filter(|l| l.starts_with("FAIL") || l.starts_with("conformance:"))
            .collect::<Vec<_>>()
            .join("\n")
    );
    assert!(
        report.contains("conformance: ") && report.contains(", 0 failed"),
        "no summary line: {report}"
    );
}
