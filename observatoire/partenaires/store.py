"""Loading a valid partner file, the inbox, and the table the pipeline loads.

* :func:`import_file` validates, then, under the data directory's writer lock: a file already current for its
  (indicateur, millésime) changes nothing; a different file for an (indicateur, millésime) already received is
  refused unless ``remplacer``; otherwise the original is kept as ``partenaires/fichiers/<sha256>.<ext>``
  (read-only, never named after what the partner called it), its values as ``partenaires/valeurs/<sha256>.parquet``
  and a provenance row in the run history (``partenaires_fichiers``), the previous file marked ``replaced``. Every
  file is written to a temporary name and renamed (``os.replace``); the history row, written last in one SQLite
  transaction, is what makes a file current.
* :func:`process_inbox_file` does the same for a file of ``partenaires/inbox/`` and moves it to ``traites/`` or
  ``rejetes/`` with its French report beside it (what the ``observatoire_partenaires`` DAG runs).
* :func:`values_table` is ``raw.partenaires_valeurs``: the values of every current file (possibly none).
"""

from __future__ import annotations

import os
import re
import tempfile
import unicodedata
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path

from observatoire.config import Settings
from observatoire.partenaires.validation import (
    Report,
    clean_file_name,
    read_file,
    validate_bytes,
)

IMPORTED = "importe"
REPLACED = "remplace"
UNCHANGED = "deja_importe"
REFUSED = "refuse"  # valid, but an (indicateur, millésime) already received and no --remplacer
REJECTED = "rejete"  # invalid: nothing loaded
ACCEPTED_STATUSES = (IMPORTED, REPLACED, UNCHANGED)

#: raw.partenaires_valeurs (one row per QPV listed in a current partner file)
VALUE_COLUMNS = (("indicateur", "string"), ("code_qpv", "string"), ("millesime", "int32"), ("valeur", "float64"),
                 ("statut", "string"), ("commentaire", "string"), ("partenaire", "string"), ("nom_qpv", "string"),
                 ("_ligne", "int32"), ("_feuille", "string"), ("_sha256", "string"), ("_nom_fichier", "string"),
                 ("_recu_le", "string"), ("_rupture", "string"))
#: the columns kept per file in partenaires/valeurs/<sha256>.parquet (the rest comes from the history row)
FILE_COLUMNS = VALUE_COLUMNS[:11]


class PartnerStoreError(RuntimeError):
    """The partner store is inconsistent (a current file's values are missing and cannot be rebuilt)."""


def values_schema():
    import pyarrow as pa

    return pa.schema([(name, getattr(pa, kind)()) for name, kind in VALUE_COLUMNS])


# -- where things live -----------------------------------------------------------------------------------

def root(settings: Settings) -> Path:
    return settings.data_dir / "partenaires"


def inbox_dir(settings: Settings) -> Path:
    return root(settings) / "inbox"


def files_dir(settings: Settings) -> Path:
    return root(settings) / "fichiers"


def values_dir(settings: Settings) -> Path:
    return root(settings) / "valeurs"


def processed_dir(settings: Settings) -> Path:
    return root(settings) / "traites"


def rejected_dir(settings: Settings) -> Path:
    return root(settings) / "rejetes"


def ensure_dirs(settings: Settings) -> None:
    for d in (inbox_dir(settings), files_dir(settings), values_dir(settings), processed_dir(settings),
              rejected_dir(settings)):
        d.mkdir(parents=True, exist_ok=True)


def _write_atomic(dest: Path, content: bytes, *, read_only: bool = False) -> None:
    dest.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(prefix=f".{dest.name}.", suffix=".tmp", dir=dest.parent)
    try:
        with os.fdopen(fd, "wb") as fh:
            fh.write(content)
            fh.flush()
            os.fsync(fh.fileno())
        if read_only:
            os.chmod(tmp, 0o444)
        os.replace(tmp, dest)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise


# -- import ------------------------------------------------------------------------------------------

@dataclass
class ImportResult:
    status: str  # importe | remplace | deja_importe | refuse | rejete
    message: str  # French, for the partner and the team
    report: Report
    row: dict | None = None  # the provenance row (current, or the one in the way for ``refuse``)

    @property
    def ok(self) -> bool:
        return self.status in ACCEPTED_STATUSES

    def text(self) -> str:
        return self.report.text() + "\n" + self.message + "\n"


def _fr_date(iso: str | None) -> str:
    if not iso:
        return "?"
    try:
        return datetime.fromisoformat(iso).strftime("%d/%m/%Y à %H:%M UTC")
    except ValueError:
        return iso


