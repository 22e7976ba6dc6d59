#!/usr/bin/env bash
# OPC UA at scale: ITEMS monitored items (default 10 000) in one subscription at a 100 ms publishing
# interval, served by asyncua (hil-tests/opcua_server.py --many, every node rewritten as fast as the
# Python server manages, at most every 100 ms). Prints, per run, the agent's CPU and RSS and the samples
# it received per second, then the medians; and the time from a server restart (the new server
# listening) to data flowing again.
#   benches/opcua.sh        ITEMS=10000 SECS=30 RUNS=3 (needs hil-tests/.venv: run hil-tests/run.sh once)
# BIN=path runs that binary instead of building this checkout's release build.
set -euo pipefail
cd "$(dirname "$0")/.."
items=${ITEMS:-10000}; secs=${SECS:-30}; runs=${RUNS:-3}
python=${EDGE_TEST_PYTHON:-hil-tests/.venv/bin/python}
if [ -z "${BIN:-}" ]; then cargo build --release -q -p edge-agent --bin edge-agent; fi
bin=${BIN:-$PWD/target/release/edge-agent}
work=$(mktemp -d)
free_port() { python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])'; }
port=$(free_port); api=$(free_port)
sim=""; agent=""; feeder=""
trap 'kill $sim $agent $feeder 2>/dev/null; wait 2>/dev/null; rm -rf "$work"' EXIT

start_server() {
  mkfifo "$work/in.$1"
  sleep infinity > "$work/in.$1" & feeder=$!
  "$python" hil-tests/opcua_server.py --port "$port" --many "$items" --period 0.1 < "$work/in.$1" > "$work/server.out" 2>> "$work/server.log" &
  sim=$!
  wait_for 300 "opcua_server.py listening" server_ready
}
server_ready() { grep -q ready "$work/server.out" 2>/dev/null; }

# wait_for SECS WHAT CMD..: polls CMD every 0.1 s; after SECS, says what did not happen and shows the logs.
wait_for() {
  local deadline=$(($(date +%s) + $1)) what=$2; shift 2
  until "$@"; do
    if [ "$(date +%s)" -ge "$deadline" ]; then
      echo "not within the wait: $what" >&2; tail -5 "$work/server.log" "$work/agent.log" >&2 2>/dev/null; exit 1
    fi
    sleep 0.1
  done
}

{
  printf '[agent]\ndata_dir = "%s/data"\n[api]\nlisten = "127.0.0.1:%s"\n' "$work" "$api"
  printf '[[opcua.link]]\nname = "bench"\nendpoint = "opc.tcp://127.0.0.1:%s/"\ntimeout = "10s"\nreconnect_max = "2s"\n' "$port"
  printf '[[opcua.link.device]]\nname = "many"\npublishing_interval = "100ms"\nretry = "60s"\ntags = [\n'
  for i in $(seq 0 $((items - 1))); do printf '  { name = "many.v%d", node = "ns=2;s=v%d" },\n' "$i" "$i"; done
  printf ']\n'
} > "$work/agent.toml"

metric() { curl -s "127.0.0.1:$api/metrics" | awk -v m="$1" 'index($1, m) == 1 {s += $2} END {print s + 0}'; }
cpu_ticks() { awk '{print $14 + $15}' "/proc/$1/stat"; }
median() { sort -n | awk '{a[NR] = $1} END {print a[int((NR + 1) / 2)]}'; }
hz=$(getconf CLK_TCK)
all_flowing() { [ "$(metric edge_device_up)" = 1 ] && [ "$(metric edge_device_samples_total)" -ge "$items" ]; }
device_down() { [ "$(metric edge_device_up)" = 0 ]; }
flowing_since() { [ "$(metric edge_device_up)" = 1 ] && [ "$(metric edge_device_samples_total)" -gt "$1" ]; }

start_server 0
for run in $(seq 1 "$runs"); do
  "$bin" run -c "$work/agent.toml" 2> "$work/agent.log" & agent=$!
  wait_for 300 "all $items items subscribed and sampled" all_flowing
  sleep 5
  c0=$(cpu_ticks $agent); t0=$(date +%s.%N); s0=$(metric edge_device_samples_total)
  sleep "$secs"
  c1=$(cpu_ticks $agent); t1=$(date +%s.%N); s1=$(metric edge_device_samples_total)
  cpu=$(echo "scale=2; 100 * ($c1 - $c0) / $hz / ($t1 - $t0)" | bc)
  rss=$(awk '/VmRSS/ {print $2/1024}' /proc/$agent/status)
  rate=$(echo "scale=0; ($s1 - $s0) / ($t1 - $t0)" | bc)
  echo "run $run: agent CPU $cpu% of one core, RSS $rss MiB, $rate samples/s received"
  echo "$cpu" >> "$work/cpu"; echo "$rss" >> "$work/rss"; echo "$rate" >> "$work/rate"
  if [ "$run" -lt "$runs" ]; then kill $agent; wait $agent 2>/dev/null || true; rm -rf "$work/data"; fi
done
echo "median of $runs runs, $items items at 100 ms: CPU $(median < "$work/cpu")% of one core, RSS $(median < "$work/rss") MiB, $(median < "$work/rate") samples/s"

# Restart: kill the server, start it again on the same port, time from its `ready` to samples flowing.
for r in $(seq 1 "$runs"); do
  kill $sim $feeder; wait $sim 2>/dev/null || true; rm -f "$work/server.out"
  wait_for 60 "the device down after the server stopped" device_down
  start_server "r$r"
  t0=$(date +%s.%N); s0=$(metric edge_device_samples_total)
  wait_for 120 "samples flowing again after the restart" flowing_since "$s0"
  t1=$(date +%s.%N)
  took=$(echo "scale=2; $t1 - $t0" | bc)
  echo "restart $r: data flowing again $took s after the server listened"
  echo "$took" >> "$work/restart"
done
echo "median restart to data flowing: $(median < "$work/restart") s (reconnect backoff capped at 2 s)"
