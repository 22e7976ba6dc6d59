#!/usr/bin/env bash
# What the web console costs the agent: CPU and RSS on the 10k-tag plant (100 devices x 100 tags, 1 s
# scan) with no page open, then with PAGES pages open in headless chromium (each on its own live stream:
# overview, tags, alarms, loops, tags), and each page's load time on loopback. The console's assets'
# size is printed too. Needs chromium and `npm ci` in hil-tests/console-tests (hil-tests/run.sh).
#   benches/console.sh             DEVICES=100 TAGS=100 SECS=30 PAGES=5
set -euo pipefail
cd "$(dirname "$0")/.."
devices=${DEVICES:-100}; tags=${TAGS:-100}; secs=${SECS:-30}; pages=${PAGES:-5}
if [ -z "${BIN:-}" ]; then cargo build --release -q -p edge-agent --bin edge-agent --example gen_config; fi
bin=${BIN:-$PWD/target/release/edge-agent}
work=$(mktemp -d)
agent=""
trap '[ -n "$agent" ] && kill $agent 2>/dev/null; rm -rf "$work"' EXIT
"${GEN:-target/release/examples/gen_config}" "$devices" "$tags" \
  | sed "s|data_dir = \"./data\"|data_dir = \"$work/data\"|; s|listen = \"127.0.0.1:0\"|listen = \"127.0.0.1:19198\"|" \
  > "$work/agent.toml"

cpu_ticks() { awk '{print $14 + $15}' "/proc/$1/stat"; }
rss() { awk '/VmRSS/ {print $2/1024}' "/proc/$1/status"; }
hz=$(getconf CLK_TCK)
window() { # prints "CPU% RSS" of the agent over $secs
  local c0 t0 c1 t1
  c0=$(cpu_ticks $agent); t0=$(date +%s.%N); sleep "$secs"; c1=$(cpu_ticks $agent); t1=$(date +%s.%N)
  echo "$(echo "scale=1; 100 * ($c1 - $c0) / $hz / ($t1 - $t0)" | bc) $(rss $agent)"
}

assets=$(cat edge-agent/src/http/console/{index.html,app.js,i18n.js,app.css,favicon.svg} | wc -c)
gz=$(cat edge-agent/src/http/console/{index.html,app.js,i18n.js,app.css,favicon.svg} | gzip -9 | wc -c)
echo "console assets: $assets bytes ($gz gzipped), budget 204800"

"$bin" run -c "$work/agent.toml" 2> "$work/agent.log" & agent=$!
until grep -q "first sample acquired" "$work/agent.log"; do sleep 0.1; done
sleep 10
read -r cpu0 rss0 < <(window)
echo "no page open: agent CPU ${cpu0}% of one core, RSS ${rss0} MiB"

AGENT_URL=http://127.0.0.1:19198 PAGES=$pages HOLD_S=$((secs + 15)) node hil-tests/console-tests/pages.js \
  > "$work/pages.log" 2>&1 & browser=$!
until grep -q "^open" "$work/pages.log"; do
  kill -0 $browser 2>/dev/null || { cat "$work/pages.log"; exit 1; }
  sleep 0.2
done
grep "load to live data" "$work/pages.log"
sleep 5
read -r cpu1 rss1 < <(window)
sent=$(curl -s 127.0.0.1:19198/metrics | awk '$1 == "edge_console_sent_bytes_total" {print $2}')
echo "$pages pages open: agent CPU ${cpu1}% of one core, RSS ${rss1} MiB"
echo "extra: CPU $(echo "$cpu1 - $cpu0" | bc) points, RSS $(echo "$rss1 - $rss0" | bc) MiB; streamed $sent bytes so far"
wait $browser
