#!/bin/sh
# The secrets docker-compose.yml reads, one file each under ./secrets/ (or $1): the key
# that signs acknowledgement links, the PostgreSQL superuser's password, and a password
# for each service's database login. Existing files are kept: run it again safely.
# The folder is for this host only; never commit it (.gitignore has it).
set -eu

folder="${1:-secrets}"
mkdir -p "$folder"
chmod 700 "$folder"
for name in relay_secret_key postgres_password relay_ingest_db_password \
    relay_router_db_password relay_notifier_db_password relay_console_db_password; do
    file="$folder/$name"
    if [ -s "$file" ]; then
        echo "$file: kept"
        continue
    fi
    # 32 random bytes, URL-safe base64: no quoting trouble in a URL or SQL.
    head -c 32 /dev/urandom | base64 | tr '+/' '._' | tr -d '=\n' > "$file"
    # Compose mounts the file as it is: the services (uid 10001) and PostgreSQL (uid 999)
    # must read it; the folder (0700) keeps everyone else out.
    chmod 444 "$file"
    echo "$file: made"
done
