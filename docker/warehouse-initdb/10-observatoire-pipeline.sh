#!/usr/bin/env bash
# warehouse-db's first start (the postgres image runs /docker-entrypoint-initdb.d/*.sh once, on an empty
# volume): the pipeline's role and the analysts' database. The password comes from OBSERVATOIRE_PG_PASSWORD
# (.env, never a tracked file); airflow-init then runs `observatoire postgres init` as that role (role
# observatoire_lecture, schema observatoire, grants). Changing the password later: ALTER ROLE (docs/runbook.md).
set -euo pipefail
: "${OBSERVATOIRE_PG_PASSWORD:?set OBSERVATOIRE_PG_PASSWORD in .env}"
psql -v ON_ERROR_STOP=1 --username "${POSTGRES_USER:-postgres}" --dbname "${POSTGRES_DB:-postgres}" \
  --set=pw="$OBSERVATOIRE_PG_PASSWORD" <<'SQL'
CREATE ROLE pipeline LOGIN CREATEROLE PASSWORD :'pw';
CREATE DATABASE observatoire OWNER pipeline;
SQL
echo "warehouse-db: role pipeline and database observatoire created"
