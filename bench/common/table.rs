//! The routing table the benchmarks load: the real full BGP table from the shared data
//! directory when it is there, otherwise a synthetic one with its prefix-length
//! distribution. Every benchmark says which one it used.
use super::Rng;
use ipnet::Ipv4Net;
use std::net::Ipv4Addr;
use std::path::PathBuf;

/// Prefixes per length in the shared table (`../shared/data/README.md`: a Tier-1 full
/// table of 901,899 prefixes, March 2024); /25../31 are lumped at /28.
pub const LENGTHS: [(u8, u32); 19] = [
    (8, 16),
    (9, 13),
    (10, 38),
    (11, 103),
    (12, 299),
    (13, 581),
    (14, 1203),
    (15, 2100),
    (16, 13490),
    (17, 8235),
    (18, 13798),
    (19, 24870),
    (20, 42611),
    (21, 50750),
    (22, 108623),
    (23, 96510),
    (24, 537698),
    (28, 75),
    (32, 886),
];

pub struct Table {
    pub prefixes: Vec<Ipv4Net>,
    /// Where the prefixes came from, for the report.
    pub source: String,
}

/// `--table PATH`, `$FERROUTE_BENCH_TABLE`, or `../shared/data/bgp-ipv4-full-table.txt.gz`
/// next to the project.
pub fn path() -> PathBuf {
    let args: Vec<String> = std::env::args().collect();
    if let Some(p) = args
        .iter()
        .position(|a| a == "--table")
        .and_then(|i| args.get(i + 1))
    {
        return PathBuf::from(p);
    }
    if let Some(p) = std::env::var_os("FERROUTE_BENCH_TABLE") {
        return PathBuf::from(p);
    }
    PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../shared/data/bgp-ipv4-full-table.txt.gz")
}

/// The full table from `path()`, or a synthetic one of `synthetic_size` prefixes when the
/// file is absent.
pub fn full(synthetic_size: usize) -> Result<Table, String> {
    let p = path();
    if p.exists() {
        let prefixes = read(&p)?;
        Ok(Table {
            source: format!("{} ({} prefixes)", p.display(), prefixes.len()),
            prefixes,
        })
    } else {
        let prefixes = synthetic(synthetic_size, &mut Rng::new(7));
        Ok(Table {
            source: format!(
                "synthetic, {} prefixes with the length distribution of the shared BGP table \
                 ({} not found)",
                prefixes.len(),
                p.display()
            ),
            prefixes,
        })
    }
}

/// The full table in a full run; in a smoke run a synthetic one of `smoke_size` prefixes.
pub fn for_mode(mode: super::Mode, smoke_size: usize) -> Result<Table, String> {
    match mode {
        super::Mode::Full => full(901_899),
        super::Mode::Smoke => {
            let prefixes = synthetic(smoke_size, &mut Rng::new(7));
            Ok(Table {
                source: format!(
                    "synthetic, {} prefixes with the shared table's length distribution (smoke run)",
                    prefixes.len()
                ),
                prefixes,
            })
        }
    }
}

/// Reads `a.b.c.d/len` lines; `.gz` files through `gzip -dc`. Sorted, duplicates removed.
pub fn read(path: &PathBuf) -> Result<Vec<Ipv4Net>, String> {
    let text = if path.extension().is_some_and(|e| e == "gz") {
        let out = std::process::Command::new("gzip")
            .arg("-dc")
            .arg(path)
            .output()
            .map_err(|e| format!("gzip -dc {}: {e}", path.display()))?;
        if !out.status.success() {
            return Err(format!("gzip -dc {} failed", path.display()));
        }
        String::from_utf8(out.stdout).map_err(|e| format!("{}: {e}", path.display()))?
    } else {
        std::fs::read_to_string(path).map_err(|e| format!("{}: {e}", path.display()))?
    };
    let mut v = Vec::new();
    for (i, line) in text.lines().enumerate() {
        let line = line.trim();
        if line.is_empty() || line.starts_with('#') {
            continue;
        }
        let p: Ipv4Net = line
            .parse()
            .map_err(|e| format!("{}:{}: {line:?}: {e}", path.display(), i + 1))?;
        v.push(p.trunc());
    }
    v.sort_unstable();
    v.dedup();
    Ok(v)
}

/// The netmask of a prefix length, as a host-order u32.
pub fn mask(len: u8) -> u32 {
    u32::MAX.checked_shl(32 - u32::from(len)).unwrap_or(0)
}

/// About `n` prefixes with the length distribution of [`LENGTHS`], nested like a real
/// table: two in three longer prefixes fall inside a shorter one already made.
pub fn synthetic(n: usize, rng: &mut Rng) -> Vec<Ipv4Net> {
    let total: u64 = LENGTHS.iter().map(|l| u64::from(l.1)).sum();
    let mut made: Vec<(u32, u8)> = Vec::new();
    let mut seen = std::collections::HashSet::new();
    for &(len, count) in &LENGTHS {
        let want = (u64::from(count) * n as u64).div_ceil(total) as usize;
        let shorter = made.len();
        let (mut got, mut tries) = (0, 0);
        while got < want && tries < want * 20 {
            tries += 1;
            let addr = if shorter > 0 && rng.next_u32() % 3 != 0 {
                let (a, l) = made[(rng.next_u64() % shorter as u64) as usize];
                a | (rng.next_u32() & !mask(l))
            } else {
                // Unicast space 1.0.0.0 .. 223.255.255.255.
                0x0100_0000 + rng.next_u32() % 0xDF00_0000
            };
            let p = (addr & mask(len), len);
            if seen.insert(p) {
                made.push(p);
                got += 1;
            }
        }
    }
    let mut v: Vec<Ipv4Net> = made
        .into_iter()
        .filter_map(|(a, l)| Ipv4Net::new(Ipv4Addr::from(a), l).ok())
        .collect();
    v.sort_unstable();
    v
}

/// A usable host address inside `p` (random bits below the prefix), never the
/// all-zero/all-one host of a /24-or-shorter, so lookups land in the prefix itself.
pub fn address_in(p: &Ipv4Net, rng: &mut Rng) -> u32 {
    let host = !mask(p.prefix_len());
    let base = u32::from(p.network());
    if host >= 3 {
        base | (1 + rng.next_u32() % (host - 1))
    } else {
        base | (rng.next_u32() & host)
    }
}
