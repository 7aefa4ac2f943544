#!/bin/sh
# One database and one login per service (DESIGN §1: a service never reads another's
# tables). Runs once, when the PostgreSQL volume is first created.
set -eu

password="${RELAY_DB_PASSWORD:?set RELAY_DB_PASSWORD}"
for service in ingest router notifier console; do
    psql -v ON_ERROR_STOP=1 --username "$POSTGRES_USER" --dbname postgres <<SQL
CREATE ROLE relay_${service} LOGIN PASSWORD '${password}';
CREATE DATABASE relay_${service} OWNER relay_${service};
REVOKE ALL ON DATABASE relay_${service} FROM PUBLIC;
SQL
done
