#!/usr/bin/env bash
# Runs every test of the workspace, as CI does. Installs what the tests need when it is missing
# (idempotent), so it works on a fresh machine:
#   hil-tests/run.sh
# Peers the tests start themselves listen on 127.0.0.1 only and are stopped when the tests end.
set -euo pipefail
cd "$(dirname "$0")/.."
root=$(pwd)

step() { printf '\n== %s\n' "$*"; }

# Debian packages the tests need; listed here so a fresh machine gets them.
# victoria-metrics, influxdb: real historians the uplink tests write to; openssl makes their test certificates
# (edge-agent/tests/support/historians.rs); mosquitto is the MQTT broker of the MQTT driver and uplink
# tests (hil-tests/src/mosquitto.rs); socat makes the serial pty pairs of the Modbus RTU tests.
# chromium is the real browser the web console is tested in (edge-agent/tests/console.rs).
apt_packages=(victoria-metrics influxdb openssl socat util-linux mosquitto mosquitto-clients chromium)
# Deployment (edge-agent/tests/deploy_*.rs, deploy/smoke-aarch64.sh): openssh-server is the gateway sshd of the
# push-config tests, systemd's systemd-analyze rates the unit's hardening, curl is what push-config runs on the
# gateway, qemu-user and Debian's arm64 cross gcc build and run the aarch64 agent.
apt_packages+=(openssh-server systemd curl file qemu-user gcc-aarch64-linux-gnu libc6-dev-arm64-cross)
missing=()
for p in "${apt_packages[@]}"; do dpkg -s "$p" >/dev/null 2>&1 || missing+=("$p"); done
if [ ${#missing[@]} -gt 0 ]; then
  step "installing ${missing[*]}"
  sudo_cmd=""; [ "$(id -u)" -ne 0 ] && sudo_cmd="sudo"
  $sudo_cmd apt-get update -qq
  DEBIAN_FRONTEND=noninteractive $sudo_cmd apt-get install -y -qq "${missing[@]}"
fi

# pymodbus, an independent Modbus implementation the driver is tested against, and numpy, which the
# vibration features are checked against, and asyncua, the OPC UA server the opcua driver is tested
# against (hil-tests/opcua_server.py), in a venv of their own.
# Pinned: 3.9 renamed the server context classes hil-tests/modbus_sim.py uses.
venv="$root/hil-tests/.venv"
if ! "$venv/bin/python" -c 'import pymodbus, serial, numpy; assert pymodbus.__version__ == "3.8.6"; assert numpy.__version__ == "2.2.6"; import asyncua' 2>/dev/null; then
  step "installing pymodbus and numpy into $venv"
  python3 -m venv "$venv"
  "$venv/bin/pip" install -q pymodbus==3.8.6 pyserial==3.5 numpy==2.2.6 asyncua==2.1.0
fi
export EDGE_TEST_PYTHON="$venv/bin/python"

# Eclipse Tahu's JavaScript Sparkplug B decoder (npm sparkplug-payload, pinned in package-lock.json), an
# implementation independent of the agent's that the Sparkplug tests cross-check payloads with.
decoder="$root/hil-tests/sparkplug-decoder"
if [ ! -d "$decoder/node_modules/sparkplug-payload" ]; then
  step "installing the Sparkplug decoder into $decoder"
  (cd "$decoder" && npm ci --no-audit --no-fund)
fi

# playwright-core (npm, pinned in package-lock.json) drives chromium headless for the console test; it
# downloads no browser of its own.
console_tests="$root/hil-tests/console-tests"
if [ ! -d "$console_tests/node_modules/playwright-core" ]; then
  step "installing playwright-core into $console_tests"
  (cd "$console_tests" && npm ci --no-audit --no-fund)
fi

step "format"
cargo fmt --all -- --check

step "lint (warnings are errors)"
cargo clippy --workspace --all-targets --locked -- -D warnings

step "no_std: protocols without std, and the firmware"
cargo build --locked -p protocols --no-default-features
cargo build --locked -p firmware
rustup target add thumbv7em-none-eabihf
cargo build --locked -p firmware --target thumbv7em-none-eabihf
firmware/size.sh

step "GPIO driver for the Raspberry Pi (aarch64)"
rustup target add aarch64-unknown-linux-gnu
cargo check --locked --target aarch64-unknown-linux-gnu -p drivers --features rpi-gpio

step "tests"
if cargo nextest --version >/dev/null 2>&1; then
  cargo nextest run --workspace --locked --no-fail-fast
  cargo test --workspace --locked --doc
else
  cargo test --workspace --locked --no-fail-fast
fi

step "ring under the loom model checker"
# --cfg loom on the edge-agent crate only: tokio drops tokio::net under it, which axum needs.
# A step that runs no model would pass without checking anything: count them.
# The default target dir: the release-built dependencies are the benchmarks build's too (the bench profile
# has the release settings), while the wrapper keeps the workspace crates' artifacts apart.
loom_log=$(mktemp)
RUSTC_WORKSPACE_WRAPPER="$root/edge-agent/src/ring/loom-rustc.sh" \
  cargo test --locked --release -p edge-agent --lib ring:: 2>&1 | tee "$loom_log"
models=$(grep -o 'test result: ok\. [0-9]* passed' "$loom_log" | awk '{s += $4} END {print s + 0}')
rm -f "$loom_log"
expected_models=$(grep -c '#\[test\]' edge-agent/src/ring/tests_loom.rs)
if [ "$models" -lt "$expected_models" ] || [ "$models" -eq 0 ]; then
  echo "loom: $models model(s) ran of the $expected_models in edge-agent/src/ring/tests_loom.rs" >&2
  exit 1
fi
echo "loom: $models models checked"

step "aarch64: cross build (dev profile: the LTO dist build is deploy/build-deb.sh) and smoke test under qemu-user"
rustup target list --installed | grep -qx aarch64-unknown-linux-gnu || rustup target add aarch64-unknown-linux-gnu
CARGO_TARGET_AARCH64_UNKNOWN_LINUX_GNU_LINKER=aarch64-linux-gnu-gcc CC_aarch64_unknown_linux_gnu=aarch64-linux-gnu-gcc \
  cargo build --locked -p edge-agent --bin edge-agent --target aarch64-unknown-linux-gnu
deploy/smoke-aarch64.sh target/aarch64-unknown-linux-gnu/debug/edge-agent

step "benchmarks build"
cargo bench --workspace --locked --no-run

echo
echo "all tests passed"
