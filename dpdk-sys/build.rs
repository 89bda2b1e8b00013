//! Generates DPDK bindings with bindgen and compiles the `static inline` wrappers and the
//! shim with cc. The DPDK install is found with pkg-config (`libdpdk`).
use std::env;
use std::path::PathBuf;

fn main() {
    // Link flags are emitted by hand after cc's, so the wrapper archive precedes the
    // DPDK libraries it calls on the linker command line (`--as-needed`).
    let lib = pkg_config::Config::new()
        .atleast_version("22.11")
        .cargo_metadata(false)
        .probe("libdpdk")
        .unwrap_or_else(|e| {
            panic!("libdpdk not found by pkg-config ({e}); install libdpdk-dev (Debian 12: DPDK 22.11)")
        });
    let out = PathBuf::from(env::var("OUT_DIR").expect("OUT_DIR"));
    let wrap_c = out.join("static_fns.c");

    // pkg-config's cflags carry `-include rte_config.h` and `-march`; bindgen needs the
    // include paths and the forced include, cc needs all of it.
    let mut clang_args: Vec<String> = lib
        .include_paths
        .iter()
        .map(|p| format!("-I{}", p.display()))
        .collect();
    clang_args.push("-include".into());
    clang_args.push("rte_config.h".into());
    clang_args.push("-I.".into());

    let bindings = bindgen::Builder::default()
        .header("wrapper.h")
        .clang_args(&clang_args)
        .allowlist_function("rte_.*|ferroute_.*")
        .allowlist_type("rte_.*")
        .allowlist_var("RTE_.*")
        // Packed headers bindgen cannot lay out; ferroute parses wire formats itself.
        .opaque_type("rte_l2tpv2_.*")
        .opaque_type("rte_gtp_.*")
        .opaque_type("rte_arp_.*")
        .blocklist_type("rte_arp_hdr")
        // Takes an `xmm_t` by value, which Rust cannot pass with C's vector ABI through
        // the generated wrapper; `ferroute_lpm_lookupx4_each` (shim.c) calls it from C.
        .blocklist_function("rte_lpm_lookupx4")
        .derive_default(true)
        .wrap_static_fns(true)
        .wrap_static_fns_path(&wrap_c)
        .parse_callbacks(Box::new(bindgen::CargoCallbacks::new()))
        .generate()
        .expect("bindgen failed on DPDK headers");
    bindings
        .write_to_file(out.join("bindings.rs"))
        .expect("write bindings.rs");

    let mut build = cc::Build::new();
    build
        .file(&wrap_c)
        .file("shim.c")
        .include(".")
        .include(env::current_dir().expect("cwd"))
        .flag("-include")
        .flag("rte_config.h")
        .flag("-march=corei7")
        .flag("-Wno-deprecated-declarations")
        .flag("-Wno-duplicate-decl-specifier")
        .opt_level(2);
    for p in &lib.include_paths {
        build.include(p);
    }
    build.compile("ferroute_dpdk_shim");

    // The wrappers call into DPDK; link order: our static lib first, DPDK after it.
    for p in &lib.link_paths {
        println!("cargo:rustc-link-search=native={}", p.display());
    }
    for l in &lib.libs {
        println!("cargo:rustc-link-lib={l}");
    }
    println!("cargo:rerun-if-changed=wrapper.h");
    println!("cargo:rerun-if-changed=shim.h");
    println!("cargo:rerun-if-changed=shim.c");
}
