#!/usr/bin/env bash
# Installs what building and testing tlsdiag needs on Debian: tshark and editcap (the reference
# the tests compare decoded fields with; NetMon conversions), xz and bzip2 (archive tests),
# tcpdump, iproute2, nftables, ethtool, OpenSSL, GnuTLS, FreeTDS (tsql), vsftpd, curl and Node (to make real
# test captures with tests/fixtures/make-fixtures.sh), libpcap-dev (live capture), mingw-w64
# and wine (the Windows build, scripts/build-windows.sh, and its test under wine, tests/windows.rs),
# ssldump and valgrind (benches/compare.sh: the other tool users reach for, and instruction
# counts where wall-clock times are not comparable on a shared machine).
# Skips apt entirely when everything is already there.
set -euo pipefail
packages=(tshark tcpdump iproute2 openssl libpcap-dev pkg-config xz-utils bzip2 nftables ethtool freetds-bin gnutls-bin vsftpd curl nodejs gcc-mingw-w64-x86-64 wine wine64 ssldump valgrind)
missing=()
for p in "${packages[@]}"; do
  dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "install ok installed" || missing+=("$p")
done
if [ ${#missing[@]} -gt 0 ]; then
  echo "installing: ${missing[*]}" >&2
  sudo_cmd=""
  [ "$(id -u)" -eq 0 ] || sudo_cmd="sudo"
  export DEBIAN_FRONTEND=noninteractive
  # tshark asks whether non-root users may capture; answer no instead of prompting.
  echo "wireshark-common wireshark-common/install-setuid boolean false" | $sudo_cmd debconf-set-selections
  $sudo_cmd apt-get update -qq
  $sudo_cmd apt-get install -y -qq --no-install-recommends "${missing[@]}" >/dev/null
fi
command -v cargo >/dev/null || { echo "cargo not found: install the Rust toolchain (rustup)" >&2; exit 1; }
# The standard library for the Windows target (scripts/build-windows.sh).
if command -v rustup >/dev/null && ! rustup target list --installed | grep -qx x86_64-pc-windows-gnu; then
  rustup target add x86_64-pc-windows-gnu
fi
# cargo-fuzz builds and runs the fuzz targets of fuzz/ (RUSTC_BOOTSTRAP=1 on stable).
cargo fuzz --version >/dev/null 2>&1 || cargo install --quiet --locked cargo-fuzz
