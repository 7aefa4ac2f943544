#!/bin/sh
# One database and one login per service (DESIGN §1: a service never reads another's
# tables), each login with its own password: the file /run/secrets/relay_<service>_db_password
# that the service reads too (RELAY_<SERVICE>_DATABASE_PASSWORD_FILE). Runs once, when
# the PostgreSQL volume is first created.
set -eu

secrets="${RELAY_DB_PASSWORDS_DIR:-/run/secrets}"
for service in ingest router notifier console; do
    file="$secrets/relay_${service}_db_password"
    if [ ! -s "$file" ]; then
        echo "01-relay-databases.sh: $file is missing or empty (deploy/make-secrets.sh)" >&2
        exit 1
    fi
    # psql quotes the values itself (:"name" an identifier, :'password' a literal).
    psql -v ON_ERROR_STOP=1 --username "$POSTGRES_USER" --dbname postgres \
        -v login="relay_${service}" -v password="$(cat "$file")" <<'SQL'
CREATE ROLE :"login" LOGIN PASSWORD :'password';
CREATE DATABASE :"login" OWNER :"login";
REVOKE ALL ON DATABASE :"login" FROM PUBLIC;
SQL
done
