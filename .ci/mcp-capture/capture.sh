#!/usr/bin/env bash
# Captures the talos-mcp test transcripts: real MCP traffic between the Python `mcp` client
# (requirements.txt) and the reference servers (package.json: server-everything and
# server-filesystem, exact versions, installed with `npm ci` into ./node_modules) and
# modern_server.py (a 2026-07-28 server on the SDK's own server API). Every server runs behind
# record.py, which logs each stdio line. Writes crates/talos-mcp/tests/transcripts/*.jsonl.
#
#   .ci/mcp-capture/capture.sh [OUT_DIR]
#
# The venv lives under ${TALOS_CI_CACHE:-~/.cache/talos-ci}/mcp-venv and is reused. Servers are
# started from node_modules paths (never npx). The transcripts differ from run to run only in
# the timestamps of get_file_info and in where late progress notifications fall.
set -euo pipefail

here=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
root=$(cd "$here/../.." && pwd)
out=${1:-$root/crates/talos-mcp/tests/transcripts}
cache=${TALOS_CI_CACHE:-$HOME/.cache/talos-ci}
venv="$cache/mcp-venv"

mkdir -p "$cache"
[ -x "$venv/bin/python" ] || timeout 120 python3 -m venv "$venv"
timeout 600 "$venv/bin/pip" install --quiet --disable-pip-version-check -r "$here/requirements.txt"
(cd "$here" && timeout 600 npm ci --no-audit --no-fund --loglevel=error)

timeout 600 "$venv/bin/python" "$here/capture.py" "$out"
