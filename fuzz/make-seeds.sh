#!/usr/bin/env bash
# Makes the seed corpus of every fuzz target from the project's own test captures (run from
# anywhere; needs tshark and editcap). The seeds are committed; run again after adding
# fixtures.
#   pcap, pcapng, netmon: the fixtures (converted with editcap), without their first four bytes
#                         (the targets put the magic back)
#   tls_stream, tds_unwrap: each fixture connection's payload in arrival order, in the
#                         targets' step format (control byte: side | length << 1); the TDS
#                         captures seed both
#   reassembly:           the same streams (the target reads segment headers out of them)
#   etl, lz77:            not made here: small traces written by the tests' ETL writer, and
#                         the compressed buffers of one (cargo test --test etl -- --ignored
#                         write_fuzz_seeds); fuzz/run.sh adds the public samples of
#                         ../shared/etl-samples to the etl target at run time
set -euo pipefail
here=$(cd "$(dirname "$0")" && pwd)
fixtures="$here/../tests/fixtures"
work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT
for target in pcap pcapng netmon tls_stream tds_unwrap reassembly; do
  rm -rf "${here:?}/corpus/$target"
  mkdir -p "$here/corpus/$target"
done
strip_magic() { tail -c +5 "$1" > "$2"; }
for f in "$fixtures"/*.pcap; do
  name=$(basename "$f" .pcap)
  strip_magic "$f" "$here/corpus/pcap/$name"
  editcap -F pcapng "$f" "$work/$name.pcapng"
  strip_magic "$work/$name.pcapng" "$here/corpus/pcapng/$name"
  editcap -F netmon2 "$f" "$work/$name.cap"
  strip_magic "$work/$name.cap" "$here/corpus/netmon/$name"
  tshark -n -r "$f" -Y 'tcp.len > 0' -T fields -e tcp.stream -e tcp.srcport -e tcp.payload > "$work/$name.tsv"
  python3 - "$work/$name.tsv" "$here/corpus" "$name" <<'PY'
import sys, collections
rows, out, name = sys.argv[1], sys.argv[2], sys.argv[3]
streams = collections.defaultdict(list)
for line in open(rows):
    stream, port, payload = line.rstrip("\n").split("\t")
    streams[stream].append((port, bytes.fromhex(payload.replace(":", ""))))
for stream, packets in streams.items():
    first_port = packets[0][0]
    steps = bytearray()
    for port, payload in packets:
        side = 0 if port == first_port else 1
        for i in range(0, len(payload), 127):
            piece = payload[i : i + 127]
            steps += bytes([side | len(piece) << 1]) + piece
    targets = ["tls_stream", "reassembly"] + (["tds_unwrap"] if name.startswith("tds") else [])
    for t in targets:
        with open(f"{out}/{t}/{name}-{stream}", "wb") as f:
            f.write(steps[:16384])
PY
done
du -sh "$here"/corpus/*
