#!/usr/bin/env bash
# Publish throughput to Mosquitto: simulated devices → ring → store → MQTT uplink (Sparkplug B edge node,
# or plain JSON) → Mosquitto, all on this machine, QoS 1 (a message leaves the store at its PUBACK).
# Prints over a window after a warm-up: metrics/s the broker acknowledged (edge_uplink_sent_samples_total),
# messages/s the broker received (its own $SYS count of PUBLISH packets), and the agent's and the
# broker's CPU.
#   benches/mqtt.sh               DEVICES=20 TAGS=100 SCAN=100ms SECS=20 KIND=sparkplug_b (20k metrics/s offered)
#   KIND=mqtt_json benches/mqtt.sh  (one message per sample; PER=scan for one per device scan)
# BIN=path runs that agent binary instead of building one (the config generator is then built in debug).
# Needs mosquitto and mosquitto_sub (Debian mosquitto, mosquitto-clients; hil-tests/run.sh installs both).
set -euo pipefail
cd "$(dirname "$0")/.."
devices=${DEVICES:-20}; tags=${TAGS:-100}; scan=${SCAN:-100ms}; secs=${SECS:-20}; kind=${KIND:-sparkplug_b}
if [ -z "${BIN:-}" ]; then
  cargo build --release -q -p edge-agent --bin edge-agent --example gen_config
  gen=$PWD/target/release/examples/gen_config
else
  cargo build -q -p edge-agent --example gen_config
  gen=$PWD/target/debug/examples/gen_config
fi
bin=${BIN:-$PWD/target/release/edge-agent}
work=$(mktemp -d)
free_port() { python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])'; }
port=$(free_port); api=$(free_port)
# sys_interval 1: the broker's $SYS counters every second, for the message rate.
printf 'user root\nlistener %s 127.0.0.1\nallow_anonymous true\nsys_interval 1\nmax_queued_messages 0\n' "$port" > "$work/mosquitto.conf"
/usr/sbin/mosquitto -c "$work/mosquitto.conf" > "$work/mosquitto.log" 2>&1 & broker=$!
agent=""
trap 'kill $broker 2>/dev/null; [ -n "$agent" ] && kill $agent 2>/dev/null; rm -rf "$work"' EXIT
until (exec 3<>/dev/tcp/127.0.0.1/$port) 2>/dev/null; do sleep 0.1; done

"$gen" "$devices" "$tags" \
  | sed "s|scan = \"1s\"|scan = \"$scan\"|; s|data_dir = \"./data\"|data_dir = \"$work/data\"|; s|listen = \"127.0.0.1:0\"|listen = \"127.0.0.1:$api\"|" \
  > "$work/agent.toml"
if [ "$kind" = sparkplug_b ]; then
  # Report by exception off: every sample is a metric on the wire, so the rate is the uplink's, not the shapes'.
  extra='group_id = "bench"
edge_node = "gw"
report_by_exception = false'
else
  extra="topic = \"bench/{device}/{tag}\"
per = \"${PER:-sample}\""
  [ "${PER:-sample}" = scan ] && extra="topic = \"bench/{device}\"
per = \"scan\""
fi
cat >> "$work/agent.toml" <<EOT

[store]
max_bytes = "2GiB"

[[uplink]]
name = "mqtt"
type = "$kind"
url = "mqtt://127.0.0.1:$port"
$extra
EOT

metric() { curl -s "127.0.0.1:$api/metrics" | awk -v m="$1" '$1 == m {print $2}'; }
published() { mosquitto_sub -p "$port" -C 1 -W 5 -t '$SYS/broker/publish/messages/received'; }
cpu_ticks() { awk '{print $14 + $15}' "/proc/$1/stat"; }

"$bin" run -c "$work/agent.toml" 2> "$work/agent.log" & agent=$!
sleep 10
s0=$(metric 'edge_uplink_sent_samples_total{uplink="mqtt"}'); a0=$(metric edge_store_appended_samples_total)
m0=$(published); c0=$(cpu_ticks $agent); b0=$(cpu_ticks $broker); t0=$(date +%s.%N)
sleep "$secs"
s1=$(metric 'edge_uplink_sent_samples_total{uplink="mqtt"}'); a1=$(metric edge_store_appended_samples_total)
m1=$(published); c1=$(cpu_ticks $agent); b1=$(cpu_ticks $broker); t1=$(date +%s.%N)
hz=$(getconf CLK_TCK)
rate() { echo "($1 - $2) / ($t1 - $t0)" | bc; }
echo "offered: $devices devices x $tags tags every $scan, uplink $kind ${PER:-}"
echo "acquired and stored: $(rate "$a1" "$a0") samples/s"
echo "acknowledged by the broker (PUBACK): $(rate "$s1" "$s0") metrics/s"
echo "messages received by the broker: $(rate "$m1" "$m0") messages/s (\$SYS, 1 s resolution)"
echo "agent CPU: $(echo "scale=1; 100 * ($c1 - $c0) / $hz / ($t1 - $t0)" | bc)% of one core; RSS $(awk '/VmRSS/ {print $2/1024}' /proc/$agent/status) MiB"
echo "broker (mosquitto) CPU on the same machine: $(echo "scale=1; 100 * ($b1 - $b0) / $hz / ($t1 - $t0)" | bc)% of one core"
echo "backlog at the end: $(metric 'edge_uplink_backlog_samples{uplink="mqtt"}') samples"
