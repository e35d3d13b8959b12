"""What the project's DAGs share: the writer pool, default arguments, the failure callback, the assets.

Imported by DAG files at parse time, so it imports nothing heavy and does no I/O at module level (the callback
runs only when a task fails, in the worker).
"""

from __future__ import annotations

import logging
from datetime import timedelta

from airflow.sdk import Asset, AssetAlias

#: every task that writes the warehouse (or the data directory's shared stores) runs in this 1-slot pool,
#: shared by all the project's DAGs; created by `make airflow` and by the compose init job
POOL = "observatoire_warehouse"
POOL_DESCRIPTION = "Observatoire: one writer at a time on the data directory (DuckDB allows one writer)"

#: the published warehouse, updated by observatoire_nightly's publish task (downstream DAGs schedule on it)
PUBLISHED = Asset(name="observatoire_published_warehouse", uri="file:///observatoire/warehouse/observatoire.duckdb")
#: every landed source file emits an event on this alias: Asset observatoire_raw_<source>
LANDED = AssetAlias(name="observatoire_landed_sources")

log = logging.getLogger("observatoire")


def source_asset(source_id: str) -> Asset:
    return Asset(name=f"observatoire_raw_{source_id}", uri=f"file:///observatoire/raw/{source_id}")


def default_args(**overrides) -> dict:
    """Retries with exponential backoff; OBSERVATOIRE_TASK_RETRIES / OBSERVATOIRE_RETRY_DELAY_SECONDS tune them
    (the tests set them low; reading the environment at parse time is cheap and does no I/O)."""
    from observatoire.config import current_settings

    settings = current_settings()
    args = {
        "owner": "observatoire",
        "retries": settings.task_retries,
        "retry_delay": timedelta(seconds=settings.retry_delay_seconds),
        "retry_exponential_backoff": True,
        "max_retry_delay": timedelta(minutes=30),
        "on_failure_callback": on_failure,
    }
    args.update(overrides)
    return args


def _webhook_url() -> str | None:
    from observatoire.notify import webhook_url_from_settings

    try:
        from airflow.sdk import Connection

        conn = Connection.get("observatoire_webhook")
        extra = conn.extra_dejson or {}
        url = extra.get("url") or (conn.get_uri() if conn.host else None)
        if url:
            return url
    except Exception:  # noqa: BLE001 - no such connection: the environment variable, or nothing
        pass
    return webhook_url_from_settings()


def on_failure(context) -> None:
    """Failure callback: a summary in the task log and the run history, and the optional webhook."""
    from observatoire.notify import failure_summary, post_webhook

    ti = context.get("ti") or context.get("task_instance")
    dag_id = getattr(ti, "dag_id", "?")
    task_id = getattr(ti, "task_id", "?")
    map_index = getattr(ti, "map_index", None)
    error = context.get("exception")
    observatoire_run = None
    try:
        observatoire_run = ti.xcom_pull(task_ids="start") if ti else None
    except Exception:  # noqa: BLE001 - best effort
        pass
    text = failure_summary(dag_id=dag_id, task_id=task_id, run_id=context.get("run_id", "?"), map_index=map_index,
                           error=error, observatoire_run=observatoire_run)
    log.error(text)
    try:
        from observatoire import tasks

        tasks.record_failure(observatoire_run, f"{task_id}[{map_index}]" if map_index not in (None, -1) else task_id,
                             error)
    except Exception as exc:  # noqa: BLE001 - the history must not hide the original failure
        log.warning("could not record the failure in the run history: %s", exc)
    post_webhook(_webhook_url(), text, {"dag_id": dag_id, "task_id": task_id, "map_index": map_index,
                                        "run_id": context.get("run_id"), "observatoire_run": observatoire_run})
