#!/usr/bin/env bash
# Installs what building and testing tlsdiag needs on Debian: tshark and editcap (the reference
# the tests compare decoded fields with; NetMon conversions), xz and bzip2 (archive tests),
# tcpdump, iproute2, nftables, ethtool, OpenSSL, GnuTLS, FreeTDS (tsql), vsftpd, curl and Node (to make real
# test captures with tests/fixtures/make-fixtures.sh), libpcap-dev (live capture), mingw-w64
# and wine (the Windows build, scripts/build-windows.sh, and its test under wine, tests/windows.rs),
# chromium (the HTML report is opened headless in tests/html.rs, and its README screenshot),
# ssldump and valgrind (benches/compare.sh: the other tool users reach for, and instruction
# counts where wall-clock times are not comparable on a shared machine).
# Skips apt entirely when everything is already there.
set -euo pipefail
packages=(tshark tcpdump iproute2 openssl libpcap-dev pkg-config xz-utils bzip2 nftables ethtool freetds-bin gnutls-bin vsftpd curl nodejs gcc-mingw-w64-x86-64 wine wine64 chromium ssldump valgrind)
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
# The Spark job (spark/) and its test (tests/spark.rs): Java 17 (Spark 4 needs 17 or newer) and
# PySpark from PyPI in a virtual environment under target/, so no system Python is changed.
repo=$(cd "$(dirname "$0")/.." && pwd)
spark_apt=()
java -version 2>&1 | grep -Eq 'version "(1[7-9]|[2-9][0-9])' || spark_apt+=(openjdk-17-jre-headless)
python3 -c 'import ensurepip, venv' 2>/dev/null || spark_apt+=(python3-venv)
if [ ${#spark_apt[@]} -gt 0 ]; then
  echo "installing: ${spark_apt[*]}" >&2
  sudo_cmd=""
  [ "$(id -u)" -eq 0 ] || sudo_cmd="sudo"
  export DEBIAN_FRONTEND=noninteractive
  $sudo_cmd apt-get update -qq
  $sudo_cmd apt-get install -y -qq --no-install-recommends "${spark_apt[@]}" >/dev/null
fi
spark_venv="$repo/target/spark-venv"
if ! "$spark_venv/bin/python" -c 'import pyspark' 2>/dev/null; then
  echo "installing pyspark into $spark_venv" >&2
  python3 -m venv "$spark_venv"
  "$spark_venv/bin/pip" install --quiet --disable-pip-version-check "pyspark==4.3.0"
fi
