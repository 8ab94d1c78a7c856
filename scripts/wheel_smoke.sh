#!/usr/bin/env bash
# A real install: build the wheel, install it in a fresh virtualenv, and run the core flow from a
# directory outside the repository on the embedded default: db upgrade, user add, and task send --wait
# with a worker started from that virtualenv. Every step is bounded; everything lives in one temp dir.
# Usage: scripts/wheel_smoke.sh   (PYTHON picks the interpreter for the virtualenv, default python3)
set -euo pipefail
repo=$(cd "$(dirname "$0")/.." && pwd)
python=${PYTHON:-python3}
work=$(mktemp -d "${TMPDIR:-/tmp}/appctl-wheel-smoke.XXXXXX")
worker=""

stop_worker() {
    [ -n "$worker" ] || return 0
    kill -TERM -- "-$worker" 2>/dev/null || true  # the worker's whole process group (pool children too)
    for _ in $(seq 100); do kill -0 -- "-$worker" 2>/dev/null || return 0; sleep 0.1; done
    kill -KILL -- "-$worker" 2>/dev/null || true
}
finish() {
    status=$?
    stop_worker
    if [ $status -ne 0 ] && [ -f "$work/worker.log" ]; then
        echo "wheel smoke failed; the worker's log:" >&2
        tail -n 40 "$work/worker.log" >&2
    fi
    rm -rf "$work"
}
trap finish EXIT
step() { echo "wheel smoke: $*" >&2; }

step "building the wheel"
# From a copy without build output: setuptools would put stale files of an old build/ in the wheel.
mkdir "$work/src"
tar -C "$repo" -cf - --exclude=.git --exclude=.venv --exclude=build --exclude=dist --exclude='*.egg-info' \
    --exclude=__pycache__ --exclude=.data --exclude='.*_cache' --exclude=.hypothesis . | tar -C "$work/src" -xf -
timeout 300 "$python" -m pip wheel --quiet --no-deps --wheel-dir "$work/dist" "$work/src"
step "installing it in a fresh virtualenv"
timeout 120 "$python" -m venv "$work/venv"
timeout 600 "$work/venv/bin/python" -m pip install --quiet "$work"/dist/appctl-*.whl

# From outside the repository, with nothing set but a data directory of its own.
mkdir "$work/elsewhere"
cd "$work/elsewhere"
unset DATABASE_URL CELERY_BROKER_URL CELERY_RESULT_BACKEND FLASK_CONFIG FLASK_APP APPCTL_QUEUE PYTHONPATH
export APPCTL_DATA_DIR="$work/data" APPCTL_DIVIDE_DELAY=0
appctl="$work/venv/bin/appctl"

step "appctl db upgrade"
timeout 120 "$appctl" db upgrade
step "flask db current (Flask-Migrate finds the installed migrations too)"
current=$(FLASK_APP=project timeout 120 "$work/venv/bin/flask" db current 2>/dev/null)
case "$current" in *"(head)"*) ;; *) echo "flask db current said: $current" >&2; exit 1 ;; esac
step "appctl user add"
added=$(timeout 60 "$appctl" user add smoke smoke@example.com)
[ "$added" = "1	smoke	smoke@example.com	true" ] || { echo "user add printed: $added" >&2; exit 1; }

step "appctl worker, then appctl task send divide 1 2 --wait"
setsid "$appctl" worker --loglevel=info --concurrency=1 >"$work/worker.log" 2>&1 &
worker=$!
result=$(timeout 150 "$appctl" task send divide 1 2 --wait --timeout 120)
[ "$result" = "0.5" ] || { echo "task send --wait printed: $result" >&2; exit 1; }
step "ok"
