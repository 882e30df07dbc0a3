#!/usr/bin/env bash
# One command from a fresh clone: install what is needed, build, and diagnose the sample capture.
set -euo pipefail
cd "$(dirname "$0")/.."
bash scripts/install-deps.sh
cargo build --release
./target/release/tlsdiag analyze samples/handshakes.pcap
