#!/bin/sh
# Writes the compose secrets into deploy/secrets/ once; an existing file is never overwritten.
#   postgres_password        a random password for the PostgreSQL user `tickerpulse`
#   database_url             the SQLAlchemy URL holding that password (TICKERPULSE_ALERTS__DATABASE_URL_FILE)
#   webhook_endpoints.json   the webhook endpoints' JSON list, empty (TICKERPULSE_ALERTS__ENDPOINTS_FILE)
#   grafana_admin_password   Grafana's admin password (the `monitoring` profile)
# The folder is private to you (0700); the files are 0644 because compose bind-mounts them as
# they are and the containers read them as their own, non-root users.
set -eu
dir="$(cd "$(dirname "$0")" && pwd)/secrets"
mkdir -p "$dir"
chmod 700 "$dir"
if [ ! -s "$dir/postgres_password" ]; then
    python3 -c 'import secrets; print(secrets.token_urlsafe(24))' > "$dir/postgres_password"
    rm -f "$dir/database_url"  # it must hold the new password
fi
if [ ! -s "$dir/database_url" ]; then
    printf 'postgresql+psycopg://tickerpulse:%s@postgres:5432/tickerpulse\n' \
        "$(cat "$dir/postgres_password")" > "$dir/database_url"
fi
[ -s "$dir/webhook_endpoints.json" ] || echo '[]' > "$dir/webhook_endpoints.json"
[ -s "$dir/grafana_admin_password" ] || \
    python3 -c 'import secrets; print(secrets.token_urlsafe(18))' > "$dir/grafana_admin_password"
chmod 644 "$dir/postgres_password" "$dir/database_url" "$dir/webhook_endpoints.json" \
    "$dir/grafana_admin_password"
echo "secrets in $dir: postgres_password database_url webhook_endpoints.json grafana_admin_password"
