#!/usr/bin/env bash
# A throwaway PostgreSQL for the records tests: Debian's server, a fresh cluster in a temp
# directory, on 127.0.0.1 and a free port, no systemd (CI runs in a container).
#
#   source .ci/postgres.sh; postgres_install; trap postgres_stop EXIT; postgres_start
#       -> exports TEST_POSTGRES_URL=postgresql+psycopg://postgres@127.0.0.1:PORT/chat_test
#   bash .ci/postgres.sh python -m pytest tests/integration/test_records_postgres.py
#       -> the same around one command

postgres_bin() {
    # The newest installed server version.
    find /usr/lib/postgresql -mindepth 2 -maxdepth 2 -name bin -type d 2>/dev/null |
        sort -V | tail -n 1
}

postgres_install() {
    if [ -z "$(postgres_bin)" ]; then
        echo "== installing Debian's postgresql for the records tests"
        export DEBIAN_FRONTEND=noninteractive
        # Our cluster lives in a temp directory; the package's default one is not needed.
        mkdir -p /etc/postgresql-common
        echo "create_main_cluster = false" >/etc/postgresql-common/createcluster.conf
        apt-get update -qq
        apt-get install -y -qq postgresql >/dev/null
    fi
    "$(postgres_bin)/postgres" --version
}

# The server refuses to run as root: as root, run its tools as the `postgres` OS user.
_as_postgres() {
    if [ "$(id -u)" = 0 ]; then
        runuser -u postgres -- "$@"
    else
        "$@"
    fi
}

postgres_start() {
    local bin port
    bin="$(postgres_bin)"
    POSTGRES_DIR="$(mktemp -d "${TMPDIR:-/tmp}/chat-postgres.XXXXXX")"
    if [ "$(id -u)" = 0 ]; then
        chown postgres: "$POSTGRES_DIR"
    fi
    port="$(python -c 'import socket; s = socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])')"
    _as_postgres "$bin/initdb" -D "$POSTGRES_DIR/data" -U postgres --auth=trust \
        --encoding=UTF8 --locale=C.UTF-8 >"$POSTGRES_DIR/initdb.log" ||
        { cat "$POSTGRES_DIR/initdb.log"; return 1; }
    # Durability is pointless for a throwaway cluster; without it the tests run faster.
    _as_postgres "$bin/pg_ctl" -D "$POSTGRES_DIR/data" -l "$POSTGRES_DIR/server.log" -w -t 60 \
        -o "-c listen_addresses=127.0.0.1 -p $port -k $POSTGRES_DIR -c fsync=off \
            -c synchronous_commit=off -c full_page_writes=off" start >/dev/null ||
        { cat "$POSTGRES_DIR/server.log"; return 1; }
    _as_postgres "$bin/createdb" -h 127.0.0.1 -p "$port" -U postgres chat_test
    export TEST_POSTGRES_URL="postgresql+psycopg://postgres@127.0.0.1:$port/chat_test"
    echo "== PostgreSQL running: $TEST_POSTGRES_URL"
}

postgres_stop() {
    if [ -n "${POSTGRES_DIR:-}" ] && [ -d "$POSTGRES_DIR/data" ]; then
        _as_postgres "$(postgres_bin)/pg_ctl" -D "$POSTGRES_DIR/data" -m fast -w stop >/dev/null ||
            true
        rm -rf "$POSTGRES_DIR"
    fi
}

if [ "${BASH_SOURCE[0]}" = "$0" ]; then
    set -euo pipefail
    postgres_install
    trap postgres_stop EXIT
    postgres_start
    "$@"
fi
