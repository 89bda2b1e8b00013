#!/usr/bin/env bash
# Runs the conformance suite by hand (as root).
#   tests/conformance/run.sh                 both routers, both variants (cargo test)
#   tests/conformance/run.sh linux           Linux only, in namespaces of its own
#   tests/conformance/run.sh attach H1NS H1IF H2NS H2IF [--metrics ADDR]
#                                            a router already running between two
#                                            namespaces, e.g. scripts/quickstart.sh's:
#                                            attach h1 ftap0 h2 ftap1 --metrics 127.0.0.1:9417
# CONFORMANCE_ONLY=SUBSTRING selects cases (cargo test form); --only for the others.
set -euo pipefail
cd "$(dirname "$0")/../.."
if [ $# -eq 0 ]; then
  [ -f "$HOME/.cargo/env" ] && . "$HOME/.cargo/env"
  exec cargo test --test conformance -- --nocapture --test-threads 1
fi
exec /usr/bin/python3 tests/conformance/conformance.py "$@"
