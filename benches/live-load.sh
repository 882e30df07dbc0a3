#!/usr/bin/env bash
# Live capture under load (root; run by hand and by benches/compare.sh): N TLS handshakes from
# P parallel curl clients against `openssl s_server -WWW` in a network namespace, while
# `tcpdump -w` and `tlsdiag live` capture the same loopback at the same time. Prints one line:
#
#   handshakes=<n> rate=<handshakes/s> tcpdump_drops=<n> tlsdiag_kernel=<n> tlsdiag_queue=<n>
#   tlsdiag_packets=<n> affected=<verdicts changed by loss> ok=<n> failures=<n> offline_ok=<n>
#
# where offline_ok is `tlsdiag analyze` of tcpdump's file. Extra tlsdiag options go in
# TLSDIAG_OPTS (e.g. "--buffer-size 128K"); RATE=<per-client handshakes/s> paces each client
# (curl --rate), unset means as fast as they go.
#
#   bash benches/live-load.sh [N=1500] [P=8] [RESPONSE_BYTES=100]
set -euo pipefail
cd "$(dirname "$0")/.."
n=${1:-1500}
p=${2:-8}
bytes=${3:-100}
bin=${TLSDIAG:-./target/release/tlsdiag}
[ -x "$bin" ] || cargo build --release --quiet
ns=tlsdiag-lv-load-$$
dir=$(mktemp -d)
cleanup() {
  for pid in $(ip netns pids "$ns" 2>/dev/null); do kill "$pid" 2>/dev/null || true; done
  ip netns del "$ns" 2>/dev/null || true
  if [ -n "${KEEP:-}" ]; then cp "$dir/tcpdump.pcap" "$KEEP"; fi; rm -rf "$dir"
}
trap cleanup EXIT
ip netns add "$ns"
ip -n "$ns" link set lo up
openssl req -x509 -newkey ec -pkeyopt ec_paramgen_curve:P-256 -nodes -days 2 -subj /CN=load.test \
  -keyout "$dir/key.pem" -out "$dir/cert.pem" 2>/dev/null
head -c "$bytes" /dev/zero | tr '\0' x >"$dir/index.html"
(cd "$dir" && exec ip netns exec "$ns" openssl s_server -WWW -accept 4433 -quiet -naccept 1000000 \
  -cert cert.pem -key key.pem >/dev/null 2>&1) &
ip netns exec "$ns" tcpdump -i lo -w "$dir/tcpdump.pcap" tcp 2>"$dir/tcpdump.err" &
# shellcheck disable=SC2086
ip netns exec "$ns" "$bin" live -i lo --format ndjson --status-every 0 ${TLSDIAG_OPTS:-} \
  >"$dir/live.ndjson" 2>"$dir/live.err" &
sleep 2
per=$(( (n + p - 1) / p ))
start=$(date +%s.%N)
for c in $(seq 1 "$p"); do
  # shellcheck disable=SC2086
  ip netns exec "$ns" curl -sk --no-sessionid ${RATE:+--rate $RATE/s} -o /dev/null -w '%{http_code}\n' \
    "https://127.0.0.1:4433/index.html#$c-[1-$per]" >"$dir/curl.$c" 2>/dev/null &
done
wait $(jobs -p | tail -n "$p")
end=$(date +%s.%N)
sleep 1
for pid in $(ip netns pids "$ns"); do
  case $(cat /proc/"$pid"/comm 2>/dev/null) in tcpdump | tlsdiag) kill -INT "$pid" ;; esac
done
sleep 2
done_ok=$(cat "$dir"/curl.* | grep -c '^200$' || true)
rate=$(python3 -c "print(round($done_ok / ($end - $start), 1))")
tcpdump_drops=$(sed -n 's/^\([0-9]*\) packets* dropped by kernel.*/\1/p' "$dir/tcpdump.err")
ended=$(grep 'ended:' "$dir/live.err" | tail -1)
kernel=$(sed -n 's/.* \([0-9]*\) dropped by the kernel.*/\1/p' <<<"$ended")
queue=$(sed -n 's/.* \([0-9]*\) dropped by a full queue.*/\1/p' <<<"$ended")
affected=$(sed -n 's/.* \([0-9]*\) verdicts incomplete_capture because of the loss.*/\1/p' <<<"$ended")
seen=$(sed -n 's/.*ended: \([0-9]*\) packets.*/\1/p' <<<"$ended")
ok=$(grep -c '"code":"ok"' "$dir/live.ndjson" || true)
failures=$(grep -vc -e '"code":"ok"' -e '"code":"incomplete_capture"' "$dir/live.ndjson" || true)
offline_ok=$("$bin" analyze --format ndjson "$dir/tcpdump.pcap" | grep -c '"code":"ok"' || true)
echo "handshakes=$done_ok rate=$rate tcpdump_drops=$tcpdump_drops tlsdiag_kernel=$kernel tlsdiag_queue=$queue tlsdiag_packets=$seen affected=$affected ok=$ok failures=$failures offline_ok=$offline_ok"
