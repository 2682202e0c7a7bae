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
  if [ -n "${S3_PID:-}" ]; then
    kill "$S3_PID" 2>/dev/null || true
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

# The S3-compatible server the blob tests run against: versitygw (Versity S3
# Gateway, Apache 2.0) with its posix backend, built from the Go module proxy
# once and cached. A cold build takes about 80 s on a 2-core machine.
CRUCIBLE_VERSITYGW_VERSION=v1.8.0
CRUCIBLE_CI_CACHE="${CRUCIBLE_CI_CACHE:-$HOME/.cache/crucible-ci}"

# port_open reports whether something listens on 127.0.0.1:$1.
port_open() {
  (exec 3<>"/dev/tcp/127.0.0.1/$1") 2>/dev/null
}

# free_port prints a TCP port on 127.0.0.1 that nothing listens on.
free_port() {
  local p
  while :; do
    p=$((20000 + RANDOM % 40000))
    if ! port_open "$p"; then
      echo "$p"
      return
    fi
  done
}

# start_s3 starts versitygw on 127.0.0.1 with a throwaway data directory and
# exports CRUCIBLE_TEST_S3_URL, CRUCIBLE_TEST_S3_ACCESS_KEY,
# CRUCIBLE_TEST_S3_SECRET_KEY and CRUCIBLE_TEST_S3_BUCKET for the tests.
start_s3() {
  local bin="$CRUCIBLE_CI_CACHE/versitygw-$CRUCIBLE_VERSITYGW_VERSION/versitygw"
  if [ ! -x "$bin" ]; then
    echo "building versitygw $CRUCIBLE_VERSITYGW_VERSION (cached in $CRUCIBLE_CI_CACHE)"
    local t0=$SECONDS
    mkdir -p "$(dirname "$bin")"
    if ! GOBIN="$(dirname "$bin")" go install "github.com/versity/versitygw/cmd/versitygw@$CRUCIBLE_VERSITYGW_VERSION" \
      >"$CRUCIBLE_CI_TMP/versitygw-build.log" 2>&1; then
      cat "$CRUCIBLE_CI_TMP/versitygw-build.log"
      return 1
    fi
    echo "built versitygw in $((SECONDS - t0)) s"
  fi
  local dir="$CRUCIBLE_CI_TMP/s3"
  mkdir -p "$dir/data" "$dir/meta"
  local port access=crucibletest secret=crucibletestsecret
  port=$(free_port)
  "$bin" --access "$access" --secret "$secret" --port "127.0.0.1:$port" --quiet \
    posix --sidecar "$dir/meta" "$dir/data" >"$dir/log" 2>&1 &
  S3_PID=$!
  local i
  for i in $(seq 1 100); do
    if port_open "$port"; then
      break
    fi
    if ! kill -0 "$S3_PID" 2>/dev/null; then
      echo "versitygw exited:"; cat "$dir/log"; return 1
    fi
    sleep 0.1
  done
  export CRUCIBLE_TEST_S3_URL="http://127.0.0.1:$port"
  export CRUCIBLE_TEST_S3_ACCESS_KEY=$access
  export CRUCIBLE_TEST_S3_SECRET_KEY=$secret
  export CRUCIBLE_TEST_S3_BUCKET=crucible-test
  echo "versitygw $CRUCIBLE_VERSITYGW_VERSION at $CRUCIBLE_TEST_S3_URL"
}

# start_chromium makes sure Debian's Chromium is installed for the dashboard's
# browser test (server.TestBrowser drives it headless through chromedp) and
# exports CRUCIBLE_TEST_ARTIFACTS, where that test leaves its screenshots.
start_chromium() {
  if ! command -v chromium >/dev/null 2>&1; then
    echo "installing Chromium from Debian's packages"
    apt_install chromium
  fi
  export CRUCIBLE_TEST_ARTIFACTS="${CRUCIBLE_TEST_ARTIFACTS:-${TMPDIR:-/tmp}/crucible-test-artifacts}"
  mkdir -p "$CRUCIBLE_TEST_ARTIFACTS"
  echo "$(chromium --version 2>/dev/null || echo chromium) for the browser test; screenshots in $CRUCIBLE_TEST_ARTIFACTS"
}

# install_numpy makes sure Debian's python3 (/usr/bin/python3, which the
# tests try first whatever python3 comes first on PATH) imports numpy, for
# the test that runs the token-file reader of docs/tokens.md (ml/tokens).
install_numpy() {
  if ! /usr/bin/python3 -c 'import numpy' >/dev/null 2>&1; then
    echo "installing numpy from Debian's packages"
    apt_install python3-numpy
  fi
}

# install_torch makes sure Debian's python3 imports PyTorch (python3-torch:
# CPU only, enough for crucible_torch's compact modules) and exports
# CRUCIBLE_TEST_TORCH, so that the PyTorch agreement tests (trainers/torch,
# cmd/crucible, node/localnet) fail rather than skip when it is missing, and
# CRUCIBLE_TEST_PYTHON=/usr/bin/python3, the interpreter they use.
install_torch() {
  if ! /usr/bin/python3 -c 'import torch, numpy' >/dev/null 2>&1; then
    echo "installing PyTorch from Debian's packages (python3-torch)"
    local t0=$SECONDS
    apt_install --no-install-recommends python3-torch python3-numpy
    echo "installed python3-torch in $((SECONDS - t0)) s"
  fi
  export CRUCIBLE_TEST_TORCH=1 CRUCIBLE_TEST_PYTHON=/usr/bin/python3
  echo "PyTorch $(/usr/bin/python3 -c 'import torch; print(torch.__version__)') ($CRUCIBLE_TEST_PYTHON) for the agreement tests"
}
