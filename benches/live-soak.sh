#!/usr/bin/env bash
# A long live soak (root; run by hand, the suite's soak in tests/live.rs lasts 2 minutes): P
# curl clients each paced at R handshakes a second (a new connection each, no session reuse)
# against `openssl s_server -WWW` in a network namespace for M minutes, while `tlsdiag live`
# saves rotated parts (-G 60, -C 100M) and writes a summary line a minute. Prints tlsdiag's
# resident memory (VmRSS, RssAnon) every 30 s, then one line:
#
#   minutes=<m> handshakes=<n> ok=<n> kernel=<n> queue=<n> parts=<n> merged_ok=<n>
#   rss_first_kib=<peak, first third> rss_last_kib=<peak, last third> anon_first_kib=<> anon_last_kib=<>
#
# where merged_ok is `tlsdiag analyze --merge` over the parts.
#
#   bash benches/live-soak.sh [M=15] [P=6] [R=10]
set -euo pipefail
cd "$(dirname "$0")/.."
minutes=${1:-15}
p=${2:-6}
rate=${3:-10}
bin=${TLSDIAG:-./target/release/tlsdiag}
[ -x "$bin" ] || cargo build --release --quiet
ns=tlsdiag-lv-soak-$$
dir=$(mktemp -d)
cleanup() {
  for pid in $(ip netns pids "$ns" 2>/dev/null); do kill "$pid" 2>/dev/null || true; done
  ip netns del "$ns" 2>/dev/null || true
  rm -rf "$dir"
}
trap cleanup EXIT
ip netns add "$ns"
ip -n "$ns" link set lo up
openssl req -x509 -newkey ec -pkeyopt ec_paramgen_curve:P-256 -nodes -days 2 -subj /CN=soak.test \
  -keyout "$dir/key.pem" -out "$dir/cert.pem" 2>/dev/null
head -c 100 /dev/zero | tr '\0' x >"$dir/index.html"
mkdir "$dir/parts"
(cd "$dir" && exec ip netns exec "$ns" openssl s_server -WWW -accept 4433 -quiet -naccept 100000000 \
  -cert cert.pem -key key.pem >/dev/null 2>&1) &
ip netns exec "$ns" "$bin" live -i lo --format ndjson --status-every 0 -G 60 -C 100M \
  --write "$dir/parts/soak.pcapng" --summary-every 60 --summary-file "$dir/summary.log" \
  >"$dir/live.ndjson" 2>"$dir/live.err" &
sleep 2
pid=$(for p2 in $(ip netns pids "$ns"); do [ "$(cat /proc/"$p2"/comm)" = tlsdiag ] && echo "$p2"; done)
per=$((minutes * 60 * rate))
for c in $(seq 1 "$p"); do
  ip netns exec "$ns" curl -sk --no-sessionid --rate "$rate/s" -o /dev/null -w '%{http_code}\n' \
    "https://127.0.0.1:4433/index.html#$c-[1-$per]" >"$dir/curl.$c" 2>/dev/null &
done
curls=$(jobs -p | tail -n "$p")
running() {
  for c in $curls; do kill -0 "$c" 2>/dev/null && return 0; done
  return 1
}
start=$(date +%s)
: >"$dir/rss"
while running; do
  t=$(($(date +%s) - start))
  read -r rss anon < <(awk '/^VmRSS:/ {r=$2} /^RssAnon:/ {a=$2} END {print r, a}' /proc/"$pid"/status)
  echo "$t $rss $anon" >>"$dir/rss"
  if [ $((t % 30)) -lt 5 ]; then echo "t=${t}s VmRSS=${rss}kB RssAnon=${anon}kB" >&2; fi
  sleep 5
done
# shellcheck disable=SC2086
wait $curls || true
sleep 1
kill -INT "$pid"
sleep 3
handshakes=$(cat "$dir"/curl.* | grep -c '^200$' || true)
ended=$(grep 'ended:' "$dir/live.err" | tail -1)
kernel=$(sed -n 's/.* \([0-9]*\) dropped by the kernel.*/\1/p' <<<"$ended")
queue=$(sed -n 's/.* \([0-9]*\) dropped by a full queue.*/\1/p' <<<"$ended")
ok=$(grep -c '"code":"ok"' "$dir/live.ndjson" || true)
parts=$(ls "$dir"/parts | wc -l)
merged_ok=$("$bin" analyze --merge --format ndjson "$dir"/parts/*.pcapng | grep -c '"code":"ok"' || true)
peaks=$(awk -v last="$(tail -1 "$dir/rss" | cut -d' ' -f1)" '
  { t[NR] = $1; r[NR] = $2; a[NR] = $3 }
  END { third = last / 3
        for (i = 1; i <= NR; i++) {
          if (t[i] < third) { if (r[i] > rf) rf = r[i]; if (a[i] > af) af = a[i] }
          if (t[i] >= 2 * third) { if (r[i] > rl) rl = r[i]; if (a[i] > al) al = a[i] } }
        printf "rss_first_kib=%d rss_last_kib=%d anon_first_kib=%d anon_last_kib=%d", rf, rl, af, al }' "$dir/rss")
echo "minutes=$minutes handshakes=$handshakes ok=$ok kernel=$kernel queue=$queue parts=$parts merged_ok=$merged_ok $peaks"
