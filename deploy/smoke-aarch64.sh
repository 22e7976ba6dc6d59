#!/usr/bin/env bash
# Runs an arm64 edge-agent under qemu-user, as on a gateway: `version`, then `check` and `test` on every
# example config that needs no outside server (the demo plant is simulated devices only).
#   deploy/smoke-aarch64.sh target/aarch64-unknown-linux-gnu/release/edge-agent
set -euo pipefail
cd "$(dirname "$0")/.."
bin=${1:?usage: smoke-aarch64.sh PATH/TO/aarch64/edge-agent}
file "$bin" 2>/dev/null | grep -q 'ARM aarch64' || { echo "$bin is not an aarch64 binary" >&2; exit 1; }
run() { qemu-aarch64 -L /usr/aarch64-linux-gnu "$bin" "$@"; }
scratch=$(mktemp -d)
trap 'rm -rf "$scratch"' EXIT

run version | tee "$scratch/version"
grep -q "aarch64 linux" "$scratch/version"
for config in deploy/examples/*.toml deploy/debian/agent.toml; do
  echo "== check $config"
  run check -c "$config" >/dev/null
done
# `test` scans for real: the demo plant with its data in a scratch dir.
sed "s|^data_dir = .*|data_dir = \"$scratch/data\"|" deploy/examples/demo.toml >"$scratch/demo.toml"
echo "== test deploy/examples/demo.toml"
run test -c "$scratch/demo.toml" --timeout 30s >"$scratch/lines" 2>"$scratch/err" || {
  cat "$scratch/err" >&2; exit 1; }
tail -n1 "$scratch/err"
lines=$(wc -l <"$scratch/lines")
[ "$lines" -gt 0 ] || { echo "edge-agent test printed no line protocol" >&2; exit 1; }
echo "aarch64 smoke test passed: version, check on every example, test printed $lines lines"
