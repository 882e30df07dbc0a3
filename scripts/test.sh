#!/usr/bin/env bash
# The whole test suite: formatting, lints, unit and integration tests (the integration tests
# run tshark on the same captures and compare), and the benchmarks once each as a smoke test.
set -euo pipefail
cd "$(dirname "$0")/.."
bash scripts/install-deps.sh
cargo fmt --check
cargo clippy --all-targets -- -D warnings
# The offline analyzer must build without libpcap (the live feature off).
cargo check --quiet --no-default-features --lib --bins
log=$(mktemp)
trap 'rm -f "$log"' EXIT
cargo test --all-targets 2>&1 | tee "$log"
# One closing line for the whole run, summed over every test binary.
awk '/^test result:/ { for (i = 1; i <= NF; i++) { if ($(i+1) ~ /^passed/) p += $i; if ($(i+1) ~ /^failed/) f += $i } }
     END { printf "tests: %d passed, %d failed\n", p, f }' "$log"
