#!/usr/bin/env bash
# Fuzz smoke run for CI: lints the fuzz crate (fuzz/, a workspace of its own), builds
# every libFuzzer target and runs each for 10k executions from its seed corpus
# (fuzz/corpus/TARGET). Long campaigns: see fuzz/README.md.
#
# The toolchain is stable, so the targets are built with `--sanitizer none`: cargo-fuzz
# adds the nightly-only -Zsanitizer flag only for a sanitizer, while the coverage
# instrumentation libFuzzer needs (-Cpasses=sancov-module, -Cllvm-args) is stable.
# Everything fuzzed is safe Rust, where an out-of-bounds access is a panic anyway.
#
# Installs cargo-fuzz if it is missing. New corpus entries and crash artifacts go to a
# temporary directory, never into the repository; a crash prints its input in hex and
# fails the run. FUZZ_RUNS overrides the number of executions.
set -euo pipefail
cd "$(dirname "$0")/.."
[ -f "$HOME/.cargo/env" ] && . "$HOME/.cargo/env"
if ! cargo fuzz --version >/dev/null 2>&1; then
    cargo install --locked cargo-fuzz
fi
runs=${FUZZ_RUNS:-10000}
cargo fmt --manifest-path fuzz/Cargo.toml --all -- --check
cargo clippy --manifest-path fuzz/Cargo.toml --all-targets -- -D warnings
cargo fuzz build --sanitizer none
host=$(rustc -vV | sed -n 's/^host: //p')
bin="${CARGO_TARGET_DIR:-fuzz/target}/$host/release"
work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT
failed=0
for t in $(cargo fuzz list); do
    n=$runs
    # Every execution of fib_publish builds whole FIB tables (about 30 a second).
    [ "$t" = fib_publish ] && n=$((runs / 50))
    seeds=fuzz/corpus/$t
    [ "$t" = fib_publish ] && seeds=fuzz/corpus/control
    mkdir -p "$work/$t"
    start=$(date +%s.%N)
    if "$bin/$t" -runs="$n" -artifact_prefix="$work/$t-" "$work/$t" "$seeds" >"$work/$t.log" 2>&1; then
        awk -v t="$t" -v n="$n" -v s="$start" -v e="$(date +%s.%N)" \
            'BEGIN { printf "fuzz-smoke: %-14s %6d runs in %5.1f s\n", t, n, e - s }'
    else
        failed=1
        echo "fuzz-smoke: $t FAILED"
        grep -A15 -E 'panicked|ERROR: libFuzzer' "$work/$t.log" | head -40
        for a in "$work/$t"-*; do
            [ -f "$a" ] && { echo "input $a:"; od -An -tx1 "$a" | head -20; }
        done
    fi
done
exit $failed
