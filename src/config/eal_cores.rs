//! The lcores of the EAL arguments (`-l`, `--lcores`), to check `[[worker]] lcore` against.

use std::collections::BTreeSet;

/// The lcores the EAL arguments give, when they can be told from `-l` or `--lcores`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(super) struct EalCores {
    /// The option that gave them, as written (`-l 0,1`, `--lcores 0@0,1@1,2@1`).
    pub(super) option_text: String,
    pub(super) cores: BTreeSet<u32>,
    /// `--main-lcore`, else the lowest lcore of the list (as DPDK picks it).
    pub(super) main: u32,
}

/// Lcore ids of an EAL `-l` list: `N` or `N-M` items, comma separated.
pub(super) fn parse_core_list(list: &str) -> Option<BTreeSet<u32>> {
    let mut cores = BTreeSet::new();
    for item in list.split(',') {
        let item = item.trim();
        let (lo, hi) = match item.split_once('-') {
            Some((lo, hi)) => (
                lo.trim().parse::<u32>().ok()?,
                hi.trim().parse::<u32>().ok()?,
            ),
            None => {
                let n = item.parse::<u32>().ok()?;
                (n, n)
            }
        };
        if lo > hi || hi - lo > 1024 {
            return None;
        }
        cores.extend(lo..=hi);
    }
    Some(cores)
}

/// Lcore ids of an EAL `--lcores` map (eal_parse_lcores): elements `LCORES[@CPUS]`,
/// comma separated, where LCORES and CPUS are each `N`, `N-M` or a group `(a,b-c,..)`.
/// The CPUs (where the lcores' threads run) do not matter here.
pub(super) fn parse_lcore_map(map: &str) -> Option<BTreeSet<u32>> {
    // A set at the start of `s`: a group in parentheses, else up to '@' or ','.
    fn set(s: &str) -> Option<(&str, &str)> {
        let s = s.trim_start();
        if let Some(group) = s.strip_prefix('(') {
            let end = group.find(')')?;
            Some((&group[..end], &group[end + 1..]))
        } else {
            let end = s.find(['@', ',']).unwrap_or(s.len());
            Some((&s[..end], &s[end..]))
        }
    }
    let mut cores = BTreeSet::new();
    let mut rest = map;
    loop {
        let (lcores, mut after) = set(rest)?;
        cores.extend(parse_core_list(lcores)?);
        after = after.trim_start();
        if let Some(cpus) = after.strip_prefix('@') {
            let (cpus, tail) = set(cpus)?;
            parse_core_list(cpus)?;
            after = tail.trim_start();
        }
        if after.is_empty() {
            return Some(cores);
        }
        rest = after.strip_prefix(',')?;
    }
}

/// Parses `-l LIST` / `-lLIST` (items `N` or `N-M`, comma separated), `--lcores MAP`
/// / `--lcores=MAP` (see [`parse_lcore_map`]) and `--main-lcore N`. Anything else that
/// selects cores (`-c`, `--coremask`, both `-l` and `--lcores`, odd syntax) makes the
/// cores unknown, and the lcore checks are skipped (the EAL judges them).
pub(super) fn eal_cores(args: &[String]) -> Option<EalCores> {
    let mut option = None;
    let mut main = None;
    let mut it = args.iter();
    let mut set_option = |opt: (&'static str, String)| match option {
        Some(_) => None,
        None => {
            option = Some(opt);
            Some(())
        }
    };
    while let Some(arg) = it.next() {
        let arg = arg.as_str();
        if arg == "-l" {
            set_option(("-l", it.next()?.clone()))?;
        } else if let Some(rest) = arg.strip_prefix("-l") {
            if rest.starts_with(|c: char| c.is_ascii_digit()) {
                set_option(("-l", rest.to_string()))?;
            } else {
                return None;
            }
        } else if arg == "--lcores" {
            set_option(("--lcores", it.next()?.clone()))?;
        } else if let Some(rest) = arg.strip_prefix("--lcores=") {
            set_option(("--lcores", rest.to_string()))?;
        } else if arg == "--main-lcore" || arg == "--master-lcore" {
            main = Some(it.next()?.trim().parse::<u32>().ok()?);
        } else if let Some(v) = arg
            .strip_prefix("--main-lcore=")
            .or_else(|| arg.strip_prefix("--master-lcore="))
        {
            main = Some(v.trim().parse::<u32>().ok()?);
        } else if arg == "-c" || arg.starts_with("--lcores") || arg.starts_with("--coremask") {
            return None;
        }
    }
    let (name, value) = option?;
    let cores = if name == "-l" {
        parse_core_list(&value)?
    } else {
        parse_lcore_map(&value)?
    };
    let main = match main {
        Some(m) => m,
        None => *cores.first()?,
    };
    Some(EalCores {
        option_text: format!("{name} {value}"),
        cores,
        main,
    })
}
