#!/usr/bin/env bash
# Installs what agency needs, builds it, and runs the fleet on one machine:
# `agency up` starts an embedded nats-server (JetStream under ./.agency) and
# the roles of agency.yaml (or the built-in default). Ctrl-C stops it all.
set -euo pipefail
cd "$(dirname "$0")/.."
bash scripts/install-deps.sh
cmake --preset release >/dev/null
cmake --build --preset release
exec build/release/bin/agency up "$@"
