#!/usr/bin/env bash
# A SYN flood around one real handshake, for benches/flood.sh and benches/compare.sh: the first
# six frames of tests/fixtures/tls12-ok.pcap (OpenSSL, TLS 1.2), then SYNS bare SYNs (default
# 300,000; one a microsecond, each from its own address and port, to 10.0.0.2:443), then the
# rest of the real connection two seconds later. Bare SYNs are the one kind of packet no peer
# here can send hundreds of thousands of in a bench's time.
#   bash benches/make-flood-capture.sh OUT.pcap [SYNS]
set -euo pipefail
cd "$(dirname "$0")/.."
out=${1:?usage: make-flood-capture.sh OUT.pcap [SYNS]}
python3 - "$out" "${2:-300000}" <<'PY'
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
