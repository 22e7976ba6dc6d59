#!/usr/bin/env bash
# The long property run: every property test of a decoder of outside input (Modbus TCP and RTU frames and
# the server side's requests, register values, HJ 212, Sparkplug payloads and topics, MQTT JSON mappings,
# serial lines, OPC UA values and status codes, line protocol, store records, Retry-After headers, the TOML
# config) at CASES cases each (100 000 by default; the normal test run takes 10 000, protocols::testkit::cases),
# in an optimised build. Prints each property's wall time.
#   benches/fuzz-long.sh            CASES=100000
set -euo pipefail
cd "$(dirname "$0")/.."
filter='test(/::fuzz::/) | test(never_panic) | test(/^.*any_/) | test(mistyped) | test(framed_line) | test(round_trip) | test(decod) | test(arbitrary_bytes) | test(arbitrary_words) | test(/codec_never/) | test(extreme_fields)'
PROPTEST_CASES=${CASES:-100000} cargo nextest run --cargo-profile release -p protocols -p drivers -p edge-agent \
  --lib --no-fail-fast -E "($filter) & !test(/^ring::|^sim::|backoff|planner/)"
