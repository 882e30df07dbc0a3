#!/usr/bin/env bash
# Runs the fuzz targets for SECONDS each, two at a time (the machine's cores), starting from
# the committed seeds in fuzz/corpus and the inputs of past findings in fuzz/regressions (the
# etl target also from the public samples in ../shared/etl-samples when present: they are
# read in place, never copied into the repository); what
# a run discovers goes to a scratch directory, a crash to fuzz/artifacts/TARGET/. Exits
# non-zero when any target found a crash.
#   bash fuzz/run.sh SECONDS [TARGET...]
# Needs cargo-fuzz (scripts/install-deps.sh installs it); RUSTC_BOOTSTRAP=1 lets the stable
# toolchain build with the sanitizer flags cargo-fuzz uses.
set -uo pipefail
cd "$(dirname "$0")/.."
seconds=${1:?usage: fuzz/run.sh SECONDS [TARGET...]}
shift
targets=("$@")
[ ${#targets[@]} -gt 0 ] || targets=(pcap pcapng netmon tls_stream tds_unwrap reassembly etl lz77)
export RUSTC_BOOTSTRAP=1
cargo fuzz build >/dev/null 2>&1 || { cargo fuzz build; exit 1; }
scratch=$(mktemp -d)
trap 'rm -rf "$scratch"' EXIT
status=0
run() {
  local target=$1
  mkdir -p "$scratch/$target"
  # Inputs of past findings (fuzz/regressions) run first, with the seeds.
  local dirs=("fuzz/corpus/$target")
  [ -d "fuzz/regressions/$target" ] && dirs+=("fuzz/regressions/$target")
  # libFuzzer reads every seed directory after the first as input only.
  [ "$target" = etl ] && [ -d ../shared/etl-samples ] && dirs+=(../shared/etl-samples)
  if cargo fuzz run "$target" "$scratch/$target" "${dirs[@]}" -- -max_total_time="$seconds" \
    -rss_limit_mb=2048 -timeout=10 > "$scratch/$target.log" 2>&1; then
    echo "fuzz $target: ${seconds}s, no finding ($(grep -Eo 'cov: [0-9]+' "$scratch/$target.log" | tail -1))"
  else
    echo "fuzz $target: FINDING"
    grep -m1 -A8 -E 'panicked|ERROR' "$scratch/$target.log"
    return 1
  fi
}
for ((i = 0; i < ${#targets[@]}; i += 2)); do
  run "${targets[i]}" &
  first=$!
  second=""
  if [ $((i + 1)) -lt ${#targets[@]} ]; then
    run "${targets[i + 1]}" &
    second=$!
  fi
  wait "$first" || status=1
  [ -z "$second" ] || wait "$second" || status=1
done
exit $status
