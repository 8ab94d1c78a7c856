#!/usr/bin/env bash
# Schema and models agree: after `appctl db upgrade`, the chapter's `FLASK_APP=app.py flask db check`
# finds no new operations, on SQLite (a temp data directory) and on PostgreSQL (a fresh schema in the
# database at $1 or TEST_DATABASE_URL, dropped afterwards; skipped when neither is set).
# Runs in the repository with its virtualenv (`make install`).
set -euo pipefail
cd "$(dirname "$0")/.."
venv=${VENV:-.venv}
pg_base=${1:-${TEST_DATABASE_URL:-}}
work=$(mktemp -d "${TMPDIR:-/tmp}/appctl-schema-check.XXXXXX")
schema="appctl_schema_check_$$_$RANDOM"
pg_ready=""

psql_exec() {  # run one SQL statement on the base PostgreSQL database
    timeout 60 "$venv/bin/python" -c 'import sys, psycopg
with psycopg.connect(sys.argv[1], autocommit=True, connect_timeout=10) as c:
    c.execute(sys.argv[2])' "$pg_base" "$1"
}
finish() {
    [ -z "$pg_ready" ] || psql_exec "DROP SCHEMA IF EXISTS \"$schema\" CASCADE" || true
    rm -rf "$work"
}
trap finish EXIT

unset DATABASE_URL CELERY_BROKER_URL CELERY_RESULT_BACKEND FLASK_CONFIG APPCTL_QUEUE
export APPCTL_DATA_DIR="$work/data"
failed=0
check() {  # check NAME: upgrade, then flask db check, on the DATABASE_URL in the environment
    echo "schema check on $1: appctl db upgrade, then flask db check" >&2
    if timeout 120 "$venv/bin/appctl" db upgrade && FLASK_APP=app.py timeout 120 "$venv/bin/flask" db check; then
        echo "schema check on $1: ok" >&2
    else
        echo "schema check on $1: FAILED" >&2
        failed=1
    fi
}

check SQLite
if [ -n "$pg_base" ]; then
    psql_exec "CREATE SCHEMA \"$schema\""
    pg_ready=1
    case "$pg_base" in *\?*) sep='&' ;; *) sep='?' ;; esac
    DATABASE_URL="${pg_base}${sep}options=-csearch_path%3D${schema}" check PostgreSQL
else
    echo "schema check on PostgreSQL: skipped (no URL given and TEST_DATABASE_URL unset)" >&2
fi
exit $failed
