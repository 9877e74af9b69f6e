#!/bin/sh
# The cluster example's database server: on the first start, initdb and a
# role and database "sshgate" with the password SSHGATE_PG_PASSWORD; then
# the server in the foreground, PID 1, reachable on the private network
# with that password (scram-sha-256), nowhere else.
set -eu
bin=/usr/lib/postgresql/15/bin
: "${PGDATA:=/var/lib/postgresql/data}"

if [ ! -s "$PGDATA/PG_VERSION" ]; then
    [ -n "${SSHGATE_PG_PASSWORD:-}" ] || {
        echo "pg-entrypoint.sh: SSHGATE_PG_PASSWORD is not set" >&2
        exit 1
    }
    "$bin/initdb" -D "$PGDATA" -U postgres -A peer --auth-host=scram-sha-256 \
        -E UTF8 --locale=C.UTF-8 >/dev/null
    {
        echo "listen_addresses = '*'"
        echo "unix_socket_directories = '/tmp'"
    } >>"$PGDATA/postgresql.conf"
    echo "host sshgate sshgate 0.0.0.0/0 scram-sha-256" >>"$PGDATA/pg_hba.conf"
    "$bin/pg_ctl" -D "$PGDATA" -o "-c listen_addresses=''" -w start >/dev/null
    "$bin/psql" -h /tmp -U postgres -v ON_ERROR_STOP=1 -q \
        -v pw="$SSHGATE_PG_PASSWORD" <<'SQL'
CREATE ROLE sshgate LOGIN PASSWORD :'pw';
CREATE DATABASE sshgate OWNER sshgate;
SQL
    "$bin/pg_ctl" -D "$PGDATA" -m fast -w stop >/dev/null
    echo "pg-entrypoint.sh: created the database sshgate" >&2
fi
exec "$bin/postgres" -D "$PGDATA"
