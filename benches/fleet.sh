#!/usr/bin/env bash
# A fleet on one machine: AGENTS independent agents, each a gateway of its own (gw01, gw02, ...) with
# DEVICES Modbus devices (one link each, TAGS f32 in CDAB a device, scanned every second), all served by
# one pymodbus process (hil-tests/modbus_sim.py), all writing into one VictoriaMetrics (InfluxDB v2
# write API) and publishing per-scan JSON into one Mosquitto. First one agent alone at the same load,
# then the fleet: per agent CPU % of one core and RSS over the window, their min/median/max and total,
# and what was delivered, counted back out of VictoriaMetrics and by a subscriber, against what each
# agent stored.
#   benches/fleet.sh        AGENTS=20 DEVICES=50 TAGS=10 SECS=30 (needs hil-tests/.venv: run hil-tests/run.sh once)
# BIN=path runs that binary instead of building this checkout's release binary.
set -euo pipefail
cd "$(dirname "$0")/.."
agents=${AGENTS:-20}; devices=${DEVICES:-50}; tags=${TAGS:-10}; secs=${SECS:-30}
python=${EDGE_TEST_PYTHON:-hil-tests/.venv/bin/python}
if [ -z "${BIN:-}" ]; then cargo build --release -q -p edge-agent --bin edge-agent; fi
bin=${BIN:-$PWD/target/release/edge-agent}
work=$(mktemp -d)
free_port() { python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])'; }
pids=()
trap 'kill "${pids[@]}" 2>/dev/null; wait 2>/dev/null; rm -rf "$work"' EXIT
wait_port() { until python3 -c "import socket; socket.create_connection(('127.0.0.1', $1))" 2>/dev/null; do sleep 0.2; done; }

modbus=$(free_port); vm=$(free_port); mqtt=$(free_port)
python3 - "$devices" "$tags" > "$work/map.json" <<'EOF'
import json, sys
n, tags = int(sys.argv[1]), int(sys.argv[2])
unit = [{"space": "holding", "address": 2 * i, "type": "f32", "order": "CDAB", "value": i + 0.5} for i in range(tags)]
print(json.dumps({"units": {str(u): unit for u in range(1, n + 1)}}))
EOF
"$python" hil-tests/modbus_sim.py --map "$work/map.json" --tcp "127.0.0.1:$modbus" > "$work/sim.log" 2>&1 & pids+=($!); sim=$!
# No latency offset and no cache: the count is asked for right after the last write.
victoria-metrics -httpListenAddr=127.0.0.1:$vm -storageDataPath="$work/vm" -retentionPeriod=100y \
  -search.latencyOffset=0s -search.disableCache -loggerLevel=ERROR > "$work/vm.log" 2>&1 & pids+=($!); vmpid=$!
printf 'listener %s 127.0.0.1\nallow_anonymous true\nmax_queued_messages 0\nlog_dest none\n' "$mqtt" > "$work/mosquitto.conf"
mosquitto -c "$work/mosquitto.conf" & pids+=($!); broker=$!
wait_port "$modbus"; wait_port "$vm"; wait_port "$mqtt"

# Agent N: gateway gwNN, its own data dir, API port and MQTT client id (a broker drops an older session
# of the same id, so ids must be unique per gateway).
config() {
  local n=$1 label=$2 gw; gw=$(printf 'gw%02d' "$1")
  printf '[agent]\nsite = "%s"\ngateway = "%s"\ndata_dir = "%s/%s/%s"\n[api]\nlisten = "127.0.0.1:%s"\n' \
    "$label" "$gw" "$work" "$label" "$gw" "$(free_port)"
  printf '\n[[uplink]]\nname = "vm"\ntype = "influxdb_v2"\nurl = "http://127.0.0.1:%s"\norg = "plant"\nbucket = "edge"\ntoken = "fleet"\n' "$vm"
  printf '\n[[uplink]]\nname = "json"\ntype = "mqtt_json"\nurl = "mqtt://127.0.0.1:%s"\nclient_id = "%s-json"\ntopic = "{site}/{gateway}/{device}"\nper = "scan"\n' "$mqtt" "$gw"
  for d in $(seq 1 "$devices"); do
    printf '\n[[modbus.link]]\nname = "link%02d"\naddress = "127.0.0.1:%s"\n' "$d" "$modbus"
    printf '[[modbus.link.device]]\nname = "dev%02d"\nunit = %d\nscan = "1s"\ntags = [\n' "$d" "$d"
    for i in $(seq 0 $((tags - 1))); do printf '  { name = "dev%02d.kw%02d", address = "holding:%d", type = "f32", order = "CDAB" },\n' "$d" "$i" $((2 * i)); done
    printf ']\n'
  done
}
api() { awk -F'"' '/^listen/ {print $2; exit}' "$work/gw$(printf %02d "$1").toml"; }
metric() { curl -s "$(api "$1")/metrics" | awk -v m="$2" '$1 == m {print $2}'; }
cpu_ticks() { awk '{print $14 + $15}' "/proc/$1/stat"; }
rss_mib() { awk '/VmRSS/ {printf "%.1f", $2/1024}' "/proc/$1/status"; }
hz=$(getconf CLK_TCK)
spread() { sort -g | awk '{v[NR] = $1; s += $1} END {printf "min %s, median %s, max %s, total %s", v[1], v[int((NR + 1) / 2)], v[NR], s}'; }
vm_count() {
  curl -s "127.0.0.1:$vm/internal/force_flush" > /dev/null; sleep 1
  curl -s "127.0.0.1:$vm/api/v1/query" --data-urlencode "query=sum(count_over_time({__name__=~\"dev.*_(value|quality)\",site=\"$1\",gateway=\"$2\"}[1d]))" \
    | python3 -c 'import json, sys; r = json.load(sys.stdin)["data"]["result"]; print(r[0]["value"][1] if r else 0)'
}

