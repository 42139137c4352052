#!/usr/bin/env bash
# Run a command with a private PostgreSQL server for the tests (SMCHUB_TEST_PG_URL),
# stopping and deleting the server afterwards whatever the command does.
set -euo pipefail
here=$(cd "$(dirname "$0")" && pwd)
dir=$(mktemp -d /tmp/smchub-pg.XXXXXX)
chmod 711 "$dir"
trap '"$here/postgres.sh" stop "$dir/data"; rmdir "$dir" 2>/dev/null || true' EXIT
url=$("$here/postgres.sh" start "$dir/data" "${SMCHUB_TEST_PG_PORT:-55432}")
echo "PostgreSQL for the tests at $url"
SMCHUB_TEST_PG_URL=$url "$@"
