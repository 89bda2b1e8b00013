#!/usr/bin/env bash
# Installs what ferroute needs to build and test on Debian 12: DPDK 22.11 with its
# headers, libclang for bindgen, iproute2, and the tools the tests drive (prometheus
# brings promtool and the server the metrics tests scrape with). Benchmarks: dpdk-dev has
# dpdk-testpmd (bench/throughput); libdpdk-dev depends on the net_tap, net_memif,
# net_af_packet and net_ring PMDs they use; gzip reads the shared BGP table. groff-base
# renders the man page (tests/cli.rs), systemd has systemd-run (tests/service.rs). bird2
# is the routing daemon of tests/bird.rs (its own service stays off: the tests run it).
# tshark reads back the pcapng comments of `ferroute capture --drops` (tests/capture.rs).
set -euo pipefail
pkgs=(dpdk dpdk-dev libdpdk-dev libclang-dev clang pkg-config build-essential
      iproute2 iputils-ping iputils-tracepath traceroute iperf3 tcpdump python3 python3-scapy
      prometheus gzip groff-base systemd bird2 tshark)
missing=()
for p in "${pkgs[@]}"; do
  dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "ok installed" || missing+=("$p")
done
if [ ${#missing[@]} -gt 0 ]; then
  echo "installing: ${missing[*]}"
  export DEBIAN_FRONTEND=noninteractive
  # tshark's wireshark-common asks whether to make dumpcap setuid: no.
  echo "wireshark-common wireshark-common/install-setuid boolean false" | debconf-set-selections
  apt-get update -qq
  apt-get install -y -qq --no-install-recommends "${missing[@]}"
  # The package starts BIRD in the host's namespace; the tests start their own.
  if printf '%s\n' "${missing[@]}" | grep -qx bird2 && [ -d /run/systemd/system ]; then
    systemctl disable --now bird >/dev/null 2>&1 || true
  fi
fi
if ! command -v cargo >/dev/null 2>&1; then
  [ -f "$HOME/.cargo/env" ] && . "$HOME/.cargo/env"
fi
command -v cargo >/dev/null || { echo "cargo not found: install Rust (rustup) first" >&2; exit 1; }
