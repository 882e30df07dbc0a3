#!/usr/bin/env bash
# Makes a bulk-heavy capture (BULK bytes per connection): one OpenSSL server (`s_server -WWW`) and
# CONNECTIONS clients on loopback in a throwaway network namespace (root needed), TLS 1.2 and
# 1.3, about one in ten failing (a suite the server lacks), each successful client fetching a
# BULK-byte file so the capture is mostly bulk data, as real ones are.
#
#   bash benches/make-bench-capture.sh OUT.pcap [CONNECTIONS=2000] [BULK=262144]
set -euo pipefail
out=$(realpath -m "$1")
connections=${2:-2000}
bulk=${3:-262144}
work=$(mktemp -d)
ns=tlsdiag-bench-$$
cleanup() {
  ip netns pids "$ns" 2>/dev/null | xargs -r kill 2>/dev/null || true
  ip netns del "$ns" 2>/dev/null || true
  rm -rf "$work"
}
trap cleanup EXIT
cd "$work"
openssl req -x509 -newkey rsa:2048 -nodes -keyout key.pem -out cert.pem -days 30 \
  -subj /CN=bench.example -addext subjectAltName=DNS:bench.example 2>/dev/null
head -c "$bulk" /dev/urandom > bulk.bin
ip netns add "$ns"
ip -n "$ns" link set lo up
# Ethernet-sized packets (1500-byte MTU, no segmentation offload), as on a real network.
ip -n "$ns" link set lo mtu 1500
ip netns exec "$ns" ethtool -K lo tso off gso off >/dev/null
ip netns exec "$ns" tcpdump -i lo -s 0 --immediate-mode -B 65536 -w "$out" tcp 2>"$work/tcpdump.log" &
tcpdump_pid=$!
sleep 1
ip netns exec "$ns" openssl s_server -accept 4433 -WWW -cert cert.pem -key key.pem -quiet \
  -cipher 'ECDHE-RSA-AES128-GCM-SHA256:ECDHE-RSA-AES256-GCM-SHA384' >/dev/null 2>&1 &
sleep 1
for i in $(seq 1 "$connections"); do
  case $((i % 10)) in
    0) args=(-tls1_2 -cipher ECDHE-RSA-CHACHA20-POLY1305) ;; # the server lacks it: handshake_failure
    1 | 3 | 5 | 7) args=(-tls1_3) ;;
    *) args=(-tls1_2) ;;
  esac
  printf 'GET /bulk.bin HTTP/1.0\r\n\r\n' |
    ip netns exec "$ns" timeout 10 openssl s_client -connect 127.0.0.1:4433 -servername bench.example \
      -quiet -ign_eof "${args[@]}" >/dev/null 2>&1 || true
done
sleep 1
kill "$tcpdump_pid"
wait "$tcpdump_pid" 2>/dev/null || true
cat "$work/tcpdump.log" >&2
ls -l "$out" >&2
