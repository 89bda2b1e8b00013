//! scripts/package-deb.sh: builds the .deb from this build's binary, checks its files and
//! control fields, installs it with `dpkg --root` into a scratch root (the DPDK packages
//! it depends on are checked to be installed on this host instead, since the scratch
//! root has none), and runs the installed binary on the installed config.
use std::path::Path;
use std::process::Command;

fn run(cmd: &mut Command) -> String {
    let o = cmd.output().expect("spawn");
    let s = format!(
        "{}{}",
        String::from_utf8_lossy(&o.stdout),
        String::from_utf8_lossy(&o.stderr)
    );
    assert!(o.status.success(), "{cmd:?}: {s}");
    s
}

#[test]
fn the_deb_holds_the_router_and_installs_into_a_scratch_root() {
    let dir = std::env::temp_dir().join(format!("ferroute-deb-{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&dir);
    let root = dir.join("root");
    let script = concat!(env!("CARGO_MANIFEST_DIR"), "/scripts/package-deb.sh");
    let out = run(Command::new(script)
        .arg(dir.join("out"))
        .env("FERROUTE_BIN", env!("CARGO_BIN_EXE_ferroute")));
    let deb = out
        .trim()
        .lines()
        .last()
        .expect("the .deb's path")
        .to_string();
    let version = env!("CARGO_PKG_VERSION");
    assert!(
        deb.ends_with(&format!("ferroute_{version}_amd64.deb")),
        "{deb}"
    );

    let files = run(Command::new("dpkg-deb").args(["-c", &deb]));
    for f in [
        "./usr/sbin/ferroute",
        "./lib/systemd/system/ferroute.service",
        "./usr/share/man/man8/ferroute.8.gz",
        "./usr/share/bash-completion/completions/ferroute",
        "./etc/ferroute/router.toml",
    ] {
        assert!(
            files
                .lines()
                .any(|l| l.ends_with(f) && l.contains("root/root")),
            "{f} not in the package (root-owned):\n{files}"
        );
    }
    let field = |name: &str| run(Command::new("dpkg-deb").args(["-f", &deb, name]));
    assert_eq!(field("Package").trim(), "ferroute");
    assert_eq!(field("Version").trim(), version);
    assert_eq!(field("Architecture").trim(), "amd64");
    let depends = field("Depends");
    for d in [
        "librte-eal23",
        "librte-ethdev23",
        "librte-net-tap23",
        "libc6",
    ] {
        assert!(depends.contains(d), "Depends lacks {d}: {depends}");
    }
    // Every dependency is a real package (installed here, where the binary runs).
    for d in depends.split(',').map(str::trim) {
        run(Command::new("dpkg").args(["-s", d]));
    }
    let conffiles = run(Command::new("dpkg-deb").args(["-I", &deb, "conffiles"]));
    assert_eq!(conffiles.trim(), "/etc/ferroute/router.toml");

    // dpkg -i into a scratch root with an empty dpkg database.
    let admin = root.join("var/lib/dpkg");
    for d in ["info", "updates"] {
        std::fs::create_dir_all(admin.join(d)).expect("scratch root");
    }
    for f in ["status", "available"] {
        std::fs::write(admin.join(f), "").expect("scratch root");
    }
    let r = root.to_str().expect("utf-8 path");
    run(Command::new("dpkg").args([&format!("--root={r}"), "--force-depends", "-i", &deb]));
    let status = run(Command::new("dpkg").args([&format!("--root={r}"), "-s", "ferroute"]));
    assert!(status.contains("Status: install ok installed"), "{status}");
    let bin = root.join("usr/sbin/ferroute");
    let conf = root.join("etc/ferroute/router.toml");
    let check = run(Command::new(&bin).args(["check", "-c"]).arg(&conf));
    assert!(check.contains(": OK ("), "{check}");
    let unit = std::fs::read_to_string(root.join("lib/systemd/system/ferroute.service"))
        .expect("unit installed");
    assert!(unit.contains("ExecStart=/usr/sbin/ferroute run -c /etc/ferroute/router.toml"));
    assert!(Path::new(&root.join("usr/share/man/man8/ferroute.8.gz")).exists());
    let _ = std::fs::remove_dir_all(&dir);
}
