//! Config tests: `[[port]]`.

use super::*;

#[test]
fn ports_required() {
    fail(WORKER, "port", "at least one [[port]]");
}

#[test]
fn port_names_unique_and_non_empty() {
    fail(
        &base()
            .replace("\"port1\"", "\"port0\"")
            .replace("port0:0\", \"port0:0", "port0:0"),
        "port[1].name",
        "duplicate port name \"port0\"",
    );
    fail(
        &base().replace("name = \"port1\"", "name = \"\""),
        "port[1].name",
        "must not be empty",
    );
    fail(
        &base().replace("name = \"port1\"", "name = \"a:b\""),
        "port[1].name",
        "must not contain ':'",
    );
    fail(
        &base().replace("name = \"port1\"\n", ""),
        "port[1].name",
        "required key is missing",
    );
}

#[test]
fn port_pci_instead_of_devargs() {
    let pci = |v: &str| base().replace("devargs = \"net_tap1,iface=ftap1\"", v);
    let c = ok(&pci("pci = \"0000:03:00.0\""));
    assert_eq!(c.ports[1].pci.as_deref(), Some("0000:03:00.0"));
    assert_eq!(c.ports[1].dev_name(), "0000:03:00.0");
    assert_eq!(c.ports[0].pci, None);
    fail(
        &pci("pci = \"03:00.0\""),
        "port[1].pci",
        "is not a PCI address",
    );
    fail(
        &pci("pci = \"0000:03:00.0\"\ndevargs = \"net_tap1\""),
        "port[1].pci",
        "either pci or devargs",
    );
}

#[test]
fn port_devargs_non_empty_and_unique() {
    fail(
        &base().replace("net_tap1,iface=ftap1", ""),
        "port[1].devargs",
        "no device name",
    );
    fail(
        &base().replace("net_tap1,iface=ftap1", ",iface=x"),
        "port[1].devargs",
        "no device name",
    );
    fail(
        &base().replace("net_tap1,iface=ftap1", "net_tap0,iface=ftap9"),
        "port[1].devargs",
        "duplicate device name \"net_tap0\" (also used by port[0])",
    );
    fail(
        &base().replace("devargs = \"net_tap1,iface=ftap1\"\n", ""),
        "port[1].devargs",
        "required",
    );
}

#[test]
fn port_address_syntax() {
    let addr = |a: &str| base().replace("10.0.2.1/24", a);
    fail(
        &addr("10.0.2.1"),
        "port[1].address",
        "a.b.c.d/prefix-length",
    );
    fail(&addr("10.0.2/24"), "port[1].address", "not an IPv4 address");
    fail(
        &addr("10.0.2.1/0"),
        "port[1].address",
        "prefix length must be 1..=32",
    );
    fail(
        &addr("10.0.2.1/33"),
        "port[1].address",
        "prefix length must be 1..=32",
    );
    fail(&addr("10.0.2.1/x"), "port[1].address", "prefix length");
    fail(
        &base().replace("address = \"10.0.2.1/24\"\n", ""),
        "port[1].address",
        "required",
    );
}

#[test]
fn port_address_not_network_or_broadcast() {
    let addr = |a: &str| base().replace("10.0.1.1/24", a);
    fail(
        &addr("10.0.1.0/24"),
        "port[0].address",
        "10.0.1.0/24 is the network address of its subnet",
    );
    fail(
        &addr("10.0.1.255/24"),
        "port[0].address",
        "10.0.1.255/24 is the broadcast address of its subnet",
    );
    fail(&addr("10.0.1.3/30"), "port[0].address", "broadcast");
    let c = ok(&addr("10.0.1.0/31"));
    assert_eq!(c.ports[0].address.to_string(), "10.0.1.0/31");
    ok(&addr("10.0.1.1/31"));
    ok(&addr("10.0.1.7/32"));
}

#[test]
fn port_subnets_must_not_overlap() {
    fail(
        &base().replace("10.0.2.1/24", "10.0.1.2/24"),
        "port[1].address",
        "subnet 10.0.1.0/24 overlaps 10.0.1.0/24 of port[0] (\"port0\")",
    );
    fail(
        &base().replace("10.0.2.1/24", "10.0.0.1/16"),
        "port[1].address",
        "overlaps",
    );
    fail(
        &base().replace("10.0.2.1/24", "10.0.1.200/25"),
        "port[1].address",
        "overlaps",
    );
    ok(&base().replace("10.0.2.1/24", "10.0.0.1/24"));
}

#[test]
fn port_mtu_range() {
    let mtu = |m: &str| {
        base().replace(
            "address = \"10.0.2.1/24\"",
            &format!("address = \"10.0.2.1/24\"\nmtu = {m}"),
        )
    };
    fail(
        &mtu("67"),
        "port[1].mtu",
        "67 is out of range; must be 68..=9600",
    );
    fail(&mtu("9601"), "port[1].mtu", "68..=9600");
    assert_eq!(ok(&mtu("68")).ports[1].mtu, 68);
    assert_eq!(ok(&mtu("9600")).ports[1].mtu, 9600);
}

#[test]
fn port_mac_unicast() {
    let mac = |m: &str| {
        base().replace(
            "address = \"10.0.2.1/24\"",
            &format!("address = \"10.0.2.1/24\"\nmac = \"{m}\""),
        )
    };
    fail(&mac("01:00:5e:00:00:01"), "port[1].mac", "multicast");
    fail(&mac("ff:ff:ff:ff:ff:ff"), "port[1].mac", "multicast");
    fail(&mac("00:00:00:00:00:00"), "port[1].mac", "all-zero");
    fail(&mac("02:00:00:00:01"), "port[1].mac", "invalid MAC address");
    assert_eq!(
        ok(&mac("02:00:00:00:02:01")).ports[1].mac,
        Some(MacAddr([2, 0, 0, 0, 2, 1]))
    );
}

// --- workers -----------------------------------------------------------------------------
