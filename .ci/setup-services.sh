#!/usr/bin/env bash
# Installs and starts what the storage tests need: MySQL client headers for
# diesel's mysql backend, a running PostgreSQL and MariaDB, and a fresh
# `tenure_test` database on each; HAProxy, nginx and libfaketime for the
# HA end-to-end suite (tests-e2e/, which starts HAProxy and nginx itself); and
# Chromium with its WebDriver for the console's browser tests.
# Safe to run more than once. With --services-only it leaves the databases be.
set -euo pipefail

PG_HOST=127.0.0.1
PG_PORT=5432
MY_HOST=127.0.0.1
MY_PORT=3306

missing=()
# haproxy, nginx and faketime/libfaketime: the HA end-to-end suite
# (tests-e2e/), which runs docs/ha/haproxy.cfg, docs/ha/nginx.conf and a
# manager whose clock is hours off.
# chromium and chromium-driver: the web console's browser tests
# (tests-e2e/tests/console.rs), which start chromedriver themselves.
# prometheus: its promtool checks docs/alerts.yml and runs the alerts' cases
# (frontends/service/tests/alerts.rs); the server itself is not started.
for pkg in pkg-config libmariadb-dev libmariadb-dev-compat libpq-dev \
    postgresql mariadb-server mariadb-client haproxy nginx faketime libfaketime \
    chromium chromium-driver prometheus; do
    if ! dpkg-query -W -f='${Status}' "$pkg" 2>/dev/null | grep -q "install ok installed"; then
        missing+=("$pkg")
    fi
done
if [ "${#missing[@]}" -gt 0 ]; then
    echo "setup-services: installing ${missing[*]}"
    apt-get update
    DEBIAN_FRONTEND=noninteractive apt-get install -y --no-install-recommends "${missing[@]}"
fi

port_open() { (exec 3<>"/dev/tcp/$1/$2") 2>/dev/null; }

wait_port() { # host port name
    for _ in $(seq 1 60); do
        if port_open "$1" "$2"; then return 0; fi
        sleep 1
    done
    echo "setup-services: $3 does not accept connections on $1:$2" >&2
    return 1
}

if ! port_open "$PG_HOST" "$PG_PORT"; then
    version=$(ls /etc/postgresql | sort -n | tail -1)
    echo "setup-services: starting PostgreSQL $version"
    pg_ctlcluster --skip-systemctl-redirect "$version" main start
fi
if ! port_open "$MY_HOST" "$MY_PORT"; then
    echo "setup-services: starting MariaDB"
    mkdir -p /run/mysqld
    chown mysql:mysql /run/mysqld 2>/dev/null || true
    start-stop-daemon --start --oknodo --background --exec /usr/sbin/mariadbd -- --user=mysql
fi
wait_port "$PG_HOST" "$PG_PORT" PostgreSQL
wait_port "$MY_HOST" "$MY_PORT" MariaDB

for _ in $(seq 1 30); do
    if psql -h "$PG_HOST" -p "$PG_PORT" -U postgres -tAc 'SELECT 1' >/dev/null 2>&1; then break; fi
    sleep 1
done
for _ in $(seq 1 30); do
    if mysql -h "$MY_HOST" -P "$MY_PORT" -uroot -e 'SELECT 1' >/dev/null 2>&1; then break; fi
    sleep 1
done

# --services-only: the load, storm and fuzz scripts need the packages and the
# servers, and must not drop a tenure_test database a test run may be using.
if [ "${1:-}" = "--services-only" ]; then
    echo "setup-services: PostgreSQL on $PG_HOST:$PG_PORT and MariaDB on $MY_HOST:$MY_PORT ready"
    exit 0
fi

psql -h "$PG_HOST" -p "$PG_PORT" -U postgres -v ON_ERROR_STOP=1 -q \
    -c 'DROP DATABASE IF EXISTS tenure_test WITH (FORCE)' \
    -c 'CREATE DATABASE tenure_test'
mysql -h "$MY_HOST" -P "$MY_PORT" -uroot \
    -e 'DROP DATABASE IF EXISTS tenure_test; CREATE DATABASE tenure_test CHARACTER SET utf8mb4 COLLATE utf8mb4_bin'

echo "setup-services: PostgreSQL on $PG_HOST:$PG_PORT and MariaDB on $MY_HOST:$MY_PORT ready, database tenure_test fresh"
