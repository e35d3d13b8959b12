# Two commands on a fresh machine with Python 3.11+ and make:
#   make demo   install into .venv/ and run the pipeline offline on the project's recordings, into ./data-demo
#   make test   install into .venv/ and run the test suite
SHELL := /bin/bash
.DEFAULT_GOAL := help

# a Python >= 3.11 already on the machine (uv never downloads one here)
PYTHON ?= $(shell for p in python3.11 python3.12 python3.13 python3; do \
	command -v $$p >/dev/null 2>&1 && $$p -c 'import sys; sys.exit(sys.version_info < (3, 11))' 2>/dev/null \
	&& { echo $$p; break; }; done)
# uv: the one on PATH, else a private copy installed with pip into .tools/
UV ?= $(shell command -v uv 2>/dev/null || echo .tools/bin/uv)
export UV_PYTHON_DOWNLOADS := never
export UV_PROJECT_ENVIRONMENT := $(CURDIR)/.venv
# the installed packages are compiled to bytecode once, at install: Python otherwise compiles them again in
# every process when bytecode writing is off (PYTHONDONTWRITEBYTECODE, set on CI machines), which tripled the
# start-up of the CLI, dbt and every test subprocess (docs/decisions.md, ADR 10)
export UV_COMPILE_BYTECODE := 1

# demo and live data never share a data directory (a run of the other mode is refused, exit 2): `make demo`
# writes ./data-demo unless OBSERVATOIRE_DATA_DIR is set (environment or `make demo OBSERVATOIRE_DATA_DIR=…`);
# live runs (`observatoire run`, `make airflow`) default to ./data
DEMO_DATA_DIR := $(or $(OBSERVATOIRE_DATA_DIR),./data-demo)

.PHONY: help install demo test lint bench airflow clean-venv dbt-docs

help:
	@echo "make demo   - install everything into .venv/ and run the pipeline in demo mode (offline recordings) into ./data-demo"
	@echo "make test   - install everything into .venv/ and run the tests"
	@echo "make lint   - ruff + dbt parse"
	@echo "make dbt-docs - dbt's documentation of the models (French), one HTML file, from the data directory's last build"
	@echo "               (OBSERVATOIRE_DATA_DIR, default ./data; after make demo: OBSERVATOIRE_DATA_DIR=data-demo make dbt-docs)"
	@echo "make bench  - benchmark on national-scale inputs (OBSERVATOIRE_BENCH_CONTOURS=national contours GeoJSON)"
	@echo "make airflow - Airflow 3 locally without Docker (standalone on SQLite, port AIRFLOW_PORT=8080), Ctrl-C stops"

.tools/bin/uv:
	@test -n "$(PYTHON)" || { echo "error: Python >= 3.11 is required (python3.11, python3.12 or python3.13 on PATH)" >&2; exit 1; }
	$(PYTHON) -m venv .tools
	.tools/bin/python -m pip install --quiet --disable-pip-version-check uv

.venv/.synced: pyproject.toml uv.lock Makefile | $(UV)
	@test -n "$(PYTHON)" || { echo "error: Python >= 3.11 is required" >&2; exit 1; }
	$(UV) sync --frozen --python $(PYTHON)
	@touch $@

install: .venv/.synced

demo: install
	OBSERVATOIRE_MODE=demo OBSERVATOIRE_DATA_DIR='$(DEMO_DATA_DIR)' .venv/bin/observatoire run

test: install
	.venv/bin/python -m pytest

# dbt's documentation (models and columns in French, lineage) as one HTML file opened from disk, built from the
# data directory's build warehouse (OBSERVATOIRE_DATA_DIR, default ./data) after a run, under its writer lock;
# the demo's: OBSERVATOIRE_DATA_DIR=data-demo make dbt-docs (a hint says so when only ./data-demo has a build)
dbt-docs: install
	@set -o pipefail; .venv/bin/observatoire docs --dbt | sed 's/^/dbt docs: /' || { status=$$?; \
		if [ -z "$$OBSERVATOIRE_DATA_DIR" ] && [ -e data-demo/warehouse/build.duckdb ]; then \
			echo "dbt docs: make demo builds into ./data-demo: OBSERVATOIRE_DATA_DIR=data-demo make dbt-docs" >&2; fi; \
		exit $$status; }

# the benchmark (docs/performance.md): national inputs generated once into bench/.cache/ (or
# $OBSERVATOIRE_BENCH_CACHE), contours from $OBSERVATOIRE_BENCH_CONTOURS, figures in bench/results/latest.json
# the national ANCT contours: $OBSERVATOIRE_BENCH_CONTOURS, else the shared reference copy next to the project
OBSERVATOIRE_BENCH_CONTOURS ?= $(wildcard ../shared/reference/contours/qpv2024_france_simplified.geojson)
export OBSERVATOIRE_BENCH_CONTOURS

bench: install
	.venv/bin/python bench/run.py $(BENCH_ARGS)

airflow: install
	@scripts/airflow-local.sh

lint: install
	.venv/bin/ruff check observatoire extract expectations dags tests bench dbt_project/scripts
	.venv/bin/pylint --score=n observatoire extract expectations dags bench
	cd dbt_project && OBSERVATOIRE_BUILD_DB=/tmp/observatoire-lint.duckdb DBT_TARGET_PATH=/tmp/observatoire-lint-target \
		DBT_PROFILES_DIR=. ../.venv/bin/dbt parse --quiet

clean-venv:
	rm -rf .venv .tools
