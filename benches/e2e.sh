#!/usr/bin/env bash
# Sustained end to end: simulated devices → ring → store → uplink → VictoriaMetrics (InfluxDB v2 write API),
# all on this machine. Prints the historian-acknowledged rate and the agent's CPU and RSS, over a window
# after a warm-up, and the recovery time after kill -9 with a backlog.
#   benches/e2e.sh                 DEVICES=70 TAGS=100 SCAN=10ms SECS=30 BACKLOG_SECS=20 (700k samples/s offered)
# The uplink runs with the defaults a user gets (gzip on, batches of 5000); the rate printed is what the
# historian acknowledged (edge_uplink_sent_samples_total), never what merely left the agent.
set -euo pipefail
cd "$(dirname "$0")/.."
devices=${DEVICES:-70}; tags=${TAGS:-100}; scan=${SCAN:-10ms}; secs=${SECS:-30}
if [ -z "${BIN:-}" ]; then cargo build --release -q -p edge-agent --bin edge-agent --example gen_config; fi
bin=${BIN:-$PWD/target/release/edge-agent}
work=$(mktemp -d)
port=$(python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])')
victoria-metrics -httpListenAddr=127.0.0.1:$port -storageDataPath="$work/vm" -retentionPeriod=100y \
  -loggerLevel=ERROR > "$work/vm.log" 2>&1 & vm=$!
trap 'kill $vm 2>/dev/null; kill -9 $agent 2>/dev/null; rm -rf "$work"' EXIT
until curl -sf "127.0.0.1:$port/health" > /dev/null; do sleep 0.1; done

"${GEN:-target/release/examples/gen_config}" "$devices" "$tags" \
  | sed "s|scan = \"1s\"|scan = \"$scan\"|; s|data_dir = \"./data\"|data_dir = \"$work/data\"|" > "$work/agent.toml"
cat >> "$work/agent.toml" <<EOF

[store]
max_bytes = "4GiB"

[[uplink]]
name = "vm"
type = "influxdb_v2"
url = "http://127.0.0.1:$port"
org = "plant"
bucket = "edge"
token = "bench"
EOF
sed -i 's|listen = "127.0.0.1:0"|listen = "127.0.0.1:19199"|' "$work/agent.toml"

metric() { curl -s 127.0.0.1:19199/metrics | awk -v m="$1" '$1 == m {print $2}'; }
cpu_ticks() { awk '{print $14 + $15}' "/proc/$1/stat"; }

"$bin" run -c "$work/agent.toml" 2> "$work/agent.log" & agent=$!
sleep 10
s0=$(metric 'edge_uplink_sent_samples_total{uplink="vm"}'); a0=$(metric edge_store_appended_samples_total)
c0=$(cpu_ticks $agent); v0=$(cpu_ticks $vm); t0=$(date +%s.%N)
sleep "$secs"
s1=$(metric 'edge_uplink_sent_samples_total{uplink="vm"}'); a1=$(metric edge_store_appended_samples_total)
c1=$(cpu_ticks $agent); v1=$(cpu_ticks $vm); t1=$(date +%s.%N)
rss=$(awk '/VmRSS/ {print $2/1024}' /proc/$agent/status)
hz=$(getconf CLK_TCK)
echo "offered: $devices devices x $tags tags every $scan"
echo "acquired and stored: $(echo "($a1 - $a0) / ($t1 - $t0)" | bc) samples/s"
echo "acknowledged by the historian: $(echo "($s1 - $s0) / ($t1 - $t0)" | bc) samples/s"
echo "agent CPU: $(echo "scale=1; 100 * ($c1 - $c0) / $hz / ($t1 - $t0)" | bc)% of one core; RSS ${rss} MiB"
echo "historian (VictoriaMetrics) CPU on the same machine: $(echo "scale=1; 100 * ($v1 - $v0) / $hz / ($t1 - $t0)" | bc)% of one core"
echo "backlog at the end: $(metric 'edge_uplink_backlog_samples{uplink="vm"}') samples; refused $(metric 'edge_uplink_refused_samples_total{uplink="vm"}'), unencodable $(metric 'edge_uplink_unencodable_samples_total{uplink="vm"}')"

# Recovery: stop the historian, build a backlog, kill -9, and time the restart to its first scan.
kill -STOP $vm
sleep "${BACKLOG_SECS:-20}"
bytes=$(metric edge_store_disk_bytes)
kill -9 $agent; wait $agent 2>/dev/null || true
kill -CONT $vm
start=$(date +%s%N)
"$bin" run -c "$work/agent.toml" 2> "$work/agent2.log" & agent=$!
until grep -q "first sample acquired" "$work/agent2.log"; do sleep 0.005; done
end=$(date +%s%N)
echo "recovery after kill -9 with $((bytes / 1048576)) MiB in the store: $(( (end - start) / 1000000 )) ms to the first sample"
