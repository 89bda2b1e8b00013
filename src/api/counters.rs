//! Counters (`ferroute counters`, `ferroute stats`, `link -s`, `qdisc -s`): the reply to
//! FR_GETCOUNTERS is one [`FR_COUNTERS`] message of nested attributes, so that clients
//! read fields instead of parsing text back.
//!
//! ```text
//! FRA_CTRS_DROPS      { FRA_CTR { FRA_CTR_NAME "ip4_no_route", FRA_CTR_VALUE u64 } ... }
//! FRA_CTRS_PORT       { FRA_CTRS_SUBJECT "port0", FRA_CTRS_DATAPATH {..}, FRA_CTRS_PMD {..} }
//! FRA_CTRS_QDISC      { FRA_CTRS_SUBJECT "port1", FRA_CTRS_LIST {..} }   (per port)
//! FRA_CTRS_ICMP_OUT, FRA_CTRS_REASM_FAIL, FRA_CTRS_ROUTER, FRA_CTRS_LINUX_CP { FRA_CTR ... }
//! ```
//!
//! Order is kept as the router lists them (ports in port order, counters in table order).
use super::attr::*;
use super::*;

/// The reply to FR_GETCOUNTERS: the router's counters as [`Counters`].
pub const FR_COUNTERS: u16 = 0x107;

// Top-level attributes of FR_COUNTERS.
pub const FRA_CTRS_DROPS: u16 = 1;
pub const FRA_CTRS_PORT: u16 = 2;
pub const FRA_CTRS_QDISC: u16 = 3;
pub const FRA_CTRS_ICMP_OUT: u16 = 4;
pub const FRA_CTRS_REASM_FAIL: u16 = 5;
pub const FRA_CTRS_ROUTER: u16 = 6;
pub const FRA_CTRS_LINUX_CP: u16 = 7;
// Inside FRA_CTRS_PORT and FRA_CTRS_QDISC.
pub const FRA_CTRS_SUBJECT: u16 = 1;
pub const FRA_CTRS_DATAPATH: u16 = 2;
pub const FRA_CTRS_PMD: u16 = 3;
pub const FRA_CTRS_LIST: u16 = 2;
// A list of counters holds FRA_CTR nests of a name and a value.
pub const FRA_CTR: u16 = 1;
pub const FRA_CTR_NAME: u16 = 1;
pub const FRA_CTR_VALUE: u16 = 2;

/// One counter: its name (a drop reason, `ipackets`, `fib_version`, ...) and value.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct Counter {
    pub name: String,
    pub value: u64,
}

impl Counter {
    /// A counter named `name`.
    pub fn new(name: impl Into<String>, value: u64) -> Counter {
        Counter {
            name: name.into(),
            value,
        }
    }
}

/// A port's counters: the datapath's own (`forwarded`, `dropped`, ...) and the PMD's
/// (`ipackets`, `imissed`, ...).
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct PortCounters {
    pub name: String,
    pub datapath: Vec<Counter>,
    pub pmd: Vec<Counter>,
}

/// The counters of a port's shaper (`sent_bytes`, `backlog_packets`, `tokens_bytes`, ...).
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct QdiscCounters {
    /// The port's name.
    pub port: String,
    pub counters: Vec<Counter>,
}

/// Every counter of the running router, grouped as the data is.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct Counters {
    /// Per drop reason (every reason, zero or not).
    pub drops: Vec<Counter>,
    pub ports: Vec<PortCounters>,
    pub qdiscs: Vec<QdiscCounters>,
    /// ICMP messages the router sent, per kind.
    pub icmp_out: Vec<Counter>,
    /// Reassemblies given up, per cause.
    pub reasm_fail: Vec<Counter>,
    /// The router's own scalars (punts, mempool, neighbours, FIB).
    pub router: Vec<Counter>,
    /// The kernel twins' counters (`[linux_cp]`), without the `linux_cp_` prefix.
    pub linux_cp: Vec<Counter>,
}

/// The value of `name` in `list` (0 when absent, as a counter not yet counted).
pub fn value_of(list: &[Counter], name: &str) -> u64 {
    list.iter().find(|c| c.name == name).map_or(0, |c| c.value)
}

impl Counters {
    /// Counters of the port named `port`.
    pub fn port(&self, port: &str) -> Option<&PortCounters> {
        self.ports.iter().find(|p| p.name == port)
    }

    /// A PMD counter of a port (`ipackets`, ...); 0 for an unknown port or name.
    pub fn pmd(&self, port: &str, name: &str) -> u64 {
        self.port(port).map_or(0, |p| value_of(&p.pmd, name))
    }