def _values_parquet(report: Report) -> bytes:
    import io

    import pyarrow as pa
    import pyarrow.parquet as pq

    schema = values_schema()
    rows = [{"indicateur": report.indicateur, "code_qpv": r["code_qpv"], "millesime": report.millesime,
             "valeur": r["valeur"], "statut": r["statut"], "commentaire": r["commentaire"],
             "partenaire": report.partenaire, "nom_qpv": r["nom_qpv"], "_ligne": r["ligne"], "_feuille": report.sheet,
             "_sha256": report.sha256} for r in report.rows]
    table = pa.Table.from_pylist(rows, schema=pa.schema([schema.field(n) for n, _ in FILE_COLUMNS]))
    buf = io.BytesIO()
    pq.write_table(table, buf)
    return buf.getvalue()


def previous_partner_file(history, indicateur: str, millesime: int) -> dict | None:
    """What a new partner file is compared with: the file in force for the same indicator and millésime, else
    the one of the latest earlier millésime; None for the indicator's first file."""
    rows = history.query(
        "SELECT * FROM partenaires_fichiers WHERE indicateur = ? AND status = 'current' AND millesime <= ? "
        "ORDER BY millesime DESC LIMIT 1", (indicateur, millesime))
    return rows[0] if rows else None


def compare_with_previous(settings: Settings, report: Report, previous: dict, *, rupture: str | None = None) -> None:
    """The gate that remembers, for a partner file: against ``previous`` (same indicator), QPV by QPV, the share
    of values changed by more than ×2, the share of empty or secret cells and the median. A jump beyond the
    tolerances of :mod:`expectations.drift` is an error of the file (a warning with ``rupture``, a deliberate
    break recorded with the file)."""
    import statistics

    import pyarrow.parquet as pq

    from expectations.drift import DEFAULT_TOLERANCES as TOL
    from observatoire.partenaires.validation import ERROR, WARNING, fr_number

    path = settings.data_dir / previous["values_path"]
    if not path.exists():
        return
    before = {r["code_qpv"]: r for r in pq.read_table(path, columns=["code_qpv", "valeur", "statut"]).to_pylist()}
    after = {r["code_qpv"]: r for r in report.rows}
    level = WARNING if rupture else ERROR
    what = (f"le fichier précédent de cet indicateur (« {previous['nom_fichier']} », millésime "
            f"{previous['millesime']}, reçu le {_fr_date(previous['received_at'])})")
    advice = (" Si le changement est voulu (nouvelle méthode, nouveau périmètre), importez le fichier avec "
              "--accepter-rupture \"motif\" : la rupture de série sera enregistrée." if not rupture
              else f" Rupture de série acceptée : {rupture}.")
    common = [c for c in after if c in before]
    if len(common) < TOL.min_rows:
        return
    empty_before = sum(1 for c in common if before[c]["valeur"] is None) / len(common)
    empty_after = sum(1 for c in common if after[c]["valeur"] is None) / len(common)
    if empty_after - empty_before > TOL.max_null_increase:
        report.add(level, f"Écart avec {what} : {empty_after:.0%} de cellules vides ou au secret contre "
                          f"{empty_before:.0%} auparavant.{advice}", column="valeur", csv=report.format == "csv")
    # small counts move by more than ×2 by chance alone (3 then 7): a count compared only where it is not small
    from observatoire.catalogue import indicateurs

    info = indicateurs().get(report.indicateur or "") or {}
    floor = max(10.0, float(info.get("seuil_secret") or 0)) if info.get("agregation") == "somme" else 0.0
    pairs = [(c, before[c]["valeur"], after[c]["valeur"]) for c in common
             if (before[c]["valeur"] or 0) > 0 and (after[c]["valeur"] or 0) > 0
             and max(before[c]["valeur"], after[c]["valeur"]) >= floor]
    if len(pairs) >= TOL.min_rows:
        jumped = [(c, b, a) for c, b, a in pairs if a / b > TOL.factor or a / b < 1 / TOL.factor]
        if len(jumped) / len(pairs) > TOL.max_share_jumped:
            import math

            code, b, a = max(jumped, key=lambda t: abs(math.log(t[2] / t[1])))
            report.add(level, f"Écart avec {what} : {len(jumped)} quartiers sur {len(pairs)} "
                              f"({len(jumped) / len(pairs):.0%}) ont une valeur multipliée ou divisée par plus de "
                              f"{TOL.factor:g} ; le plus touché {code} : {fr_number(b)} avant, {fr_number(a)} après "
                              f"(une erreur d'unité ?).{advice}", column="valeur", csv=report.format == "csv")
        else:
            med_b = statistics.median(b for _, b, _ in pairs)
            med_a = statistics.median(a for _, _, a in pairs)
            if med_b > 0 and not (1 / TOL.max_median_factor <= med_a / med_b <= TOL.max_median_factor):
                report.add(level, f"Écart avec {what} : médiane {fr_number(med_a)} contre {fr_number(med_b)} "
                                  f"auparavant.{advice}", column="valeur", csv=report.format == "csv")


