#!/usr/bin/env bash
# Cross-builds tlsdiag.exe for 64-bit Windows (x86_64-pc-windows-gnu) with Debian's mingw-w64:
# the offline analyzer (--no-default-features: live capture would link Npcap's wpcap, see the
# README's "Windows" section). Its own target directory (target/windows), so it never waits on
# the lock of a `cargo test` running beside it (tests/windows.rs calls this script).
# Prints the path of the .exe on its last line.
# Usage: bash scripts/build-windows.sh [--debug]
set -euo pipefail
cd "$(dirname "$0")/.."
target=x86_64-pc-windows-gnu
profile=release
[ "${1:-}" = "--debug" ] && profile=debug
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
flags=(--no-default-features --target "$target" --bin tlsdiag)
if [ "$profile" = release ]; then
  CARGO_PROFILE_RELEASE_DEBUG=0 CARGO_PROFILE_RELEASE_STRIP=true cargo build --release "${flags[@]}" >&2
else
  cargo build "${flags[@]}" >&2
fi
echo "$CARGO_TARGET_DIR/$target/$profile/tlsdiag.exe"