    /// A shaper counter of a port (`sent_bytes`, ...); 0 without a shaper.
    pub fn qdisc(&self, port: &str, name: &str) -> u64 {
        self.qdiscs
            .iter()
            .find(|q| q.port == port)
            .map_or(0, |q| value_of(&q.counters, name))
    }

    pub(super) fn emit(&self, out: &mut Vec<u8>) {
        let mut a = Attrs(out);
        a.put(FRA_CTRS_DROPS, &list(&self.drops));
        for p in &self.ports {
            let mut nested = Vec::new();
            let mut n = Attrs(&mut nested);
            n.str(FRA_CTRS_SUBJECT, &p.name);
            n.put(FRA_CTRS_DATAPATH, &list(&p.datapath));
            n.put(FRA_CTRS_PMD, &list(&p.pmd));
            a.put(FRA_CTRS_PORT, &nested);
        }
        for q in &self.qdiscs {
            let mut nested = Vec::new();
            let mut n = Attrs(&mut nested);
            n.str(FRA_CTRS_SUBJECT, &q.port);
            n.put(FRA_CTRS_LIST, &list(&q.counters));
            a.put(FRA_CTRS_QDISC, &nested);
        }
        a.put(FRA_CTRS_ICMP_OUT, &list(&self.icmp_out));
        a.put(FRA_CTRS_REASM_FAIL, &list(&self.reasm_fail));
        a.put(FRA_CTRS_ROUTER, &list(&self.router));
        a.put(FRA_CTRS_LINUX_CP, &list(&self.linux_cp));
    }

    pub(super) fn parse(b: &[u8]) -> Result<Counters, ApiError> {
        let mut c = Counters::default();
        for (k, v) in attrs(b)? {
            match k {
                FRA_CTRS_DROPS => c.drops = parse_list(v)?,
                FRA_CTRS_PORT => {
                    let mut p = PortCounters::default();
                    for (k, v) in attrs(v)? {
                        match k {
                            FRA_CTRS_SUBJECT => p.name = a_str(k, v)?,
                            FRA_CTRS_DATAPATH => p.datapath = parse_list(v)?,
                            FRA_CTRS_PMD => p.pmd = parse_list(v)?,
                            _ => return Err(unknown_attr("port counters", k)),
                        }
                    }
                    c.ports.push(p);
                }
                FRA_CTRS_QDISC => {
                    let mut q = QdiscCounters::default();
                    for (k, v) in attrs(v)? {
                        match k {
                            FRA_CTRS_SUBJECT => q.port = a_str(k, v)?,
                            FRA_CTRS_LIST => q.counters = parse_list(v)?,
                            _ => return Err(unknown_attr("qdisc counters", k)),
                        }
                    }
                    c.qdiscs.push(q);
                }
                FRA_CTRS_ICMP_OUT => c.icmp_out = parse_list(v)?,
                FRA_CTRS_REASM_FAIL => c.reasm_fail = parse_list(v)?,
                FRA_CTRS_ROUTER => c.router = parse_list(v)?,
                FRA_CTRS_LINUX_CP => c.linux_cp = parse_list(v)?,
                _ => return Err(unknown_attr("counters", k)),
            }
        }
        Ok(c)
    }
}

/// A list of counters as FRA_CTR nests.
fn list(counters: &[Counter]) -> Vec<u8> {
    let mut out = Vec::new();
    for c in counters {
        let mut one = Vec::new();
        let mut n = Attrs(&mut one);
        n.str(FRA_CTR_NAME, &c.name);
        n.put(FRA_CTR_VALUE, &c.value.to_le_bytes());
        Attrs(&mut out).put(FRA_CTR, &one);
    }
    out
}

fn parse_list(b: &[u8]) -> Result<Vec<Counter>, ApiError> {
    let mut out = Vec::new();
    for (k, v) in attrs(b)? {
        if k != FRA_CTR {
            return Err(unknown_attr("counter list", k));
        }
        let (mut name, mut value) = (None, None);
        for (k, v) in attrs(v)? {
            match k {
                FRA_CTR_NAME => name = Some(a_str(k, v)?),
                FRA_CTR_VALUE => value = Some(a_u64(k, v)?),
                _ => return Err(unknown_attr("counter", k)),
            }
        }
        match (name, value) {
            (Some(name), Some(value)) => out.push(Counter { name, value }),
            _ => return Err(ApiError::inval("a counter needs a name and a value")),
        }
    }
    Ok(out)
}
