#!/usr/bin/env bash
# Cross-builds tlsdiag.exe for 64-bit Windows (x86_64-pc-windows-gnu) with Debian's mingw-w64.
#   bash scripts/build-windows.sh           the offline analyzer (--no-default-features), the
#                                           exe that is shipped: target/windows/tlsdiag.exe
#   bash scripts/build-windows.sh --live    with live capture through Npcap's wpcap.dll:
#                                           target/windows/tlsdiag-live.exe, which does not
#                                           start on a machine without Npcap
# Its own target directory (target/windows), so it never waits on the lock of a `cargo test`
# running beside it (tests/windows.rs calls this script). Prints the path of the .exe on its
# last line.
set -euo pipefail
cd "$(dirname "$0")/.."
target=x86_64-pc-windows-gnu
command -v x86_64-w64-mingw32-gcc >/dev/null || {
  echo "x86_64-w64-mingw32-gcc not found: bash scripts/install-deps.sh installs gcc-mingw-w64-x86-64" >&2
  exit 1
}
if command -v rustup >/dev/null && ! rustup target list --installed | grep -qx "$target"; then
  rustup target add "$target"
fi
export CARGO_TARGET_DIR=target/windows
# The shipped exe carries no debug information (the Linux release profile keeps some for
# profiling); the C parts (zstd, liblzma) are compiled by the mingw gcc the cc crate finds.
export CARGO_PROFILE_RELEASE_DEBUG=0 CARGO_PROFILE_RELEASE_STRIP=true
if [ "${1:-}" = "--live" ]; then
  # The pcap crate links wpcap; an import library made from the list of functions it calls
  # stands in for Npcap's SDK (not in Debian nor in a registry this build may use). The crate's
  # build script cannot ask a Windows wpcap.dll for its version here: libpcap 1.10 is what
  # current Npcap releases are based on.
  libdir=$CARGO_TARGET_DIR/wpcap
  mkdir -p "$libdir"
  x86_64-w64-mingw32-dlltool -d scripts/wpcap.def -l "$libdir/libwpcap.a" -D wpcap.dll
  LIBPCAP_LIBDIR=$PWD/$libdir LIBPCAP_VER=1.10.0 cargo build --release --target "$target" --bin tlsdiag >&2
  out=$CARGO_TARGET_DIR/tlsdiag-live.exe
else
  cargo build --release --no-default-features --target "$target" --bin tlsdiag >&2
  out=$CARGO_TARGET_DIR/tlsdiag.exe
fi
# Both builds end up in the same place; each is copied out under its own name at once.
cp "$CARGO_TARGET_DIR/$target/release/tlsdiag.exe" "$out"
echo "$out"
