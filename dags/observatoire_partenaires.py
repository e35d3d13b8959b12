"""
### observatoire_partenaires — les fichiers des partenaires

Loads the files partners send for the baromètres no open source provides (templates:
`observatoire partenaires modele <indicateur>`), every night at 02:00 Europe/Paris — before
`observatoire_nightly` (02:30), which then publishes the values — or when triggered by hand:

1. **list_inbox** lists the files waiting in `$OBSERVATOIRE_DATA_DIR/partenaires/inbox/` (regular files only:
   no symbolic link, no hidden or `~$` lock file);
2. **import_file** (mapped: one task per file, in the 1-slot pool `observatoire_warehouse`, under the writer
   lock) validates the file and loads it exactly as `observatoire partenaires importer` does: the original kept
   by sha256, a provenance row in the run history, one current file per indicateur and millésime. The file then
   leaves the inbox for `partenaires/traites/` (loaded, or already loaded) or `partenaires/rejetes/` (invalid,
   or a second file for an indicateur and millésime already received), with its French report
   `<name>.rapport.txt` beside it;
3. **summarise** (runs whatever happened) fails the DAG run if a file was rejected, so the failure callback
   warns the team (task log, optional webhook) with the reports to send back to the partner.

Param `remplacer` (default false): a valid file replaces the one already loaded for the same indicateur and
millésime (the old one stays in the history). To replace, move the file back from `rejetes/` to the inbox and
trigger with `{"remplacer": true}`. Nothing here runs dbt: the next `observatoire run` or nightly DAG run
publishes. Documentation: `docs/partenaires.md`.
"""

from __future__ import annotations

import pendulum
from airflow.sdk import Param, dag, task

from observatoire.airflow_support import POOL, default_args


@dag(
    dag_id="observatoire_partenaires",
    dag_display_name="Observatoire des quartiers — fichiers des partenaires",
    schedule="0 2 * * *",
    start_date=pendulum.datetime(2026, 1, 1, tz="Europe/Paris"),
    catchup=False,
    max_active_runs=1,
    default_args=default_args(),
    doc_md=__doc__,
    tags=["observatoire", "contrat-de-ville", "partenaires"],
    params={
        "remplacer": Param(False, type="boolean",
                           description="Replace the file already loaded for the same indicateur and millésime"),
    },
)
def observatoire_partenaires():
    @task
    def list_inbox() -> list[str]:
        from observatoire.config import load_settings
        from observatoire.partenaires.store import inbox_files

        return inbox_files(load_settings())

    @task(pool=POOL, map_index_template="{{ partner_file }}")
    def import_file(name: str) -> dict:
        import logging

        from airflow.sdk import get_current_context

        from observatoire.config import load_settings
        from observatoire.partenaires.store import process_inbox_file

        context = get_current_context()
        context["partner_file"] = name
        out = process_inbox_file(load_settings(), name, remplacer=bool(context["params"].get("remplacer")))
        logging.getLogger("observatoire").info("%s\n%s", name, out.get("text") or out["message"])
        return {k: v for k, v in out.items() if k != "text"}

    @task(trigger_rule="all_done", retries=0)
    def summarise(results) -> dict:
        from observatoire.partenaires.store import summarise_inbox

        return summarise_inbox(list(results or []))

    summarise(import_file.expand(name=list_inbox()))


observatoire_partenaires()
