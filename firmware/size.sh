#!/usr/bin/env bash
# Flash and RAM of the firmware's library part on a Cortex-M4F (thumbv7em-none-eabihf), in release:
# examples/size_probe.rs (a scan, the pulse input and the RTU slave over stand-in peripherals) linked with
# size-probe.ld, which keeps only what the probe's loop reaches. Flash = .text + .rodata + .data,
# static RAM = .data + .bss; the node's state lives on the loop's stack (the probe prints no figure for it:
# `cargo test -p firmware the_node_and_slave -- --nocapture` prints its size on the host).
#   firmware/size.sh
set -euo pipefail
cd "$(dirname "$0")/.."
rustup target add thumbv7em-none-eabihf >/dev/null 2>&1 || true
RUSTFLAGS="-C link-arg=-Tfirmware/size-probe.ld" \
  cargo build --locked -q -p firmware --release --example size_probe --features size-probe --target thumbv7em-none-eabihf
bin=target/thumbv7em-none-eabihf/release/examples/size_probe
size_of() { llvm-size -A "$bin" | awk -v s="$1" '$1 == s {print $2}'; }
text=$(size_of .text); rodata=$(size_of .rodata); data=$(size_of .data); bss=$(size_of .bss)
flash=$((text + rodata + ${data:-0}))
echo "flash: $flash bytes (.text $text, .rodata $rodata, .data ${data:-0}); static RAM: $((${data:-0} + ${bss:-0})) bytes"
# The library part's budget (issue 17): 32 KB of flash.
[ "$flash" -le 32768 ] || { echo "flash over the 32 KB budget" >&2; exit 1; }
