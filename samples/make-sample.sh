#!/usr/bin/env bash
# Regenerates samples/handshakes.pcap: five real connections to one OpenSSL server, captured
# with tcpdump on loopback inside a throwaway network namespace (run as root):
#   1. TLS 1.3 success   2. TLS 1.2 success   3. TLS 1.2 client offering only an ECDSA suite
#   the RSA server lacks (handshake_failure)   4. TLS 1.3 client offering only ChaCha20
#   (handshake_failure)   5. a connection to a closed port (RST).
set -euo pipefail
out=$(cd "$(dirname "$0")" && pwd)/handshakes.pcap
work=$(mktemp -d)
ns=tlsdiag-sample-$$
cleanup() { ip netns pids "$ns" 2>/dev/null | xargs -r kill 2>/dev/null || true; ip netns del "$ns" 2>/dev/null || true; rm -rf "$work"; }
trap cleanup EXIT
cd "$work"
openssl req -x509 -newkey rsa:2048 -nodes -keyout key.pem -out cert.pem -days 3650 \
  -subj "/CN=shop.example" -addext "subjectAltName=DNS:shop.example" 2>/dev/null
ip netns add "$ns"
ip -n "$ns" link set lo up
ip netns exec "$ns" tcpdump -i lo -s 0 -U --immediate-mode -w "$work/capture.pcap" tcp 2>/dev/null &
tcpdump_pid=$!
sleep 1
ip netns exec "$ns" timeout 30 openssl s_server -accept 4433 -cert cert.pem -key key.pem \
  -cipher 'ECDHE-RSA-AES128-GCM-SHA256:AES128-SHA' -ciphersuites TLS_AES_128_GCM_SHA256 -quiet >/dev/null 2>&1 &
sleep 1
client() { echo hi | ip netns exec "$ns" timeout 5 openssl s_client "$@" >/dev/null 2>&1 || true; }
client -connect 127.0.0.1:4433 -servername shop.example -tls1_3 -quiet
client -connect 127.0.0.1:4433 -servername shop.example -tls1_2 -quiet
client -connect 127.0.0.1:4433 -servername shop.example -tls1_2 -cipher ECDHE-ECDSA-AES256-GCM-SHA384
client -connect 127.0.0.1:4433 -servername shop.example -tls1_3 -ciphersuites TLS_CHACHA20_POLY1305_SHA256
client -connect 127.0.0.1:4434
sleep 1
kill "$tcpdump_pid"
wait "$tcpdump_pid" 2>/dev/null || true
cp capture.pcap "$out"
echo "wrote $out"
