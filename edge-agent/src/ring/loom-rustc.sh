#!/bin/sh
# RUSTC_WORKSPACE_WRAPPER for the ring's loom models: sets `--cfg loom` on the edge-agent crate only.
# A plain RUSTFLAGS="--cfg loom" also reaches tokio, which then drops tokio::net and axum stops compiling.
# Cargo probes the target cfg through this wrapper too (the `--print` call), which is what enables the
# `[target.'cfg(loom)'.dependencies] loom` line of edge-agent/Cargo.toml.
rustc="$1"
shift
case " $* " in
*" --crate-name edge_agent "* | *" --print"*) exec "$rustc" "$@" --cfg loom ;;
*) exec "$rustc" "$@" ;;
esac
