#!/usr/bin/env bash
# The side-by-side benchmark: edge-agent and Node-RED on the same workload, one after the other.
#   benches/nodered.sh                 DEVICES=100 WARMUP=20 SECS=60 (needs hil-tests/.venv: hil-tests/run.sh once)
#   DEVICES=200 benches/nodered.sh     the second size; ONLY=agent or ONLY=nodered runs one side; BIN=path
#                                      runs that agent binary instead of building this checkout's; PERF=1
#                                      profiles each side over the window (perf, Debian's linux-perf)
# Workload: DEVICES Modbus TCP devices on 127.0.0.1 (one pymodbus process serving one port a device), each
# with 100 holding registers holding 50 float32 in CDAB word order, polled once a second, decoded and written
# as line protocol to VictoriaMetrics. Node-RED 4 runs node-red-contrib-modbus (benches/nodered/: one
# modbus-client and modbus-read per device, a function node decoding into line protocol, one shared http
# request node). Each side gets a fresh VictoriaMetrics. Printed for each: CPU % of one core over SECS after
# WARMUP, RSS average and peak over that window, samples delivered (counted back out of VictoriaMetrics, by
# their timestamps inside the window) against DEVICES x 50 x SECS, and the poll interval's p50 and p99 (the
# gaps between a series' consecutive timestamps in the historian).
set -euo pipefail
cd "$(dirname "$0")/.."
devices=${DEVICES:-100}; warmup=${WARMUP:-20}; secs=${SECS:-60}; only=${ONLY:-both}
python=${EDGE_TEST_PYTHON:-hil-tests/.venv/bin/python}
if [ "$only" != nodered ] && [ -z "${BIN:-}" ]; then cargo build --release -q -p edge-agent --bin edge-agent; fi
bin=${BIN:-$PWD/target/release/edge-agent}
if [ "$only" != agent ] && [ ! -x benches/nodered/node_modules/.bin/node-red ]; then
  (cd benches/nodered && npm ci --no-audit --no-fund --silent)
fi
work=$(mktemp -d)
free_port() { python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])'; }
# A run of DEVICES free ports: the simulator serves FIRST .. FIRST+DEVICES-1.
first=$(python3 - "$devices" <<'EOF'
import random, socket, sys
n = int(sys.argv[1])
while True:
    first = random.randrange(20000, 60000 - n)
    try:
        socks = []
        for p in range(first, first + n):
            s = socket.socket(); s.bind(("127.0.0.1", p)); socks.append(s)
        print(first); break
    except OSError:
        pass
EOF
)
pids=()
trap 'for p in "${pids[@]}"; do kill -9 "$p" 2>/dev/null; done; wait 2>/dev/null; rm -rf "$work"' EXIT

python3 - > "$work/map.json" <<'EOF'
import json
unit = [{"space": "holding", "address": 2 * i, "type": "f32", "order": "CDAB", "value": i + 0.5} for i in range(50)]
print(json.dumps({"units": {"1": unit}}))
EOF
"$python" hil-tests/modbus_sim.py --map "$work/map.json" --tcp "127.0.0.1:$first" --ports "$devices" \
  > "$work/sim.log" 2>&1 & pids+=($!)
until python3 -c "import socket; socket.create_connection(('127.0.0.1', $((first + devices - 1))))" 2>/dev/null; do sleep 0.2; done

