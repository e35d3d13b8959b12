#!/usr/bin/env bash
# `make airflow`: Airflow 3 locally without Docker — standalone (api-server, scheduler, dag-processor,
# triggerer) on SQLite under $AIRFLOW_HOME (default ./airflow_home, git-ignored), the project's DAGs loaded,
# the writer pool created, parallelism sized for a small machine. Prints the URL and the admin password.
# Stop with Ctrl-C (SIGINT is forwarded to the standalone process, which stops its components cleanly).
set -euo pipefail
cd "$(dirname "$0")/.."
ROOT="$PWD"
AIRFLOW="$ROOT/.venv/bin/airflow"
export PATH="$ROOT/.venv/bin:$PATH"  # standalone starts its components as `airflow …`
PORT="${AIRFLOW_PORT:-8080}"

export AIRFLOW_HOME="${AIRFLOW_HOME:-$ROOT/airflow_home}"
export AIRFLOW__CORE__DAGS_FOLDER="$ROOT/dags"
export AIRFLOW__CORE__LOAD_EXAMPLES=False
export AIRFLOW__CORE__PARALLELISM="${AIRFLOW__CORE__PARALLELISM:-4}"
export AIRFLOW__CORE__MAX_ACTIVE_TASKS_PER_DAG="${AIRFLOW__CORE__MAX_ACTIVE_TASKS_PER_DAG:-4}"
export AIRFLOW__API__PORT="$PORT"
export AIRFLOW__API__BASE_URL="http://localhost:$PORT"
export AIRFLOW__CORE__EXECUTION_API_SERVER_URL="http://localhost:$PORT/execution/"
export AIRFLOW__SCHEDULER__ENABLE_HEALTH_CHECK=False
export OBSERVATOIRE_MODE="${OBSERVATOIRE_MODE:-live}"
# demo and live data never share a data directory (a run of the other mode is refused): like `make demo`, a demo
# Airflow defaults to ./data-demo, a live one to ./data
if [ "$OBSERVATOIRE_MODE" = demo ]; then
  export OBSERVATOIRE_DATA_DIR="${OBSERVATOIRE_DATA_DIR:-$ROOT/data-demo}"
else
  export OBSERVATOIRE_DATA_DIR="${OBSERVATOIRE_DATA_DIR:-$ROOT/data}"
fi
export DBT_SEND_ANONYMOUS_USAGE_STATS=False
mkdir -p "$AIRFLOW_HOME"

echo "Airflow home: $AIRFLOW_HOME — observatoire mode: $OBSERVATOIRE_MODE, data: $OBSERVATOIRE_DATA_DIR"
"$AIRFLOW" db migrate > "$AIRFLOW_HOME/db-migrate.log" 2>&1 || { cat "$AIRFLOW_HOME/db-migrate.log"; exit 1; }
"$AIRFLOW" pools set observatoire_warehouse 1 "Observatoire: one writer at a time on the data directory" >/dev/null

# job control: standalone gets its own process group, so a Ctrl-C reaches this script only, which forwards one
# SIGINT (standalone then stops its components in order; SIGTERM would orphan them)
set -m
"$AIRFLOW" standalone > "$AIRFLOW_HOME/standalone.log" 2>&1 &
STANDALONE=$!
set +m
stop() {
  trap - INT TERM
  echo "stopping Airflow (SIGINT to the standalone process $STANDALONE)…"
  kill -INT "$STANDALONE" 2>/dev/null || true
  for _ in $(seq 1 60); do
    kill -0 "$STANDALONE" 2>/dev/null || break
    sleep 0.5
  done
  if kill -0 "$STANDALONE" 2>/dev/null; then
    echo "standalone still running after 30 s: terminating its process group" >&2
    kill -TERM -- "-$STANDALONE" 2>/dev/null || true
    sleep 5
    kill -KILL -- "-$STANDALONE" 2>/dev/null || true
  fi
  echo "Airflow stopped."
  exit 0
}
trap stop INT TERM

PASSWORDS="$AIRFLOW_HOME/simple_auth_manager_passwords.json.generated"
UP=""
for _ in $(seq 1 300); do
  if curl -fsS "http://localhost:$PORT/api/v2/monitor/health" >/dev/null 2>&1 && [ -s "$PASSWORDS" ]; then
    echo "Airflow is up: http://localhost:$PORT"
    echo "admin password: $(python3 -c 'import json,sys; print(json.load(open(sys.argv[1])).get("admin", "?"))' "$PASSWORDS")"
    echo "logs: $AIRFLOW_HOME/standalone.log — Ctrl-C to stop"
    UP=1
    break
  fi
  if ! kill -0 "$STANDALONE" 2>/dev/null; then
    echo "Airflow standalone exited; see $AIRFLOW_HOME/standalone.log" >&2
    tail -20 "$AIRFLOW_HOME/standalone.log" >&2
    exit 1
  fi
  sleep 1
done
if [ -z "$UP" ]; then  # a slow machine: say so rather than wait in silence (the standalone goes on starting)
  echo "Airflow not answering on http://localhost:$PORT after 300 s; still starting? see $AIRFLOW_HOME/standalone.log" >&2
fi
wait "$STANDALONE"
