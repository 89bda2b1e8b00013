#!/usr/bin/env bash
# Sets up and runs ferroute on its embedded default config: two net_tap ports
# (ftap0 = 10.0.1.1/24, ftap1 = 10.0.2.1/24), each moved into a namespace with a host
# (h1 = 10.0.1.2, h2 = 10.0.2.2). Runs in the foreground; Ctrl-C stops the router and
# removes the namespaces. From another terminal: ip netns exec h1 ping 10.0.2.2
set -euo pipefail
cd "$(dirname "$0")/.."
scripts/install-deps.sh
[ -f "$HOME/.cargo/env" ] && . "$HOME/.cargo/env"
cargo build --release
bin=target/release/ferroute

cleanup() {
  [ -n "${pid:-}" ] && kill -TERM "$pid" 2>/dev/null && wait "$pid" 2>/dev/null || true
  ip netns del h1 2>/dev/null || true
  ip netns del h2 2>/dev/null || true
}
trap cleanup EXIT
trap 'exit 130' INT TERM
ip netns del h1 2>/dev/null || true
ip netns del h2 2>/dev/null || true

"$bin" run &
pid=$!
"$bin" status --wait 30 >/dev/null
# Only after the ports started: starting a net_tap port re-creates its interface.
for i in 1 2; do
  ns=h$i tap=ftap$((i - 1))
  ip netns add "$ns"
  ip link set "$tap" netns "$ns"
  ip -n "$ns" link set lo up
  ip -n "$ns" addr add "10.0.$i.2/24" dev "$tap"
  ip -n "$ns" link set "$tap" up
  ip -n "$ns" route add default via "10.0.$i.1"
done
echo "ferroute is forwarding between h1 (10.0.1.2) and h2 (10.0.2.2). Try:"
echo "  ip netns exec h1 ping 10.0.2.2      ip netns exec h1 traceroute -n 10.0.2.2"
echo "  $bin counters | grep -v ' 0\$'      $bin neigh      $bin route      $bin -s link"
echo "  $bin monitor     (changes as they happen; ferroute alone prints the usage)"
echo "Ctrl-C stops the router and removes the namespaces."
wait "$pid"
