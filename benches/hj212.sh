#!/usr/bin/env bash
# The agent's CPU and RSS with STACKS simulated stacks ([[sim.device]], analysers scanned every second),
# each a [[cems]] with real-time records every 30 s and minute records every minute, all reported by one
# hj212 uplink to hil-tests/hj212_platform.py (which checks every frame's length and CRC). Medians of
# RUNS windows of SECS seconds each, after a warm-up; the platform simulator's own CPU is not counted.
#   benches/hj212.sh              STACKS=50 SECS=60 RUNS=3 (BIN=path: a built agent, no build)
set -euo pipefail
cd "$(dirname "$0")/.."
stacks=${STACKS:-50}; secs=${SECS:-60}; runs=${RUNS:-3}
if [ -z "${BIN:-}" ]; then cargo build --release -q -p edge-agent --bin edge-agent; fi
bin=${BIN:-$PWD/target/release/edge-agent}
python=${EDGE_TEST_PYTHON:-python3}
work=$(mktemp -d)
agent=; platform=
trap 'kill $agent $platform 2>/dev/null; wait 2>/dev/null; rm -rf "$work"' EXIT
hz=$(getconf CLK_TCK)
port=$("$python" -c 'import socket; s = socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])')

{
  echo "[agent]"; echo "site = \"华东一厂\""; echo "gateway = \"三号网关\""; echo "data_dir = \"$work/data\""
  echo "[api]"; echo "listen = \"127.0.0.1:0\""
  for s in $(seq 1 "$stacks"); do
    st="锅炉$s"
    printf '[[sim.device]]\nname = "%s"\nscan = "1s"\nseed = %s\ntags = [\n' "$st" "$s"
    printf '  { name = "%s.SO2", shape = "noise", offset = 12.0, amplitude = 1.0 },\n' "$st"
    printf '  { name = "%s.NO", shape = "noise", offset = 20.0, amplitude = 2.0 },\n' "$st"
    printf '  { name = "%s.烟尘", shape = "noise", offset = 3.0, amplitude = 0.3 },\n' "$st"
    printf '  { name = "%s.氧量", shape = "noise", offset = 8.0, amplitude = 0.2 },\n' "$st"
    printf '  { name = "%s.湿度", shape = "noise", offset = 9.0, amplitude = 0.2 },\n' "$st"
    printf '  { name = "%s.烟温", shape = "noise", offset = 120.0, amplitude = 1.0 },\n' "$st"
    printf '  { name = "%s.流速", shape = "noise", offset = 12.0, amplitude = 0.5 },\n' "$st"
    printf ']\n'
    printf '[[cems]]\nstack = "%s"\no2 = "%s.氧量"\no2_reference = 6.0\nmoisture = "%s.湿度"\n' "$st" "$st" "$st"
    printf 'temperature = "%s.烟温"\nvelocity = "%s.流速"\narea = 12.5\nrealtime = "30s"\npollutants = [\n' "$st" "$st"
    printf '  { name = "so2", code = "a21026", tag = "%s.SO2", unit = "ppm", molar_mass = 64.06, limit = 35.0 },\n' "$st"
    printf '  { name = "nox", code = "a21002", tag = "%s.NO", unit = "ppm", molar_mass = 46.01, limit = 50.0 },\n' "$st"
    printf '  { name = "dust", code = "a34013", tag = "%s.烟尘", actual = true, wet = true, limit = 5.0 },\n]\n' "$st"
  done
  printf '[[uplink]]\nname = "province"\ntype = "hj212"\naddress = "127.0.0.1:%s"\npassword = "123456"\nstations = [\n' "$port"
  for s in $(seq 1 "$stacks"); do printf '  { stack = "锅炉%s", mn = "MN%04d" },\n' "$s" "$s"; done
  echo "]"
} > "$work/agent.toml"
"$bin" check -c "$work/agent.toml" > /dev/null

"$python" hil-tests/hj212_platform.py --port "$port" --log "$work/seen.jsonl" > "$work/platform.out" & platform=$!
"$bin" run -c "$work/agent.toml" 2> "$work/agent.log" & agent=$!
sleep 70 # every stack has closed a minute and sent its first records

cpu() { awk '{print $14 + $15}' "/proc/$1/stat"; }
count() { grep -c "\"CN\": \"$1\"" "$work/seen.jsonl" || true; }
results=(); rsses=()
for _ in $(seq "$runs"); do
  c0=$(cpu $agent); t0=$(date +%s.%N); r0=$(count 2011); m0=$(count 2051)
  sleep "$secs"
  c1=$(cpu $agent); t1=$(date +%s.%N); r1=$(count 2011); m1=$(count 2051)
  results+=("$(echo "scale=2; 100 * ($c1 - $c0) / $hz / ($t1 - $t0)" | bc)")
  rsses+=("$(awk '/VmRSS/ {printf "%.1f", $2/1024}' /proc/$agent/status)")
  echo "  window: $((r1 - r0)) real-time and $((m1 - m0)) minute uploads arrived"
done
bad=$(grep -c '"crc_ok": false\|"len_ok": false' "$work/seen.jsonl" || true)
median() { printf '%s\n' "$@" | sort -n | awk '{a[NR]=$1} END {print a[int((NR + 1) / 2)]}'; }
echo "$stacks stacks, real-time every 30s and minutes every 1m to one platform: CPU $(median "${results[@]}")% of one core (runs: ${results[*]}), RSS $(median "${rsses[@]}") MiB (runs: ${rsses[*]}); frames failing the platform's length/CRC check: $bad"
