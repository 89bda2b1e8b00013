#!/usr/bin/env bash
# Builds ferroute_<version>_amd64.deb with dpkg-deb:
#   /usr/sbin/ferroute                          the binary (release build)
#   /lib/systemd/system/ferroute.service        dist/systemd
#   /usr/share/man/man8/ferroute.8.gz           dist/man
#   /usr/share/bash-completion/completions/ferroute
#   /etc/ferroute/router.toml                   conf/router.toml (a conffile)
# Depends: the Debian packages of the DPDK libraries the binary links (found with ldd
# and dpkg -S), plus the PMDs the default config uses (net_tap, mempool ring), plus libc.
#
# usage: scripts/package-deb.sh [OUTDIR]     (default target/deb)
# FERROUTE_BIN=PATH packages an already built binary instead of `cargo build --release`.
set -euo pipefail
cd "$(dirname "$0")/.."
out=${1:-target/deb}
version=$(sed -n 's/^version = "\(.*\)"/\1/p' Cargo.toml | head -1)
bin=${FERROUTE_BIN:-}
if [ -z "$bin" ]; then
  [ -f "$HOME/.cargo/env" ] && . "$HOME/.cargo/env"
  cargo build --release --bin ferroute
  bin=${CARGO_TARGET_DIR:-target}/release/ferroute
fi
[ -x "$bin" ] || { echo "package-deb: no executable $bin" >&2; exit 1; }

root=$(mktemp -d)
trap 'rm -rf "$root"' EXIT
chmod 755 "$root"
install -D -m 755 "$bin" "$root/usr/sbin/ferroute"
strip --strip-debug "$root/usr/sbin/ferroute" 2>/dev/null || true
install -D -m 644 dist/systemd/ferroute.service "$root/lib/systemd/system/ferroute.service"
install -D -m 644 dist/man/ferroute.8 "$root/usr/share/man/man8/ferroute.8"
gzip -9n "$root/usr/share/man/man8/ferroute.8"
install -D -m 644 dist/bash-completion/ferroute "$root/usr/share/bash-completion/completions/ferroute"
install -D -m 644 conf/router.toml "$root/etc/ferroute/router.toml"

# Runtime libraries -> Debian packages.
deps=$(ldd "$bin" | awk '/=> \//{print $3}' | while read -r lib; do
  dpkg -S "$(readlink -f "$lib")" 2>/dev/null || dpkg -S "$lib" 2>/dev/null || true
done | cut -d: -f1 | sort -u)
for pmd in librte-net-tap23 librte-mempool-ring23; do deps="$deps $pmd"; done
depends=$(echo $deps | tr ' ' '\n' | sort -u | paste -sd, | sed 's/,/, /g')

mkdir -p "$root/DEBIAN"
echo /etc/ferroute/router.toml > "$root/DEBIAN/conffiles"
size=$(du -sk --exclude=DEBIAN "$root" | cut -f1)
cat > "$root/DEBIAN/control" <<CONTROL
Package: ferroute
Version: $version
Architecture: amd64
Maintainer: ferroute developers <ferroute@localhost>
Installed-Size: $size
Depends: $depends
Section: net
Priority: optional
Description: IPv4 software router on DPDK
 ferroute forwards IPv4 between DPDK ports (net_tap, memif, AF_XDP, PCI NICs)
 following RFC 1812, with a control API, Prometheus metrics and a systemd unit.
CONTROL
mkdir -p "$out"
deb="$out/ferroute_${version}_amd64.deb"
dpkg-deb --root-owner-group --build "$root" "$deb" >/dev/null
echo "$deb"