cpu_ticks() { awk '{print $14 + $15}' "/proc/$1/stat"; }
# Voluntary context switches of every thread: each is a thread going to sleep to be woken again.
switches() { cat /proc/"$1"/task/*/status 2>/dev/null | awk '/^voluntary_ctxt_switches/ {s += $2} END {print s + 0}'; }
start_vm() {
  vm_port=$(free_port)
  victoria-metrics -httpListenAddr="127.0.0.1:$vm_port" -storageDataPath="$work/vm-$1" -retentionPeriod=100y \
    -loggerLevel=ERROR > "$work/vm-$1.log" 2>&1 & vm=$!; pids+=($vm)
  until curl -sf "127.0.0.1:$vm_port/health" > /dev/null; do sleep 0.1; done
}

# measure NAME PID: CPU and RSS of PID over the window, then what reached the historian in it.
measure() {
  local name=$1 pid=$2 hz c0 c1 w0 w1 t0 t1 rss_sum=0 rss_n=0 rss_peak=0 rss
  hz=$(getconf CLK_TCK)
  sleep "$warmup"
  c0=$(cpu_ticks "$pid"); w0=$(switches "$pid"); t0=$(date +%s.%N)
  if [ -n "${PERF:-}" ]; then
    perf record -q -e cpu-clock -F 999 -g -p "$pid" -o "$work/perf-$name.data" -- sleep "$secs" > /dev/null 2>&1 &
  fi
  for _ in $(seq 1 "$secs"); do
    sleep 1
    rss=$(awk '/VmRSS/ {print $2}' "/proc/$pid/status")
    rss_sum=$((rss_sum + rss)); rss_n=$((rss_n + 1)); [ "$rss" -gt "$rss_peak" ] && rss_peak=$rss
  done
  c1=$(cpu_ticks "$pid"); w1=$(switches "$pid"); t1=$(date +%s.%N)
  awk '/^(RssAnon|RssFile|VmHWM)/ {printf "%s %.1f MiB  ", $1, $2 / 1024} /^Threads/ {printf "%s %d  ", $1, $2}
       END {print ""}' "/proc/$pid/status" > "$work/rss-$name"
  # Each mapping's resident share, for finding where the memory went (KEEP=dir keeps it).
  cp "/proc/$pid/smaps" "$work/smaps-$name"
  # Let the last second's samples reach the historian before counting the window.
  sleep 5
  curl -sf "127.0.0.1:$vm_port/internal/force_flush" > /dev/null
  curl -sf "127.0.0.1:$vm_port/api/v1/export" --data-urlencode 'match[]={__name__=~".+_value"}' \
    -d "start=$(echo "$t0 - 10" | bc)" -d "end=$(echo "$t1 + 10" | bc)" > "$work/export-$name.jsonl"
  python3 - "$work/export-$name.jsonl" "$t0" "$t1" "$devices" "$secs" <<'EOF' > "$work/delivered-$name"
import json, sys
path, t0, t1, devices, secs = sys.argv[1], float(sys.argv[2]), float(sys.argv[3]), int(sys.argv[4]), int(sys.argv[5])
# Whole seconds of the window: a series polled once a second has one sample in each.
import math
lo, hi = math.ceil(t0) * 1000, math.floor(t1) * 1000
inside, gaps, series = 0, [], 0
for line in open(path):
    ts = sorted(json.loads(line)["timestamps"])
    series += 1
    inside += sum(lo <= t < hi for t in ts)
    gaps += [b - a for a, b in zip(ts, ts[1:]) if lo <= a and b < hi]
gaps.sort()
q = lambda f: gaps[min(len(gaps) - 1, int(f * len(gaps)))] if gaps else 0
print(f"{inside} {devices * 50 * (hi - lo) // 1000} {series} {q(0.5)} {q(0.99)}")
EOF
  read -r got want series p50 p99 < "$work/delivered-$name"
  printf '%s %s %s %s %s %s %s %s %s\n' "$name" \
    "$(echo "scale=2; 100 * ($c1 - $c0) / $hz / ($t1 - $t0)" | bc)" \
    "$(echo "scale=1; $rss_sum / $rss_n / 1024" | bc)" "$(echo "scale=1; $rss_peak / 1024" | bc)" \
    "$got" "$want" "$p50" "$p99" "$(echo "($w1 - $w0) / ($t1 - $t0)" | bc)" >> "$work/results"
}

run_agent() {
  start_vm agent
  {
    printf '[agent]\nsite = "bench"\ngateway = "edge-agent"\ndata_dir = "%s/data"\n' "$work"
    printf '[api]\nlisten = "127.0.0.1:%s"\n' "$(free_port)"
    for d in $(seq 1 "$devices"); do
      printf '\n[[modbus.link]]\nname = "link%03d"\naddress = "127.0.0.1:%s"\n' "$d" $((first + d - 1))
      printf '[[modbus.link.device]]\nname = "dev%03d"\nunit = 1\nscan = "1s"\ntags = [\n' "$d"
      for i in $(seq 0 49); do
        printf '  { name = "dev%03d.kw%02d", address = "holding:%d", type = "f32", order = "CDAB" },\n' "$d" "$i" $((2 * i))
      done
      printf ']\n'
    done
    printf '\n[[uplink]]\nname = "vm"\ntype = "influxdb_v2"\nurl = "http://127.0.0.1:%s"\norg = "plant"\nbucket = "edge"\ntoken = "bench"\n' "$vm_port"
  } > "$work/agent.toml"
  "$bin" run -c "$work/agent.toml" 2> "$work/agent.log" & local agent=$!; pids+=($agent)
  measure edge-agent "$agent"
  kill "$agent"; wait "$agent" 2>/dev/null || true
  kill "$vm"; wait "$vm" 2>/dev/null || true
}

run_nodered() {
  start_vm nodered
  mkdir -p "$work/nodered"
  cp benches/nodered/settings.js "$work/nodered/"
  python3 benches/nodered/flows.py "$devices" "$first" \
    "http://127.0.0.1:$vm_port/api/v2/write?org=plant&bucket=edge&precision=ms" > "$work/nodered/flows.json"
  NODE_RED_PORT=$(free_port) benches/nodered/node_modules/.bin/node-red -u "$work/nodered" \
    -s "$work/nodered/settings.js" > "$work/nodered.log" 2>&1 & local launcher=$!; pids+=($launcher)
  # The launcher script execs node; measure the process that holds the flows.
  local node=$launcher
  sleep 2
  for c in $(pgrep -P "$launcher" || true); do node=$c; done
  pids+=($node)
  measure node-red "$node"
  kill "$node" "$launcher" 2>/dev/null; wait "$launcher" 2>/dev/null || true
  kill "$vm"; wait "$vm" 2>/dev/null || true
}

[ "$only" != nodered ] && run_agent
[ "$only" != agent ] && run_nodered

echo "workload: $devices Modbus TCP devices x 50 float32 (CDAB), polled every 1 s, into VictoriaMetrics;"
echo "window: ${secs} s after ${warmup} s of warm-up; samples counted back out of VictoriaMetrics"
printf '%-11s %7s %12s %13s %21s %17s %8s\n' "" "CPU %" "RSS avg MiB" "RSS peak MiB" "delivered / expected" "poll p50 / p99" "wakes/s"
while read -r name cpu avg peak got want p50 p99 wakes; do
  printf '%-11s %7s %12s %13s %21s %17s %8s\n' "$name" "$cpu" "$avg" "$peak" "$got / $want" "${p50} / ${p99} ms" "$wakes"
done < "$work/results"
for f in "$work"/perf-*.data; do
  [ -f "$f" ] || continue
  echo "profile of ${f##*/perf-} (perf, cpu-clock at 999 Hz, self time, top 12):"
  perf report -i "$f" --no-children --sort sym --stdio 2> /dev/null | grep -E '^ +[0-9.]+%' | head -12
  perf report -i "$f" --stdio 2> /dev/null | grep -m1 '^# Samples'
done
for f in "$work"/rss-*; do echo "${f##*/rss-} at the end: $(cat "$f")"; done
if [ "$only" = both ]; then
  awk 'NR == 1 {c = $2; r = $3} NR == 2 {printf "ratio (Node-RED / edge-agent): CPU %.1fx, RSS %.1fx\n", $2 / c, $3 / r}' "$work/results"
fi
if [ -n "${KEEP:-}" ]; then cp -r "$work" "$KEEP"; fi
