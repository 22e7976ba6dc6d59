#!/usr/bin/env bash
# Push a config to a gateway over SSH: validate it there with the gateway's own binary, install it, reload.
# A config that fails `edge-agent check` is never installed, and the running one stays.
#   deploy/push-config.sh agent.toml engineer@line3-gw01
set -euo pipefail
config=${1:?usage: push-config.sh CONFIG.toml [user@]gateway}
target=${2:?usage: push-config.sh CONFIG.toml [user@]gateway}
remote_tmp=/tmp/edge-agent.$$.toml
scp -q "$config" "$target:$remote_tmp"
ssh "$target" "set -e
  if ! edge-agent check -c $remote_tmp; then rm -f $remote_tmp; exit 2; fi
  sudo install -m 0640 -o root -g edge-agent $remote_tmp /etc/edge-agent/agent.toml
  rm -f $remote_tmp
  sudo systemctl reload edge-agent
  sleep 1
  systemctl --no-pager --lines=5 status edge-agent"
