#!/usr/bin/env bash
# A private PostgreSQL server for the test suite, on loopback only.
#   postgres.sh start DIR [PORT]   install Debian's postgresql if missing, initdb DIR, start it
#   postgres.sh stop DIR           stop the server started in DIR (by its pid file) and delete DIR
# Prints the server URL (postgresql://smchub@127.0.0.1:PORT/) on start.
set -euo pipefail

cmd=${1:?start|stop}
dir=${2:?data folder}
port=${3:-55432}

bindir() {
    local d
    for d in /usr/lib/postgresql/*/bin; do
        [ -x "$d/pg_ctl" ] && { echo "$d"; return; }
    done
    return 1
}

as_postgres() {
    # PostgreSQL refuses to run as root: run its tools as the postgres account
    if [ "$(id -u)" = 0 ]; then runuser -u postgres -- "$@"; else "$@"; fi
}

case "$cmd" in
start)
    if ! bindir >/dev/null; then
        echo "Installing Debian's postgresql" >&2
        apt-get update -qq
        DEBIAN_FRONTEND=noninteractive apt-get install -y -qq postgresql >/dev/null
    fi
    bin=$(bindir)
    mkdir -p "$dir"
    [ "$(id -u)" = 0 ] && chown postgres: "$dir"
    if [ ! -f "$dir/PG_VERSION" ]; then
        as_postgres "$bin/initdb" -D "$dir" -U smchub --auth=trust -E UTF8 >"$dir.initdb.log" 2>&1 \
            || { cat "$dir.initdb.log" >&2; exit 1; }
    fi
    as_postgres "$bin/pg_ctl" -D "$dir" -l "$dir/server.log" -w -t 60 \
        -o "-c listen_addresses=127.0.0.1 -p $port -k $dir -c fsync=off -c max_connections=300" start >/dev/null
    echo "postgresql://smchub@127.0.0.1:$port/"
    ;;
stop)
    bin=$(bindir)
    if [ -f "$dir/postmaster.pid" ]; then
        as_postgres "$bin/pg_ctl" -D "$dir" -m fast -w stop >/dev/null || true
    fi
    rm -rf "$dir" "$dir.initdb.log"
    ;;
*)
    echo "usage: $0 start|stop DIR [PORT]" >&2
    exit 2
    ;;
esac
