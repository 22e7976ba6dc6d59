#!/usr/bin/env bash
# Whole-process figures for the closing notes, each the median of repeated runs:
#   idle RSS of `run` on the demo config, start to first sample, `check` on a generated 10k-tag config.
#   benches/figures.sh            (builds release first)
set -euo pipefail
cd "$(dirname "$0")/.."
runs=${RUNS:-7}
if [ -z "${BIN:-}" ]; then cargo build --release -q -p edge-agent --bin edge-agent --example gen_config; fi
bin=${BIN:-target/release/edge-agent}
work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT

median() { sort -n | awk '{a[NR]=$1} END {print (NR%2 ? a[(NR+1)/2] : (a[NR/2]+a[NR/2+1])/2)}'; }

# The demo listens on 127.0.0.1:9100; run it from a scratch dir so ./data lands there.
sed "s|data_dir = \"./data\"|data_dir = \"$work/data\"|" deploy/examples/demo.toml > "$work/demo.toml"

: > "$work/first"; : > "$work/rss"
for _ in $(seq "$runs"); do
  RUST_LOG=info "$bin" run -c "$work/demo.toml" 2> "$work/log" & pid=$!
  sleep 10
  awk '/VmRSS/ {print $2/1024}' "/proc/$pid/status" >> "$work/rss"
  kill -TERM "$pid"; wait "$pid" || true
  grep -o 'elapsed_ms=[0-9.]*' "$work/log" | head -1 | cut -d= -f2 >> "$work/first"
done
echo "idle RSS after 10 s on demo.toml (MiB, median of $runs): $(median < "$work/rss")"
echo "start to first sample (ms, median of $runs): $(median < "$work/first")"

"${GEN:-target/release/examples/gen_config}" 100 100 > "$work/big.toml"
: > "$work/check"
for _ in $(seq "$runs"); do
  s=$(date +%s%N); "$bin" check -c "$work/big.toml" > /dev/null; e=$(date +%s%N)
  echo "scale=3; ($e - $s) / 1000000" | bc >> "$work/check"
done
echo "check on 100 devices x 100 tags (ms, median of $runs, whole process): $(median < "$work/check")"
