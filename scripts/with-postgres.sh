#!/usr/bin/env bash
# Run a command with TEST_DATABASE_URL pointing at a throw-away local PostgreSQL cluster.
#
# Uses $TEST_DATABASE_URL as given when it is already set. Otherwise installs Debian's postgresql
# package if its binaries are missing (root only), creates a cluster in a temporary directory
# (initdb as the postgres user, trust auth, UTF-8 locale, loopback only, a free port), runs the
# command, and stops and deletes the cluster on exit. Without PostgreSQL (not root, no binaries)
# the command runs anyway and the PostgreSQL tests skip, except under CI=true where they fail.
set -euo pipefail

if [ -n "${TEST_DATABASE_URL:-}" ]; then
  exec "$@"
fi

find_pgbin() { ls -d /usr/lib/postgresql/*/bin 2>/dev/null | sort -V | tail -1; }

PGBIN=$(find_pgbin || true)
if [ -z "$PGBIN" ] && [ "$(id -u)" = 0 ] && command -v apt-get >/dev/null; then
  echo "with-postgres: installing Debian's postgresql package" >&2
  apt-get update -qq >/dev/null && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends postgresql >/dev/null
  PGBIN=$(find_pgbin || true)
fi
if [ -z "$PGBIN" ]; then
  echo "with-postgres: no PostgreSQL binaries (and not root to install them): PostgreSQL tests will skip" >&2
  exec "$@"
fi

RUNAS=()
if [ "$(id -u)" = 0 ]; then
  id postgres >/dev/null 2>&1 || useradd --system --no-create-home postgres
  RUNAS=(runuser -u postgres --)
fi

PGTMP=$(mktemp -d /tmp/kolwatch-pg.XXXXXX)
[ "$(id -u)" = 0 ] && chown postgres:postgres "$PGTMP"
PGPORT=$(python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1]); s.close()')

cleanup() {
  "${RUNAS[@]}" "$PGBIN/pg_ctl" -D "$PGTMP/data" -m fast -w stop >/dev/null 2>&1 || true
  rm -rf "$PGTMP"
}
trap cleanup EXIT

"${RUNAS[@]}" "$PGBIN/initdb" --no-sync -D "$PGTMP/data" -U postgres -A trust -E UTF8 --locale=C.UTF-8 >/dev/null
"${RUNAS[@]}" "$PGBIN/pg_ctl" -D "$PGTMP/data" -l "$PGTMP/log" -w \
  -o "-p $PGPORT -k $PGTMP -c listen_addresses=127.0.0.1 -c fsync=off -c synchronous_commit=off -c full_page_writes=off" \
  start >/dev/null
echo "with-postgres: PostgreSQL on 127.0.0.1:$PGPORT" >&2
export TEST_DATABASE_URL="postgresql+psycopg://postgres@127.0.0.1:$PGPORT/postgres"
"$@"
