//! The layering rule of the crate doc (`src/lib.rs`, "Layers"), checked: every
//! `crate::` path in a source file must name a module of a lower layer than the file's
//! own, or the file's own table entry. Test code (`tests.rs` files, `tests/` folders and what
//! follows a file's `#[cfg(test)]`) may use anything.
use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

/// The table: module path -> layer.
fn table() -> BTreeMap<String, u32> {
    let doc = include_str!("lib.rs");
    let mut t = BTreeMap::new();
    for line in doc.lines().filter_map(|l| l.strip_prefix("//! | ")) {
        let cells: Vec<&str> = line.split(" | ").collect();
        let Some(Ok(layer)) = cells.first().map(|c| c.trim().parse::<u32>()) else {
            continue;
        };
        for m in cells[1].split(',') {
            t.insert(m.trim().trim_matches('`').to_string(), layer);
        }
    }
    t
}

/// The entry of `path` (a module path such as `rtnl::route`): its longest prefix in
/// the table.
fn entry<'a>(t: &'a BTreeMap<String, u32>, path: &str) -> Option<(&'a str, u32)> {
    let parts: Vec<&str> = path.split("::").collect();
    (1..=parts.len()).rev().find_map(|n| {
        let p = parts[..n].join("::");
        t.get_key_value(&p).map(|(k, v)| (k.as_str(), *v))
    })
}

fn sources(dir: &Path, out: &mut Vec<PathBuf>) {
    for e in std::fs::read_dir(dir).expect("src dir").flatten() {
        let p = e.path();
        if p.is_dir() {
            sources(&p, out);
        } else if p.extension().is_some_and(|x| x == "rs") {
            out.push(p);
        }
    }
}

/// The module path of a source file under `src` (`src/rtnl/route.rs` ->
/// `rtnl::route`); `None` for the crate root and the binary.
fn module_of(src: &Path, file: &Path) -> Option<String> {
    let rel = file.strip_prefix(src).ok()?.with_extension("");
    let mut parts: Vec<String> = rel
        .iter()
        .map(|c| c.to_string_lossy().into_owned())
        .collect();
    if parts.last().is_some_and(|l| l == "mod") {
        parts.pop();
    }
    match parts.as_slice() {
        [] => None,
        [one] if one == "lib" || one == "main" => None,
        _ => Some(parts.join("::")),
    }
}

/// The `crate::a::b` paths of `code` (module names only: lower-case segments).
fn crate_paths(code: &str) -> Vec<String> {
    let mut out = Vec::new();
    for (i, _) in code.match_indices("crate::") {
        let rest = &code[i + "crate::".len()..];
        let path: String = rest
            .chars()
            .take_while(|c| c.is_ascii_lowercase() || c.is_ascii_digit() || *c == '_' || *c == ':')
            .collect();
        let path = path.trim_end_matches(':').to_string();
        if !path.is_empty() {
            out.push(path);
        }
    }
    out
}

#[test]
fn every_module_uses_only_lower_layers() {
    let t = table();
    assert!(t.len() >= 15, "the table in src/lib.rs: {t:?}");
    let src = Path::new(env!("CARGO_MANIFEST_DIR")).join("src");
    let mut files = Vec::new();
    sources(&src, &mut files);
    let mut wrong = Vec::new();
    for f in &files {
        let Some(module) = module_of(&src, f) else {
            continue;
        };
        if module.split("::").any(|m| m == "tests") || module == "layers" || module == "testutil" {
            continue;
        }
        let Some((own, own_layer)) = entry(&t, &module) else {
            wrong.push(format!("{}: module {module} is in no layer", f.display()));
            continue;
        };
        let text = std::fs::read_to_string(f).expect("read source");
        let code = text.split("#[cfg(test)]").next().unwrap_or_default();
        let found = violations(&t, &module, (own, own_layer), code);
        wrong.extend(found.into_iter().map(|w| format!("{}: {w}", f.display())));
    }
    assert!(wrong.is_empty(), "layering broken:\n{}", wrong.join("\n"));
}

/// What `code` of `module` (whose entry is `own`) uses against the rule.
fn violations(
    t: &BTreeMap<String, u32>,
    module: &str,
    (own, own_layer): (&str, u32),
    code: &str,
) -> Vec<String> {
    let mut wrong = Vec::new();
    for p in crate_paths(code) {
        match entry(t, &p) {
            None => wrong.push(format!("crate::{p} is in no layer")),
            Some((target, layer)) if target != own && layer >= own_layer => wrong.push(format!(
                "{module} (layer {own_layer}) uses crate::{p} (layer {layer})"
            )),
            Some(_) => {}
        }
    }
    wrong
}

#[test]
fn the_checker_sees_a_violation() {
    let t = table();
    assert_eq!(entry(&t, "rtnl::route"), Some(("rtnl", 13)));
    assert_eq!(entry(&t, "api::route"), Some(("api", 9)));
    assert_eq!(entry(&t, "datapath::reason"), Some(("datapath::reason", 5)));
    let own = ("rtnl", 13);
    // The cycle this test was written against: the API handlers calling into start-up.
    let code = "use crate::daemon::address_routes;\nlet f = crate::fib::Fib::default();";
    assert_eq!(
        violations(&t, "rtnl::route", own, code),
        vec!["rtnl::route (layer 13) uses crate::daemon::address_routes (layer 16)"]
    );
    // A lower layer's own entry may use itself; the wire format may not use its handlers.
    assert!(violations(&t, "rtnl::server", own, "crate::rtnl::Rtnl").is_empty());
    let msg = ("api", 9);
    assert_eq!(violations(&t, "api::route", msg, "crate::rtnl::X").len(), 1);
}
