#!/usr/bin/env bash
# Builds DPDK's own examples/l3fwd from Debian's `dpdk` source package against the
# installed libdpdk, for bench/throughput.rs. Usage: build.sh CACHE_DIR
# Prints the path of the binary on its last line. Reuses CACHE_DIR's build when this
# script and the installed DPDK version are unchanged.
#
# Changes made to l3fwd's source, and only these (applied here with sed on a copy; no
# DPDK code is kept in this repository):
#   - main.c port_conf: no RX checksum offload request. l3fwd 22.11 asks for
#     RTE_ETH_RX_OFFLOAD_CHECKSUM unconditionally, and net_memif offers none, so
#     rte_eth_dev_configure would fail.
#   - l3fwd_lpm.c: IPV4_L3FWD_LPM_MAX_RULES 1024 -> 1<<20, IPV4_L3FWD_LPM_NUMBER_TBL8S
#     1<<8 -> 1<<14, so that rte_lpm holds the full 901,899-prefix table.
#   - l3fwd_fib.c: the IPv4 FIB's max_routes 1<<16 -> 1<<20 for the same table;
#     num_tbl8 is set to 1<<15, its value already (one group per /24 with longer
#     prefixes: under a thousand in that table), written out so the check below holds.
set -euo pipefail

cache=${1:?usage: build.sh CACHE_DIR}
mkdir -p "$cache"
cache=$(cd "$cache" && pwd)
die() { echo "l3fwd build: $*" >&2; exit 1; }

export DEBIAN_FRONTEND=noninteractive
# What this script needs: apt-get source unpacks with dpkg-source (dpkg-dev) and xz;
# make, a C compiler and pkg-config build the example against libdpdk-dev.
need=(dpkg-dev xz-utils make gcc pkg-config libdpdk-dev)
missing=()
for p in "${need[@]}"; do
  [[ $(dpkg-query -W -f='${Status}' "$p" 2>/dev/null) == *"ok installed" ]] || missing+=("$p")
done
if [ ${#missing[@]} -gt 0 ]; then
  echo "installing: ${missing[*]}"
  apt-get update -qq || die "apt-get update failed (no network to Debian's archive?)"
  apt-get install -y -qq --no-install-recommends "${missing[@]}" ||
    die "apt-get install ${missing[*]} failed"
fi

version=$(dpkg-query -W -f='${Version}' libdpdk-dev)
stamp="$version $(sha256sum "$0" | cut -d' ' -f1)"
bin=$cache/work/l3fwd/build/l3fwd
if [ -x "$bin" ] && [ "$(cat "$cache/stamp" 2>/dev/null)" = "$stamp" ]; then
  echo "$bin"
  exit 0
fi

# deb-src: a copy of the `Types: deb` stanzas of debian.sources, in a file of its own,
# only when no deb-src entry exists yet.
src_list=/etc/apt/sources.list.d/debian.sources
if ! grep -rqsE '^(Types:.*deb-src|deb-src )' /etc/apt/sources.list /etc/apt/sources.list.d/; then
  [ -f "$src_list" ] || die "no $src_list to copy a deb-src entry from"
  sed 's/^Types: deb$/Types: deb-src/' "$src_list" >/etc/apt/sources.list.d/ferroute-deb-src.sources
  echo "added /etc/apt/sources.list.d/ferroute-deb-src.sources (deb-src of $src_list)"
  apt-get update -qq || die "apt-get update failed (no network to Debian's archive?)"
elif ! apt-cache showsrc dpdk 2>/dev/null | grep '^Package: dpdk' >/dev/null; then
  # (grep without -q reads to the end: with pipefail, -q's early exit fails apt-cache.)
  apt-get update -qq || die "apt-get update failed (no network to Debian's archive?)"
fi

upstream=${version%%-*}
upstream=${upstream#*:}
tree=$cache/src/dpdk-$upstream
if [ ! -f "$tree/examples/l3fwd/main.c" ]; then
  rm -rf "$cache/src"
  mkdir -p "$cache/src"
  # The source of the installed version (the examples must match the library); any
  # dpdk source if that one is gone from the archive.
  (cd "$cache/src" && { apt-get source -qq "dpdk=$version" || apt-get source -qq dpdk; }) ||
    die "apt-get source dpdk failed: Debian's source package is needed (network to the archive, deb-src)"
  tree=$(ls -d "$cache"/src/dpdk-*/ 2>/dev/null | head -1)
  tree=${tree%/}
  [ -f "$tree/examples/l3fwd/main.c" ] || die "no examples/l3fwd in the unpacked source"
fi

# A fresh copy to patch: the unpacked tree stays as Debian ships it.
rm -rf "$cache/work"
mkdir -p "$cache/work"
cp -r "$tree/examples/l3fwd" "$tree/examples/common" "$cache/work/"
cd "$cache/work/l3fwd"
sed -i 's/^\(\s*\.offloads = \)RTE_ETH_RX_OFFLOAD_CHECKSUM,/\10, \/* ferroute bench: no RX checksum offload (memif) *\//' main.c
sed -i -e 's/^#define IPV4_L3FWD_LPM_MAX_RULES\s.*/#define IPV4_L3FWD_LPM_MAX_RULES (1 << 20)/' \
       -e 's/^#define IPV4_L3FWD_LPM_NUMBER_TBL8S\s.*/#define IPV4_L3FWD_LPM_NUMBER_TBL8S (1 << 14)/' l3fwd_lpm.c
sed -i -e 's/^\(\s*config_ipv4\.max_routes = \).*;/\1(1 << 20);/' \
       -e 's/^\(\s*config_ipv4\.dir24_8\.num_tbl8 = \).*;/\1(1 << 15);/' l3fwd_fib.c
# Each change must have taken (another DPDK release may word them differently).
grep -q '\.offloads = 0, /\* ferroute bench' main.c || die "main.c: RX checksum offload request not found"
grep -q 'RTE_ETH_RX_OFFLOAD_CHECKSUM' main.c && die "main.c: RX checksum offload still requested"
grep -q '^#define IPV4_L3FWD_LPM_MAX_RULES (1 << 20)$' l3fwd_lpm.c || die "l3fwd_lpm.c: MAX_RULES not set"
grep -q '^#define IPV4_L3FWD_LPM_NUMBER_TBL8S (1 << 14)$' l3fwd_lpm.c || die "l3fwd_lpm.c: NUMBER_TBL8S not set"
grep -q 'config_ipv4\.max_routes = (1 << 20);' l3fwd_fib.c || die "l3fwd_fib.c: max_routes not set"
grep -q 'config_ipv4\.dir24_8\.num_tbl8 = (1 << 15);' l3fwd_fib.c || die "l3fwd_fib.c: num_tbl8 not set"

make -s -j2 >"$cache/make.log" 2>&1 || { tail -30 "$cache/make.log" >&2; die "make failed (log: $cache/make.log)"; }
[ -x "$bin" ] || die "make left no $bin"
echo "$stamp" >"$cache/stamp"
echo "$bin"
