#!/usr/bin/env bash
# The whole test suite: formatting, lints, unit and integration tests (the integration tests
# run tshark on the same captures and compare), the benchmarks once each as a smoke test, and
# a fuzz smoke of every fuzz target.
set -euo pipefail
cd "$(dirname "$0")/.."
bash scripts/install-deps.sh
cargo fmt --check
cargo clippy --all-targets -- -D warnings
# The offline analyzer must build without libpcap (the live feature off).
cargo check --quiet --no-default-features --lib --bins
log=$(mktemp)
# Tests whose prerequisite is missing (tshark, root, ../shared beside the clone) record why here;
# under CI (or TLSDIAG_REQUIRE_TOOLS=1) they fail instead.
export TLSDIAG_SKIP_LOG=$(mktemp)
trap 'rm -f "$log" "$TLSDIAG_SKIP_LOG"' EXIT
status=0
# --no-fail-fast: every test binary runs, so the closing count covers the whole suite.
cargo test --all-targets --no-fail-fast 2>&1 | tee "$log" || status=1
# A short fuzz smoke: every target from the committed seeds (fuzz/run.sh; cargo-fuzz comes
# from install-deps.sh). Longer runs: bash fuzz/run.sh SECONDS.
if cargo fuzz --version >/dev/null 2>&1; then
  bash fuzz/run.sh 10 || status=1
else
  echo "fuzz smoke skipped: cargo-fuzz is not installed (cargo install cargo-fuzz --locked)"
fi
if [ -s "$TLSDIAG_SKIP_LOG" ]; then
  echo "skipped tests, and why:"
  sort -u "$TLSDIAG_SKIP_LOG" | sed 's/^/  /; s/\t/: /'
fi
# One closing line for the whole run, summed over every test binary; cargo counts a skipped
# test as passed, so skips are taken out of the passed count.
skipped=$(cut -f1 "$TLSDIAG_SKIP_LOG" | sort -u | wc -l)
awk -v s="$skipped" '/^test result:/ { for (i = 1; i <= NF; i++) { if ($(i+1) ~ /^passed/) p += $i; if ($(i+1) ~ /^failed/) f += $i } }
     END { printf "tests: %d passed, %d failed, %d skipped\n", p - s, f, s }' "$log"
exit $status
