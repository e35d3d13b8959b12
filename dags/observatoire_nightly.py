"""
### observatoire_nightly — the nightly refresh of the observatory

Every night (Europe/Paris) the DAG brings the published warehouse up to date with the source registry
(`extract/sources.yml`):

1. **start** records the run in the run history (`$OBSERVATOIRE_DATA_DIR/meta/`);
2. **referentiel** lands and gates the ANCT contours first (the perimeter's QPV and the perimeter's requests are
   built from them; if it fails, the other sources still run and report, and nothing is published);
   **plan** lists the other (source, millésime) pairs to load: the latest millésime of every source, plus any
   millésime never loaded; the `millesime` param backfills one year, `sources` restricts the run, `force`
   ignores the unchanged checks. Adding a source is a registry line, not a DAG edit (dynamic task mapping);
3. per source and millésime (mapped group **sources**): **extract** fetches, parses and lands the file (an
   unchanged source is skipped cheaply: HTTP validators, sha256) and **validate** runs its Great Expectations
   raw gate. A source that fails fails its own tasks; the other sources still run and report. Each landed
   file emits an asset event on the alias `observatoire_landed_sources` (`observatoire_raw_<source>`);
4. **build** loads the raw schema of the private build warehouse and runs `dbt build` (skipped when nothing
   changed since the last publication);
5. **validate_marts** runs the mart gate; **publish** atomically replaces `warehouse/observatoire.duckdb`
   and the Parquet exports (asset `observatoire_published_warehouse`). Publish runs only if every upstream
   task succeeded; analysts read the published file and are never blocked;
6. **finish** records how the run ended (and fails the DAG run if anything failed).

Tasks writing the data directory run in the 1-slot pool `observatoire_warehouse` shared by all the project's
DAGs, and hold its writer lock. On failure a callback writes a summary to the task log and the run history and
calls the optional webhook (connection `observatoire_webhook` or `OBSERVATOIRE_WEBHOOK_URL`).
Settings: `OBSERVATOIRE_MODE` (`live` by default, `demo` replays the recordings), `OBSERVATOIRE_DATA_DIR`.
Runbook: `docs/runbook.md`.
"""

from __future__ import annotations

import pendulum
from airflow.sdk import Param, dag, task, task_group

from observatoire.airflow_support import LANDED, POOL, PUBLISHED, default_args, source_asset


@dag(
    dag_id="observatoire_nightly",
    dag_display_name="Observatoire des quartiers — rafraîchissement nocturne",
    schedule="30 2 * * *",
    start_date=pendulum.datetime(2026, 1, 1, tz="Europe/Paris"),
    catchup=False,
    max_active_runs=1,
    default_args=default_args(),
    doc_md=__doc__,
    tags=["observatoire", "contrat-de-ville"],
    params={
        "millesime": Param(None, type=["null", "integer"], description="Backfill this millésime (year)"),
        "sources": Param([], type="array", description="Only these source ids (default: all)"),
        "force": Param(False, type="boolean", description="Ignore the unchanged checks"),
        "accept_breaks": Param({}, type="object",
                               description="A deliberate break of series: {source id: reason}; its jumps against "
                                           "the last load only warn, flagged rupture_serie (observatoire run "
                                           "--accept-break ID --reason …)"),
    },
)
def observatoire_nightly():
    @task(retries=0)
    def start(**context) -> str:
        from observatoire import tasks

        params = context["params"]
        return tasks.start(
            {"millesime": params.get("millesime"), "sources": params.get("sources") or [],
             "force": bool(params.get("force")), "accept_breaks": params.get("accept_breaks") or {}},
            external_id=context["run_id"],
        )

    @task(pool=POOL, outlets=[LANDED])
    def referentiel(observatoire_run: str) -> list[dict]:
        from airflow.sdk import get_current_context

        from observatoire import tasks

        out = tasks.referentiel(observatoire_run)
        for landed in out:
            if landed["status"] == "new":
                get_current_context()["outlet_events"][LANDED].add(
                    source_asset(landed["source_id"]),
                    extra={"millesime": landed["millesime"], "sha256": landed["sha256"], "rows": landed["rows"]},
                )
        return out

    @task(retries=0, trigger_rule="all_done")
    def plan(observatoire_run: str) -> list[dict]:
        from observatoire import tasks

        return tasks.plan(observatoire_run, referentiel=False)

    @task_group(group_id="sources")
    def per_source(item: dict):
        @task(map_index_template="{{ source_millesime }}")
        def extract(item: dict) -> dict:
            from airflow.sdk import get_current_context

            from observatoire import tasks

            get_current_context()["source_millesime"] = f"{item['source_id']}/{item['millesime']}"
            return tasks.extract(item)

        @task(pool=POOL, outlets=[LANDED], map_index_template="{{ source_millesime }}")
        def validate(result: dict) -> dict:
            from airflow.sdk import get_current_context

            from observatoire import tasks

            context = get_current_context()
            context["source_millesime"] = f"{result['source_id']}/{result['millesime']}"
            out = tasks.validate(result)
            if out["status"] == "new":
                context["outlet_events"][LANDED].add(
                    source_asset(out["source_id"]),
                    extra={"millesime": out["millesime"], "sha256": out["sha256"], "rows": out["rows"]},
                )
            return out

        return validate(extract(item))

    @task(pool=POOL)
    def build(observatoire_run: str) -> dict:
        from observatoire import tasks

        out = tasks.build(observatoire_run)
        if out["status"] == "unchanged":
            from airflow.sdk.exceptions import AirflowSkipException

            raise AirflowSkipException("inputs and code unchanged since the last publication: nothing to publish")
        return out

    @task(pool=POOL)
    def validate_marts(observatoire_run: str) -> dict:
        from observatoire import tasks

        return tasks.validate_marts(observatoire_run)

    @task(pool=POOL, retries=0, outlets=[PUBLISHED])
    def publish(observatoire_run: str) -> dict:
        from observatoire import tasks

        return tasks.publish(observatoire_run)

    @task(trigger_rule="all_done", retries=0)
    def finish(observatoire_run: str) -> dict:
        from observatoire import tasks

        return tasks.finish(observatoire_run)

    observatoire_run = start()
    ref = referentiel(observatoire_run)
    items = plan(observatoire_run)
    ref >> items
    loaded = per_source.expand(item=items)
    built = build(observatoire_run)
    ref >> built  # a failed référentiel blocks the publication, while the other sources still run and report
    marts_ok = validate_marts(observatoire_run)
    published = publish(observatoire_run)
    loaded >> built >> marts_ok >> published >> finish(observatoire_run)


observatoire_nightly()
