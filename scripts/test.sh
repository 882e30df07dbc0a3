#!/usr/bin/env bash
# The whole test suite: formatting, lints, unit and integration tests (the integration tests
# run tshark on the same captures and compare).
set -euo pipefail
cd "$(dirname "$0")/.."
bash scripts/install-deps.sh
cargo fmt --check
cargo clippy --all-targets -- -D warnings
cargo test --all-targets
