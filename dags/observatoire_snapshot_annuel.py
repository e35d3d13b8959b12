"""
### observatoire_snapshot_annuel — the evaluators' annual edition

Freezes the latest published warehouse as an immutable edition under
`$OBSERVATOIRE_DATA_DIR/snapshots/<version>/` (Parquet, French CSV, XLSX, DuckDB, `manifest.json` with every
file's sha256, `SHA256SUMS`, a README in French), then verifies it by recomputing every hash. Same function as
`observatoire snapshot create`.

* **Schedule**: every 15 January at 06:00 (Europe/Paris), the edition of the year that just ended. If that
  edition already exists (made by hand), the scheduled run reports it and changes nothing.
* **Manual trigger**: params `edition` (the year; default: last year) and `correction` (a reason: writes
  the next correction `2025.1`, `2025.2`… next to the edition, which stays untouched). A manual trigger for an
  edition that exists, without `correction`, fails: an edition is never rewritten.
* **Demo data**: a publication of demo data (the project's recordings, synthetic values) is refused, so the
  task fails saying why: a live deployment never holds demo data. On a demo deployment, trigger with param
  `demo` = true (like `snapshot create --demo`): the edition is then marked « données de démonstration,
  valeurs synthétiques » in its README, manifest and workbook.
* **Signature**: when `OBSERVATOIRE_SIGNING_KEY` is set in the worker's environment (the private key written by
  `observatoire snapshot keygen`, a secret file of mode 600 outside the data directory), the edition is signed
  (`manifest.json.sig`); an unusable key fails `create` before anything is written. `verify` then checks the
  signature with that key's public half. Without the variable the edition is unsigned (its README says so).

`create` runs in the writer pool `observatoire_warehouse` (shared with the nightly refresh) and holds the data
directory's writer lock, so it never freezes a half-published warehouse. Runbook: `docs/runbook.md`.
"""

from __future__ import annotations

import pendulum
from airflow.sdk import Asset, Param, dag, task

from observatoire.airflow_support import POOL, PUBLISHED, default_args

SNAPSHOT = Asset(name="observatoire_snapshot", uri="file:///observatoire/snapshots")


@dag(
    dag_id="observatoire_snapshot_annuel",
    dag_display_name="Observatoire des quartiers — édition annuelle (instantané)",
    schedule="0 6 15 1 *",
    start_date=pendulum.datetime(2026, 1, 1, tz="Europe/Paris"),
    catchup=False,
    max_active_runs=1,
    default_args=default_args(),
    doc_md=__doc__,
    tags=["observatoire", "evaluation"],
    params={
        "edition": Param(None, type=["null", "integer"], minimum=2024, maximum=2100,
                         description="Edition (year); default: the year before the run"),
        "correction": Param(None, type=["null", "string"],
                            description="Reason of a correction of an existing edition (writes 2025.1, 2025.2…)"),
        "demo": Param(False, type="boolean",
                      description="The published warehouse holds demo data (recordings, synthetic values): make a "
                                  "demonstration edition anyway, marked as such (refused otherwise; never needed "
                                  "on a live deployment)"),
    },
)
def observatoire_snapshot_annuel():
    @task(pool=POOL, retries=0, outlets=[SNAPSHOT], inlets=[PUBLISHED])
    def create(**context) -> dict:
        from observatoire import tasks

        params = context["params"]
        edition = params.get("edition")
        explicit = edition is not None
        if not explicit:
            when = context.get("logical_date") or pendulum.now("Europe/Paris")
            edition = pendulum.instance(when).in_timezone("Europe/Paris").year - 1
        correction = (params.get("correction") or "").strip() or None
        out = tasks.snapshot_create(int(edition), correction, skip_if_exists=not explicit,
                                    demo=bool(params.get("demo")))
        if out["status"] == "exists":
            from airflow.sdk.exceptions import AirflowSkipException

            raise AirflowSkipException(out["message"])
        return out

    @task
    def verify(created: dict) -> dict:
        from observatoire import tasks

        return tasks.snapshot_verify(created["version"])

    verify(create())


observatoire_snapshot_annuel()
