# Services the tests need, installed from Debian's packages when missing and
# started in a private directory that is removed on exit. Source this file.

apt_install() {
  if [ -z "${CRUCIBLE_APT_UPDATED:-}" ]; then
    apt-get update -qq
    CRUCIBLE_APT_UPDATED=1
  fi
  DEBIAN_FRONTEND=noninteractive apt-get install -y -qq "$@" >/dev/null
}

CRUCIBLE_CI_TMP=$(mktemp -d)
cleanup_services() {
  if [ -n "${PG_DATA:-}" ] && [ -f "$PG_DATA/postmaster.pid" ]; then
    su postgres -s /bin/sh -c "$PG_BIN/pg_ctl -D $PG_DATA -m immediate stop" >/dev/null 2>&1 || true
  fi
  rm -rf "$CRUCIBLE_CI_TMP"
}
trap cleanup_services EXIT

# start_postgres starts a throwaway PostgreSQL on 127.0.0.1:54329 and exports
# CRUCIBLE_TEST_POSTGRES_URL for the tests.
start_postgres() {
  PG_BIN=$(ls -d /usr/lib/postgresql/*/bin 2>/dev/null | sort -V | tail -n 1 || true)
  if [ -z "$PG_BIN" ] || [ ! -x "$PG_BIN/postgres" ]; then
    echo "installing PostgreSQL from Debian's packages"
    apt_install postgresql
    PG_BIN=$(ls -d /usr/lib/postgresql/*/bin | sort -V | tail -n 1)
  fi
  PG_DATA="$CRUCIBLE_CI_TMP/pg"
  mkdir -p "$PG_DATA"
  chown postgres "$CRUCIBLE_CI_TMP" "$PG_DATA"
  chmod 755 "$CRUCIBLE_CI_TMP"
  su postgres -s /bin/sh -c "$PG_BIN/initdb -D $PG_DATA -A trust -U postgres" >/dev/null
  su postgres -s /bin/sh -c "$PG_BIN/pg_ctl -D $PG_DATA -w -l $PG_DATA/log -o '-p 54329 -k $PG_DATA -c listen_addresses=127.0.0.1 -c fsync=off -c max_connections=200' start" >/dev/null
  export CRUCIBLE_TEST_POSTGRES_URL="postgres://postgres@127.0.0.1:54329/postgres?sslmode=disable"
  echo "PostgreSQL $("$PG_BIN/postgres" --version | awk '{print $3}') at $CRUCIBLE_TEST_POSTGRES_URL"
}
