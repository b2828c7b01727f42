#!/usr/bin/env bash
# `make loadtest`: a short real load test. Starts `ttsd serve` on a free loopback port (the default voices,
# cache off so the model is measured), waits for /readyz, runs `ttsd loadtest` against it, stops the server.
#
#   scripts/loadtest.sh [seconds] [clients]      (defaults: 20 s, 8 clients; TTSD_* settings apply)
set -euo pipefail
cd "$(dirname "$0")/.."
BIN=${BIN:-.venv/bin}
seconds=${1:-20}
clients=${2:-8}
port=$("$BIN/python" -c 'import socket; s = socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])')
mkdir -p artifacts
TTSD_HOST=127.0.0.1 TTSD_PORT=$port TTSD_CACHE_BYTES=0 "$BIN/ttsd" serve >artifacts/loadtest-server.log 2>&1 &
server=$!
trap 'kill "$server" 2>/dev/null; wait "$server" 2>/dev/null || true' EXIT
for _ in $(seq 1 240); do
  if curl -fsS "http://127.0.0.1:$port/readyz" >/dev/null 2>&1; then break; fi
  if ! kill -0 "$server" 2>/dev/null; then echo "the server exited; see artifacts/loadtest-server.log" >&2; exit 1; fi
  sleep 0.5
done
"$BIN/ttsd" loadtest --url "http://127.0.0.1:$port" --concurrency "$clients" --duration "$seconds" \
  --json artifacts/loadtest.json --png artifacts/loadtest.png
