#!/usr/bin/env bash
# Modbus at plant scale: 100 devices x 100 tags, each device on its own TCP link, scanned every second,
# served by pymodbus (hil-tests/modbus_sim.py) on this machine. Prints the agent's CPU and RSS, requests
# per scan against one request per tag, and the mean planned-scan latency on loopback. With LOOP=1 a PID
# loop runs at 100 Hz on a simulated valve beside the load: its tick lateness (p50, p99, from the
# histogram's buckets).
#   benches/modbus.sh          DEVICES=100 SECS=30 U16=50 LOOP=0 (needs hil-tests/.venv: run hil-tests/run.sh once)
# U16=0 reads the 50 f32 values alone (100 registers a device); BIN=path runs that binary instead of
# building this checkout's (to compare two builds on the same machine, one after the other).
#   ENGINES=1 benches/modbus.sh   the same with the monitoring engines on: 20 alarms (limits, rate, stale,
#                                 bad quality) and 10 derived tags per device, a windowed statistic per
#                                 device, and per 10 devices a machine with OEE and an SPC chart
set -euo pipefail
cd "$(dirname "$0")/.."
devices=${DEVICES:-100}; secs=${SECS:-30}; u16=${U16:-50}; with_loop=${LOOP:-0}
python=${EDGE_TEST_PYTHON:-hil-tests/.venv/bin/python}
if [ -z "${BIN:-}" ]; then cargo build --release -q -p edge-agent --bin edge-agent; fi
bin=${BIN:-$PWD/target/release/edge-agent}
work=$(mktemp -d)
port=$(python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])')

# Each unit: 50 f32 (CDAB) at holding 0..99, then 50 u16 at holding 100..149.
python3 - "$devices" > "$work/map.json" <<'EOF'
import json, sys
n = int(sys.argv[1])
unit = [{"space": "holding", "address": 2 * i, "type": "f32", "order": "CDAB", "value": i + 0.5} for i in range(50)]
unit += [{"space": "holding", "address": 100 + i, "type": "u16", "value": i} for i in range(50)]
print(json.dumps({"units": {str(u): unit for u in range(1, n + 1)}}))
EOF
"$python" hil-tests/modbus_sim.py --map "$work/map.json" --tcp "127.0.0.1:$port" > "$work/sim.log" 2>&1 & sim=$!
trap 'kill $sim 2>/dev/null; kill $agent 2>/dev/null; wait 2>/dev/null; rm -rf "$work"' EXIT
until python3 -c "import socket; socket.create_connection(('127.0.0.1', $port))" 2>/dev/null; do sleep 0.2; done

{
  printf '[agent]\ndata_dir = "%s/data"\n[api]\nlisten = "127.0.0.1:19198"\n' "$work"
  [ "$with_loop" = 1 ] && cat <<'TOML'
[[sim.device]]
name = "probe"
scan = "10ms"
tags = [
  { name = "probe.valve", shape = "constant", offset = 40.0, writable = { min = 0.0, max = 100.0 } },
  { name = "probe.temp", shape = "fopdt", input = "probe.valve", gain = 2.0, time_constant = "5s" },
]
[[control.pid]]
name = "probe"
pv = "probe.temp"
output = "probe.valve"
setpoint = 90.0
period = "10ms"
tuning = { gain = 0.5, integral = "5s" }
TOML
  for d in $(seq 1 "$devices"); do
    printf '\n[[modbus.link]]\nname = "link%03d"\naddress = "127.0.0.1:%s"\n' "$d" "$port"
    printf '[[modbus.link.device]]\nname = "dev%03d"\nunit = %d\nscan = "1s"\ntags = [\n' "$d" "$d"
    for i in $(seq 0 49); do printf '  { name = "dev%03d.kw%02d", address = "holding:%d", type = "f32", order = "CDAB" },\n' "$d" "$i" $((2 * i)); done
    for i in $(seq 0 $((u16 - 1))); do printf '  { name = "dev%03d.st%02d", address = "holding:%d" },\n' "$d" "$i" $((100 + i)); done
    printf ']\n'
  done
  if [ "${ENGINES:-0}" = 1 ]; then
    for d in $(seq 1 "$devices"); do
      for i in $(seq 0 19); do
        printf '[[alarm]]\ntag = "dev%03d.kw%02d"\nhigh = 100.0\nhigh_high = 200.0\ndeadband = 1.0\non_delay = "5s"\nrate = { limit = 10.0, per = "1s" }\nstale = "30s"\nbad_quality = true\n' "$d" "$i"
      done
      for i in $(seq 0 9); do
        printf '[[derived]]\ntag = "dev%03d.d%d"\nexpr = "dev%03d.kw%02d * 2 + max(dev%03d.st%02d, 0) / 3"\n' "$d" "$i" "$d" $((20 + i)) "$d" "$i"
      done
      printf '[[statistics]]\ntag = "dev%03d.kw40"\nwindow = "1m"\nslide = "10s"\n' "$d"
      if [ $((d % 10)) = 0 ]; then
        printf '[[equipment]]\nname = "m%03d"\nstates = [{ state = "running", when = "dev%03d.kw41 > 0" }]\ntotal = "dev%03d.st40"\ngood = "dev%03d.st41"\nideal_cycle = "1s"\nshifts = { list = [{ name = "day", start = "06:00", end = "18:00" }] }\n' "$d" "$d" "$d" "$d"
        printf '[[spc]]\ntag = "dev%03d.kw42"\nchart = "individuals"\nbaseline = 20\nlsl = 0.0\nusl = 100.0\n' "$d"
      fi
    done
  fi
} > "$work/agent.toml"

