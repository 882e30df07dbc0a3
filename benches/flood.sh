#!/usr/bin/env bash
# Peak memory and time on a SYN flood: SYNS bare SYNs (default 300,000) around a real TLS 1.2
# handshake (benches/make-flood-capture.sh), read by the release build with the default limits
# (--max-flows 200000), once per output format and once with --max-flows 50000.
#   bash benches/flood.sh [SYNS]
set -euo pipefail
cd "$(dirname "$0")/.."
cargo build --release --quiet
syns=${1:-300000}
out=target/bench/flood-$syns.pcap
mkdir -p target/bench
[ -f "$out" ] || bash benches/make-flood-capture.sh "$out" "$syns"
ls -l "$out"
for run in "table" "ndjson" "table --max-flows 50000"; do
  read -r -a args <<< "$run"
  /usr/bin/time -f "--format $run: %e s elapsed, %M KiB peak RSS" target/release/tlsdiag analyze --format "${args[@]}" \
    "$out" > target/bench/flood.out
  grep -E 'settled early|^[0-9]+ connection' target/bench/flood.out || echo "$(wc -l < target/bench/flood.out) NDJSON records"
done
