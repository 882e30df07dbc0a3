#!/usr/bin/env bash
# Whole-process comparison on one capture (run by hand, not by CI): tlsdiag, tshark extracting
# the same handshake facts, and the raw read floor (examples/read_floor.rs), each timed with
# hyperfine (median of RUNS; tshark once unless TSHARK_RUNS says otherwise), peak memory from
# /usr/bin/time. Prints throughput and the two ratios the README quotes.
#
#   bash benches/compare.sh [CAPTURE.pcap] [RUNS=5]
# Without CAPTURE it makes one with benches/make-bench-capture.sh (root, ~5 minutes).
set -euo pipefail
cd "$(dirname "$0")/.."
capture=${1:-target/bench/bench.pcap}
runs=${2:-5}
tshark_runs=${TSHARK_RUNS:-1}
if [ ! -f "$capture" ]; then
  mkdir -p "$(dirname "$capture")"
  bash benches/make-bench-capture.sh "$capture" 2000 262144
fi
cargo build --release --quiet
cargo build --release --quiet --example read_floor
size=$(stat -c %s "$capture")
packets=$(./target/release/examples/read_floor "$capture" | cut -d' ' -f1)
json=$(mktemp -d)
trap 'rm -rf "$json"' EXIT

floor_cmd="./target/release/examples/read_floor $capture"
tlsdiag_cmd="./target/release/tlsdiag analyze --format ndjson $capture"
tshark_cmd="tshark -n -r $capture -Y 'tls.handshake.type==1 || tls.handshake.type==2 || tls.alert_message' -T fields -e frame.number -e tcp.stream -e tls.handshake.type -e tls.handshake.version -e tls.handshake.ciphersuite -e tls.handshake.extensions_server_name -e tls.alert_message.desc"

median() { # median NAME RUNS COMMAND: seconds
  hyperfine --style none --warmup 1 --runs "$2" --output null --export-json "$json/$1.json" "$3" >/dev/null 2>&1 ||
    hyperfine --style none --runs "$2" --output null --export-json "$json/$1.json" "$3" >/dev/null
  python3 -c "import json,sys; print(json.load(open(sys.argv[1]))['results'][0]['median'])" "$json/$1.json"
}
peak_mb() { # peak resident memory of one run, in MB
  /usr/bin/time -f '%M' bash -c "$1 >/dev/null" 2>&1 >/dev/null | tail -1 | awk '{printf "%.1f", $1/1024}'
}

floor=$(median floor "$runs" "$floor_cmd")
ours=$(median tlsdiag "$runs" "$tlsdiag_cmd")
theirs=$(median tshark "$tshark_runs" "$tshark_cmd")
python3 - "$size" "$packets" "$floor" "$ours" "$theirs" "$(peak_mb "$tlsdiag_cmd")" "$(peak_mb "$tshark_cmd")" <<'PY'
import sys
size, packets = int(sys.argv[1]), int(sys.argv[2])
floor, ours, theirs = map(float, sys.argv[3:6])
ours_mb, theirs_mb = sys.argv[6], sys.argv[7]
mb = size / 1e6
print(f"capture: {mb:.0f} MB, {packets} packets")
print(f"{'':12} {'seconds':>9} {'MB/s':>9} {'peak MB':>8}")
print(f"{'read floor':12} {floor:9.3f} {mb / floor:9.0f} {'':>8}")
print(f"{'tlsdiag':12} {ours:9.3f} {mb / ours:9.0f} {ours_mb:>8}")
print(f"{'tshark':12} {theirs:9.3f} {mb / theirs:9.1f} {theirs_mb:>8}")
print(f"tlsdiag is {theirs / ours:.0f}x tshark's throughput and takes {ours / floor:.2f}x the read floor")
PY
# Live capture (root only): the highest handshake rate tlsdiag and tcpdump both hold with 0
# drops, capturing the same loopback side by side (benches/live-load.sh), at rising client
# counts until either drops or the generator stops getting faster.
if [ "$(id -u)" = 0 ] && command -v tcpdump >/dev/null && command -v curl >/dev/null; then
  echo "live capture (same traffic, tcpdump -w beside tlsdiag live):"
  printf '%8s %12s %14s %16s %14s %8s\n' clients handshakes/s tcpdump_drops tlsdiag_kernel tlsdiag_queue ok
  for clients in ${LIVE_CLIENTS:-8 16 32}; do
    line=$(bash benches/live-load.sh $((clients * 250)) "$clients")
    get() { sed -n "s/.*\b$1=\([0-9.]*\).*/\1/p" <<<"$line"; }
    printf '%8s %12s %14s %16s %14s %8s\n' "$clients" "$(get rate)" "$(get tcpdump_drops)" "$(get tlsdiag_kernel)" \
      "$(get tlsdiag_queue)" "$(get ok)/$(get handshakes)"
  done
else
  echo "live capture comparison skipped: needs root, tcpdump and curl"
fi