buckets() { curl -s 127.0.0.1:19198/metrics | grep '^edge_loop_jitter_seconds_bucket{loop="probe"' | sed 's/.*le="\([^"]*\)"} /\1 /'; }
# p50 and p99 of the ticks between two bucket snapshots: the first bound holding that share.
quantiles() { paste -d' ' <(echo "$1") <(echo "$2") | awk '{ le[NR] = $1; n[NR] = $4 - $2 }
  function q(f) { for (i = 1; i <= NR; i++) if (n[i] >= f * n[NR]) return le[i] }
  END { printf "p50 <= %ss, p99 <= %ss (%d ticks)\n", q(0.5), q(0.99), n[NR] }'; }
metric() { curl -s 127.0.0.1:19198/metrics | awk -v m="$1" 'index($1, m) == 1 {s += $2} END {print s + 0}'; }
cpu_ticks() { awk '{print $14 + $15}' "/proc/$1/stat"; }

"$bin" run -c "$work/agent.toml" 2> "$work/agent.log" & agent=$!
sleep 10
j0=$(buckets); c0=$(cpu_ticks $agent); t0=$(date +%s.%N); r0=$(metric edge_device_requests_total); n0=$(metric edge_device_scans_total)
s0=$(metric edge_device_scan_duration_seconds_sum); k0=$(metric edge_device_scan_duration_seconds_count)
sleep "$secs"
j1=$(buckets); c1=$(cpu_ticks $agent); t1=$(date +%s.%N); r1=$(metric edge_device_requests_total); n1=$(metric edge_device_scans_total)
s1=$(metric edge_device_scan_duration_seconds_sum); k1=$(metric edge_device_scan_duration_seconds_count)
hz=$(getconf CLK_TCK)
echo "devices: $devices x $((50 + u16)) tags, 1 s scan; devices up: $(metric edge_device_up); engines: $(metric edge_engines)"
echo "agent CPU: $(echo "scale=2; 100 * ($c1 - $c0) / $hz / ($t1 - $t0)" | bc)% of one core; RSS $(awk '/VmRSS/ {print $2/1024}' /proc/$agent/status) MiB"
echo "requests per scan: $(echo "scale=2; ($r1 - $r0) / ($n1 - $n0)" | bc) (one request per tag would be 100)"
echo "planned scan latency on loopback (mean): $(echo "scale=3; 1000 * ($s1 - $s0) / ($k1 - $k0)" | bc) ms"
echo "scans per second: $(echo "scale=1; ($n1 - $n0) / ($t1 - $t0)" | bc)"
if [ "$with_loop" = 1 ]; then
  echo "PID loop at 100 Hz, tick lateness: $(quantiles "$j0" "$j1")"
  echo "loop deadlines missed: $(metric 'edge_loop_deadlines_missed_total{loop="probe"}')"
fi