def import_file(settings: Settings, path: Path | str, *, remplacer: bool = False, file_name: str | None = None,
                year: int | None = None, rupture: str | None = None) -> ImportResult:
    """Validate ``path`` and, if it is valid, load it (see the module's docstring). Never raises for a bad file.
    The file is also compared with the indicator's previous file (:func:`compare_with_previous`); ``rupture``
    accepts a deliberate break of series (recorded with the file)."""
    from observatoire.history import History, now_iso
    from observatoire.locking import writer_lock

    report = Report(file_name=clean_file_name(file_name or Path(path).name))
    data = read_file(path, report)
    if data is not None:
        validate_bytes(data, report, perimetre=settings.perimetre, year=year)
    if not report.ok or data is None:
        return ImportResult(REJECTED, "Fichier refusé : rien n'a été chargé.", report)
    ind, mil, sha = report.indicateur, report.millesime, report.sha256
    settings.meta_dir.mkdir(parents=True, exist_ok=True)
    with writer_lock(settings.lock_path, f"observatoire partenaires importer {report.file_name}"):
        history = History(settings.history_db)
        current = history.current_partner_file(ind, mil)
        if current and current["sha256"] == sha:
            return ImportResult(UNCHANGED, f"Fichier déjà importé le {_fr_date(current['received_at'])} (sous le nom "
                                f"« {current['nom_fichier']} ») : rien n'a changé.", report, current)
        previous = previous_partner_file(history, ind, mil)
        if previous:
            compare_with_previous(settings, report, previous, rupture=rupture)
            if not report.ok:
                return ImportResult(REJECTED, "Fichier refusé : rien n'a été chargé.", report)
        if current and not remplacer:
            return ImportResult(
                REFUSED,
                f"Fichier valide mais non chargé : un fichier a déjà été importé pour l'indicateur {ind}, millésime "
                f"{mil} (« {current['nom_fichier']} », de {current['partenaire']}, reçu le "
                f"{_fr_date(current['received_at'])}, sha256 {current['sha256'][:16]}…). Pour le remplacer : "
                "observatoire partenaires importer FICHIER --remplacer (l'ancien reste dans l'historique).",
                report, current)
        ensure_dirs(settings)
        original = files_dir(settings) / f"{sha}.{report.format}"
        if not original.exists():
            _write_atomic(original, data, read_only=True)
        values = values_dir(settings) / f"{sha}.parquet"
        _write_atomic(values, _values_parquet(report))
        row = history.record_partner_file({
            "sha256": sha, "indicateur": ind, "millesime": mil, "partenaire": report.partenaire,
            "nom_fichier": report.file_name, "format": report.format, "bytes": report.size,
            "received_at": now_iso(), "rows": len(report.rows), "valeurs": report.values,
            "stored_path": str(original.relative_to(settings.data_dir)),
            "values_path": str(values.relative_to(settings.data_dir)),
            "rupture": rupture if previous else None,  # a break accepted against the previous file
        })
    done = (f"Importé : indicateur {ind}, millésime {mil}, {len(report.rows)} quartiers dont {report.values} "
            f"valeurs, de « {report.partenaire} ».")
    if current:
        done += (f" Remplace « {current['nom_fichier']} » reçu le {_fr_date(current['received_at'])} (conservé dans "
                 "l'historique).")
    done += " Les valeurs seront publiées au prochain traitement (observatoire run)."
    return ImportResult(REPLACED if current else IMPORTED, done, report, row)


# -- the table the pipeline loads -------------------------------------------------------------------------

def values_table(settings: Settings, history=None):
    """``raw.partenaires_valeurs``: the rows of every current partner file, with their provenance; an empty
    table with the same columns when no file was received (dbt then runs unchanged)."""
    import pyarrow as pa
    import pyarrow.parquet as pq

    from observatoire.history import History

    history = history or History(settings.history_db)
    schema = values_schema()
    tables = []
    for f in history.current_partner_files():
        path = settings.data_dir / f["values_path"]
        if not path.exists():
            _rebuild_values(settings, f, path)
        t = pq.read_table(path).select([n for n, _ in FILE_COLUMNS])
        n = t.num_rows
        t = t.append_column("_nom_fichier", pa.array([f["nom_fichier"]] * n, pa.string()))
        t = t.append_column("_recu_le", pa.array([f["received_at"]] * n, pa.string()))
        t = t.append_column("_rupture", pa.array([f.get("rupture")] * n, pa.string()))
        tables.append(t.cast(schema))
    return pa.concat_tables(tables) if tables else schema.empty_table()