# One run of agents FIRST..LAST, site LABEL: warm-up, window, then each agent stops
# cleanly once its uplinks are drained, and its delivery is checked.
run() {
  local first=$1 last=$2 label=$3 n
  declare -A agent c0
  mosquitto_sub -p "$mqtt" -q 1 -t "$label/#" -F '%t' > "$work/mqtt-$label.txt" & local sub=$!
  sleep 0.5
  for n in $(seq "$first" "$last"); do
    config "$n" "$label" > "$work/gw$(printf %02d "$n").toml"
    "$bin" run -c "$work/gw$(printf %02d "$n").toml" 2> "$work/gw$(printf %02d "$n").log" & agent[$n]=$!
  done
  for n in $(seq "$first" "$last"); do until curl -sf "$(api "$n")/healthz" > /dev/null; do sleep 0.2; done; done
  sleep 10
  local t0 t1; t0=$(date +%s.%N)
  for n in $(seq "$first" "$last"); do c0[$n]=$(cpu_ticks "${agent[$n]}"); done
  local s0; s0=$(cpu_ticks $sim); local v0; v0=$(cpu_ticks $vmpid); local b0; b0=$(cpu_ticks $broker)
  sleep "$secs"
  t1=$(date +%s.%N)
  : > "$work/cpu-$label"; : > "$work/rss-$label"
  for n in $(seq "$first" "$last"); do
    echo "scale=2; 100 * ($(cpu_ticks "${agent[$n]}") - ${c0[$n]}) / $hz / ($t1 - $t0)" | bc >> "$work/cpu-$label"
    rss_mib "${agent[$n]}" >> "$work/rss-$label"; echo >> "$work/rss-$label"
  done
  local dt; dt=$(echo "$t1 - $t0" | bc)
  echo "== $label: $((last - first + 1)) agent(s) x $devices devices x $tags tags every 1 s, window ${secs} s"
  echo "agent CPU % of one core: $(spread < "$work/cpu-$label")"
  echo "agent RSS MiB:           $(spread < "$work/rss-$label")"
  echo "peers on the same machine, % of one core: pymodbus $(echo "scale=1; 100 * ($(cpu_ticks $sim) - $s0) / $hz / $dt" | bc)," \
    "VictoriaMetrics $(echo "scale=1; 100 * ($(cpu_ticks $vmpid) - $v0) / $hz / $dt" | bc)," \
    "Mosquitto $(echo "scale=1; 100 * ($(cpu_ticks $broker) - $b0) / $hz / $dt" | bc)"
  # Drain, then stop each agent cleanly: its saved positions are what each historian acknowledged.
  local head=0 acked=0 in_vm=0 scans=0 json=0 short=0 gw got
  for n in $(seq "$first" "$last"); do
    until [ "$(metric "$n" 'edge_uplink_backlog_samples{uplink="vm"}')" = 0 ] \
      && [ "$(metric "$n" 'edge_uplink_backlog_samples{uplink="json"}')" = 0 ]; do sleep 0.2; done
  done
  for n in $(seq "$first" "$last"); do head=$((head + $(metric "$n" edge_store_appended_samples_total))); kill -TERM "${agent[$n]}"; done
  for n in $(seq "$first" "$last"); do wait "${agent[$n]}" || true; done
  sleep 2; kill $sub; wait $sub 2>/dev/null || true
  for n in $(seq "$first" "$last"); do
    gw=$(printf 'gw%02d' "$n"); local dir="$work/$label/$gw/store"
    got=$(vm_count "$label" "$gw")
    acked=$((acked + $(cat "$dir/cursors/vm")))
    [ "$got" = "$(cat "$dir/cursors/vm")" ] || { short=$((short + 1)); echo "  $gw: acknowledged $(cat "$dir/cursors/vm"), VictoriaMetrics holds $got"; }
    in_vm=$((in_vm + got)); json=$((json + $(cat "$dir/cursors/json")))
    scans=$((scans + $(grep -c "^$label/$gw/" "$work/mqtt-$label.txt" || true)))
  done
  echo "stored by the agents: $head samples when told to stop; acknowledged by the historian: $acked"
  echo "delivered: VictoriaMetrics holds $in_vm samples of the $acked acknowledged ($short agents differ);" \
    "the subscriber got $scans per-scan messages for the $json samples the MQTT uplinks acknowledged ($((json / tags)) scans)"
}

run 1 1 alone
run 1 "$agents" fleet
