#!/usr/bin/env bash
# The agent's CPU with 1000 simulated meters (the sim `counter` shape) read every second: without the
# energy engine, then with one meter in [[energy.meter]] per register (demand, tariff, carbon). Medians
# of RUNS windows of SECS seconds each, after a warm-up; the same machine, the same binary.
#   benches/energy.sh              METERS=1000 SECS=20 RUNS=3 (BIN=path: a built agent, no build)
set -euo pipefail
cd "$(dirname "$0")/.."
meters=${METERS:-1000}; secs=${SECS:-20}; runs=${RUNS:-3}
if [ -z "${BIN:-}" ]; then cargo build --release -q -p edge-agent --bin edge-agent; fi
bin=${BIN:-$PWD/target/release/edge-agent}
work=$(mktemp -d)
trap 'kill -9 $agent 2>/dev/null; rm -rf "$work"' EXIT
hz=$(getconf CLK_TCK)

config() { # $1: with energy (1) or not (0)
  echo "[agent]"; echo "data_dir = \"$work/data-$1\""
  echo "[api]"; echo "listen = \"127.0.0.1:0\""
  for d in $(seq 0 9); do
    echo "[[sim.device]]"; echo "name = \"meters$d\""; echo "scan = \"1s\""; echo "tags = ["
    for i in $(seq 0 $((meters / 10 - 1))); do echo "  { name = \"m$d.$i.kwh\", shape = \"counter\", step = 3 },"; done
    echo "]"
  done
  if [ "$1" = 1 ]; then
    printf '[energy]\ntimezone = "Asia/Shanghai"\n[energy.carbon]\n[energy.tariff]\ndefault = "flat"\n'
    printf 'prices = { peak = 1.0, flat = 0.6, valley = 0.3 }\n'
    printf 'periods = [{ period = "valley", hours = ["23:00-07:00"] }, { period = "peak", hours = ["08:00-11:00"] }]\n'
    for d in $(seq 0 9); do for i in $(seq 0 $((meters / 10 - 1))); do
      printf '[[energy.meter]]\nname = "车间%s.%s"\nenergy = "m%s.%s.kwh"\nrollover = 65535\ndemand = { period = "15m", slip = "1m" }\n' $d $i $d $i
    done; done
  fi
}

cpu() { awk '{print $14 + $15}' "/proc/$1/stat"; }
for with in 0 1; do
  config $with > "$work/agent-$with.toml"
  "$bin" run -c "$work/agent-$with.toml" 2> "$work/agent-$with.log" & agent=$!
  sleep 5
  results=()
  for _ in $(seq "$runs"); do
    c0=$(cpu $agent); t0=$(date +%s.%N); sleep "$secs"; c1=$(cpu $agent); t1=$(date +%s.%N)
    results+=("$(echo "scale=2; 100 * ($c1 - $c0) / $hz / ($t1 - $t0)" | bc)")
  done
  median=$(printf '%s\n' "${results[@]}" | sort -n | awk '{a[NR]=$1} END {print a[int((NR + 1) / 2)]}')
  rss=$(awk '/VmRSS/ {print $2/1024}' /proc/$agent/status)
  label=$([ $with = 1 ] && echo "with the energy engine" || echo "without (baseline)")
  echo "$meters meters every 1s, $label: CPU ${median}% of one core (runs: ${results[*]}), RSS ${rss} MiB"
  kill $agent; wait $agent 2>/dev/null || true
done