def _rebuild_values(settings: Settings, f: dict, dest: Path) -> None:
    """A current file's values went missing: rebuild them from the kept original, or fail loudly."""
    original = settings.data_dir / f["stored_path"]
    report = Report(file_name=f["nom_fichier"])
    data = read_file(original, report) if original.exists() else None
    if data is not None:
        validate_bytes(data, report, perimetre=settings.perimetre)
    if data is None or not report.ok or report.sha256 != f["sha256"]:
        raise PartnerStoreError(
            f"partner file {f['sha256'][:16]} ({f['indicateur']} {f['millesime']}, {f['nom_fichier']}): its values "
            f"{dest} are missing and cannot be rebuilt from {original}:\n{report.text()}")
    _write_atomic(dest, _values_parquet(report))


# -- the inbox -----------------------------------------------------------------------------------------

def inbox_files(settings: Settings) -> list[str]:
    """Names of the files waiting in the inbox: regular files only (no symbolic link, no directory), neither
    hidden nor an Office lock file (``~$…``)."""
    inbox = inbox_dir(settings)
    inbox.mkdir(parents=True, exist_ok=True)
    with os.scandir(inbox) as entries:
        return sorted(e.name for e in entries
                      if not e.name.startswith((".", "~$")) and e.is_file(follow_symlinks=False))


def safe_name(name: str) -> str:
    """A file name safe to use on disk, derived from an untrusted one."""
    ascii_name = unicodedata.normalize("NFKD", clean_file_name(name)).encode("ascii", "ignore").decode()
    base = re.sub(r"[^A-Za-z0-9._-]+", "_", ascii_name).lstrip("._")
    return base[-80:] or "fichier"


def process_inbox_file(settings: Settings, name: str, *, remplacer: bool = False) -> dict:
    """Import one file of the inbox, then move it to ``traites/`` (loaded or already loaded) or ``rejetes/``
    (invalid, or refused without ``remplacer``), with ``<same name>.rapport.txt`` beside it."""
    if not name or name in (".", "..") or name != os.path.basename(name) or "\x00" in name or "\\" in name:
        raise ValueError(f"not a file name of the inbox: {name!r}")
    path = inbox_dir(settings) / name
    try:
        st = os.lstat(path)
    except FileNotFoundError:
        return {"file": name, "status": "absent", "ok": True, "message": "déjà traité (plus dans la boîte de dépôt)"}
    import stat

    if not stat.S_ISREG(st.st_mode):
        raise ValueError(f"not a regular file of the inbox: {name!r}")
    result = import_file(settings, path, remplacer=remplacer, file_name=name)
    dest_dir = processed_dir(settings) if result.ok else rejected_dir(settings)
    dest_dir.mkdir(parents=True, exist_ok=True)
    stamp = datetime.now(UTC).strftime("%Y%m%dT%H%M%SZ")
    base = f"{stamp}-{(result.report.sha256 or 'illisible')[:12]}-{safe_name(name)}"
    report_path = dest_dir / f"{base}.rapport.txt"
    _write_atomic(report_path, result.text().encode("utf-8"))
    moved = dest_dir / base
    os.replace(path, moved)
    return {"file": name, "status": result.status, "ok": result.ok, "message": result.message,
            "indicateur": result.report.indicateur, "millesime": result.report.millesime,
            "sha256": result.report.sha256, "errors": len(result.report.errors),
            "moved_to": str(moved), "report": str(report_path), "text": result.text()}


#: the statuses of :func:`process_inbox_file` meaning « loaded » and « already loaded »
LOADED_STATUSES = ("importe", "remplace")
UNCHANGED_STATUSES = ("deja_importe",)


class InboxRejected(RuntimeError):
    """Files of the inbox were not loaded: the message lists them with the report to send back."""


def summarise_inbox(results: list[dict | None]) -> dict:
    """The outcome of processing the inbox (the :func:`process_inbox_file` results; None for a file whose task
    failed): files, loaded, unchanged, rejected. Raises :class:`InboxRejected` when a file was rejected, so that
    the run fails and the team is warned with the reports to send back to the partners."""
    outcomes = [r for r in (results or []) if r]
    rejected = [r for r in outcomes if not r["ok"]]
    if rejected:
        lines = [f"- {r['file']} ({r['status']}): {r['message']} — rapport : {r.get('report', '?')}" for r in rejected]
        raise InboxRejected(f"{len(rejected)} partner file(s) not loaded; send the reports back to the partners:\n"
                            + "\n".join(lines))
    return {"files": len(outcomes),
            "loaded": sum(1 for r in outcomes if r["status"] in LOADED_STATUSES),
            "unchanged": sum(1 for r in outcomes if r["status"] in UNCHANGED_STATUSES),
            "rejected": []}
