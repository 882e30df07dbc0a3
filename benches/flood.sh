#!/usr/bin/env bash
# Peak memory and time on a SYN flood: SYNS bare SYNs (default 300,000; one a microsecond,
# each from its own address and port) around a real TLS 1.2 handshake
# (tests/fixtures/tls12-ok.pcap), read by the release build with the default limits
# (--max-flows 200000), once per output format.
#   bash benches/flood.sh [SYNS]
set -euo pipefail
cd "$(dirname "$0")/.."
cargo build --release --quiet
syns=${1:-300000}
out=target/bench/flood-$syns.pcap
mkdir -p target/bench
[ -f "$out" ] || python3 - "$out" "$syns" <<'PY'
import struct, sys
src = open("tests/fixtures/tls12-ok.pcap", "rb").read()
records, pos = [], 24
while pos + 16 <= len(src):
    sec, usec, caplen, _ = struct.unpack("<IIII", src[pos:pos + 16])
    records.append((sec, usec, src[pos + 16:pos + 16 + caplen]))
    pos += 16 + caplen
with open(sys.argv[1], "wb") as f:
    f.write(src[:24])
    for sec, usec, frame in records[:6]:
        f.write(struct.pack("<IIII", sec, usec, len(frame), len(frame)) + frame)
    base = records[0][0] * 1_000_000 + records[0][1] + 10_000
    head = bytes(12) + b"\x08\x00"
    for n in range(int(sys.argv[2])):
        ip = struct.pack(">BBHHHBBH4s4s", 0x45, 0, 40, 0, 0x4000, 64, 6, 0,
                         bytes([10, 1 + (n >> 16), (n >> 8) & 255, n & 255]), bytes([10, 0, 0, 2]))
        tcp = struct.pack(">HHIIBBHHH", 1024 + n % 60000, 443, n, 0, 0x50, 0x02, 0xffff, 0, 0)
        t = base + n
        frame = head + ip + tcp
        f.write(struct.pack("<IIII", t // 1_000_000, t % 1_000_000, len(frame), len(frame)) + frame)
    for sec, usec, frame in records[6:]:
        f.write(struct.pack("<IIII", sec + 2, usec, len(frame), len(frame)) + frame)
PY
ls -l "$out"
for run in "table" "ndjson" "table --max-flows 50000"; do
  read -r -a args <<< "$run"
  /usr/bin/time -f "--format $run: %e s elapsed, %M KiB peak RSS" target/release/tlsdiag analyze --format "${args[@]}" \
    "$out" > target/bench/flood.out
  grep -E 'settled early|^[0-9]+ connection' target/bench/flood.out || echo "$(wc -l < target/bench/flood.out) NDJSON records"
done
