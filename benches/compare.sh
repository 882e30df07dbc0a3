#!/usr/bin/env bash
# Whole-process comparison, in one run, on the three kinds of capture (run by hand, not by CI):
#   bulk   2,000 real OpenSSL connections, 200 of them downloading 1 MiB
#          (../shared/bench/make-bench-pcap.sh -> target/bench/bulk.pcap)
#   dense  50,400 real handshakes without bulk data, a busy server's capture
#          (../shared/bench/make-dense-pcap.sh -> target/bench/dense.pcap)
#   flood  300,000 bare SYNs before one real handshake (benches/make-flood-capture.sh)
# For each: the raw read floor (examples/read_floor.rs), tlsdiag's table and NDJSON reports,
# ssldump and tshark extracting the handshakes. Median CPU time (user + system, which a shared
# machine's load disturbs far less than wall-clock time; all five are single-threaded) of RUNS
# runs after a warm-up (ssldump and tshark: SLOW_RUNS, default 1, no warm-up), file in the page
# cache, output to /dev/null (CPU time from wait4(2)); peak resident memory (/usr/bin/time). A run
# longer than TIMEOUT wall seconds (default 300) is stopped and shown as "> TIMEOUT". Prints
# Markdown tables and the ratios the README quotes.
#
#   bash benches/compare.sh [RUNS=5]
# The two real captures are made when missing (root, a few minutes); BULK=, DENSE=, FLOOD= name
# other files. LIVE=1 adds the live-capture comparison (benches/live-load.sh, root).
set -euo pipefail
cd "$(dirname "$0")/.."
runs=${1:-5}
slow_runs=${SLOW_RUNS:-1}
mkdir -p target/bench
bulk=${BULK:-target/bench/bulk.pcap}
dense=${DENSE:-target/bench/dense.pcap}
flood=${FLOOD:-target/bench/flood-300000.pcap}
[ -f "$bulk" ] || bash ../shared/bench/make-bench-pcap.sh "$bulk"
[ -f "$dense" ] || bash ../shared/bench/make-dense-pcap.sh "$dense"
[ -f "$flood" ] || bash benches/make-flood-capture.sh "$flood" 300000
for tool in ssldump tshark; do
  command -v $tool >/dev/null || { echo "$tool missing: bash scripts/install-deps.sh" >&2; exit 1; }
done
cargo build --release --quiet
cargo build --release --quiet --example read_floor

python3 - "$runs" "$slow_runs" "${TIMEOUT:-300}" "bulk=$bulk" "dense=$dense" "flood=$flood" <<'PY'
import os, re, signal, statistics, subprocess, sys, tempfile, time

runs, slow_runs, timeout = int(sys.argv[1]), int(sys.argv[2]), float(sys.argv[3])
captures = [a.split("=", 1) for a in sys.argv[4:]]
tshark_fields = ("-Y 'tls.handshake.type==1 || tls.handshake.type==2 || tls.alert_message' -T fields "
                 "-e frame.number -e tcp.stream -e tls.handshake.type -e tls.handshake.version "
                 "-e tls.handshake.ciphersuite -e tls.handshake.extensions_server_name -e tls.alert_message.desc")
commands = {
    "read floor": ("./target/release/examples/read_floor {}", runs, True),
    "tlsdiag table": ("./target/release/tlsdiag analyze --format table {}", runs, True),
    "tlsdiag ndjson": ("./target/release/tlsdiag analyze --format ndjson {}", runs, True),
    "ssldump": ("ssldump -n -r {}", slow_runs, False),
    "tshark": ("tshark -n -r {} " + tshark_fields, slow_runs, False),
}

def once(cmd):
    """Wall seconds, CPU seconds (user + system) and peak resident MB of one run, output
    discarded; None past the timeout. The peak comes from /usr/bin/time: the command's own, not
    that of the Python that forked it (which wait4 would report)."""
    peak = tempfile.NamedTemporaryFile()
    start = time.perf_counter()
    with open(os.devnull, "wb") as null:
        child = subprocess.Popen(["/usr/bin/time", "-f", "%M", "-o", peak.name, "bash", "-c", "exec " + cmd],
                                 stdout=null, stderr=null, start_new_session=True)
        while True:
            pid, _, usage = os.wait4(child.pid, os.WNOHANG)
            if pid:
                child.returncode = 0
                mb = int(open(peak.name).read().split()[-1]) / 1024
                return time.perf_counter() - start, usage.ru_utime + usage.ru_stime, mb
            if time.perf_counter() - start > timeout:
                os.killpg(child.pid, signal.SIGKILL)
                child.wait()
                return None
            time.sleep(0.002)

def measure(cmd, n, warm_up):
    if warm_up:
        once(cmd)  # the binary loaded, the file in the page cache
    results = []
    for _ in range(n):
        r = once(cmd)
        if r is None:
            return None
        results.append(r)
    median = lambda i: statistics.median(r[i] for r in results)
    return median(0), median(1), max(r[2] for r in results)

rows = []
for name, path in captures:
    floor_out = subprocess.run(["./target/release/examples/read_floor", path], capture_output=True, text=True).stdout
    packets = int(floor_out.split()[0])
    summary = subprocess.run(["./target/release/tlsdiag", "analyze", "--format", "table", path],
                             capture_output=True, text=True).stdout
    m = re.search(r"^(\d+) connection\(s\)", summary, re.M)
    connections = int(m.group(1)) if m else 0
    results = {tool: measure(cmd.format(path), n, w) for tool, (cmd, n, w) in commands.items()}
    rows.append((name, os.path.getsize(path), packets, connections, results))
    print(f"measured {name}", file=sys.stderr)

load = os.getloadavg()[0]
print(f"runs: {runs} (ssldump, tshark: {slow_runs}); load average at the end {load:.1f} on {os.cpu_count()} CPUs")
print("CPU seconds (user + system; wall-clock seconds where the machine is shared are not comparable),")
print("peak resident MiB in parentheses\n")
print("| capture | " + " | ".join(commands) + " |")
print("|---|" + "---|" * len(commands))
for name, size, packets, connections, results in rows:
    cells = []
    for tool in commands:
        if results[tool] is None:
            cells.append(f"> {timeout:.0f} s wall")
            continue
        _, cpu, mb = results[tool]
        cells.append(f"{cpu:.3f} s" if tool == "read floor" else f"{cpu:.3f} s ({mb:.0f} MiB)")
    print(f"| {name}: {connections:,} connections, {packets:,} packets, {size / 1e6:.0f} MB | " + " | ".join(cells) + " |")
print()
print("| capture | table / floor | ndjson / table | ssldump / table | tshark / table | connections/s (table) | wall: table, floor |")
print("|---|---|---|---|---|---|---|")
for name, size, packets, connections, results in rows:
    t = {tool: results[tool][1] if results[tool] else None for tool in commands}
    table = t["tlsdiag table"]
    def ratio(x, digits):
        return "-" if x is None else f"{x / table:.{digits}f}x"
    print(f"| {name} | {table / t['read floor']:.1f}x | {ratio(t['tlsdiag ndjson'], 2)} | "
          f"{ratio(t['ssldump'], 1)} | {ratio(t['tshark'], 0)} | {connections / table:,.0f} | "
          f"{results['tlsdiag table'][0]:.3f} s, {results['read floor'][0]:.3f} s |")
PY

# Live capture (root only, LIVE=1): the highest handshake rate tlsdiag and tcpdump both hold
# with 0 drops, capturing the same loopback side by side (benches/live-load.sh), at rising
# client counts until either drops or the generator stops getting faster.
if [ "${LIVE:-0}" = 1 ]; then
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
fi
