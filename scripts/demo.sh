#!/usr/bin/env bash
# The whole flow on the embedded default: migrate, start a worker, add and list users, run divide(1, 2).
set -euo pipefail
APPCTL=${APPCTL:-appctl}
log=$(mktemp -t appctl-worker.XXXXXX)

"$APPCTL" db upgrade
"$APPCTL" worker --loglevel=warning --concurrency=1 >"$log" 2>&1 &
worker=$!
stop_worker() {
    kill -TERM "$worker" 2>/dev/null || true
    wait "$worker" 2>/dev/null || true
}
trap 'status=$?; stop_worker; [ $status -eq 0 ] || cat "$log" >&2; rm -f "$log"' EXIT

"$APPCTL" user add demo demo@example.com --if-not-exists
"$APPCTL" user list
id=$("$APPCTL" task send divide 1 2)
echo "Sent divide(1, 2) as $id; waiting for the worker..." >&2
"$APPCTL" result wait "$id" --timeout 60
