"""``observatoire snapshot create``: freeze the published warehouse into an immutable edition (or a correction)."""

from __future__ import annotations

import base64
import hashlib
import json
import os
import shutil
from collections.abc import Callable, Mapping
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from extract.landing import file_sha256 as sha256_file
from observatoire.config import DEMO_NOTICE, Settings
from observatoire.snapshot.base import (
    EVALUATION_TABLE,
    MANIFEST,
    README,
    SIGNATURE,
    SIGNING_KEY_ENV,
    SITE_DIR,
    SUMS,
    Snapshot,
    SnapshotDemoRefused,
    SnapshotError,
    SnapshotExists,
    _dicts,
    _meta_columns,
    _one_dict,
    open_snapshot,
    parse_version,
    snapshots_dir,
    versions,
)
from observatoire.snapshot.cells import Catalogue
from observatoire.snapshot.readme import _demo_warning, _readme
from observatoire.snapshot.signing import (
    SigningKey,
    _inside,
    _signature_block,
    signature_info,
    signing_key_of,
)
from observatoire.snapshot.verify import _diff_fct
from observatoire.snapshot.workbook import _write_workbook
from observatoire.snapshot.writers import _tool_versions, write_csv
from observatoire.warehouse import _lit, _q, copy_comments  # shared with the publication

# -- create -----------------------------------------------------------------------------------------------


def next_version(settings: Settings, edition: int, correction: str | None) -> tuple[str, str | None]:
    """The version to write and, for a correction, the version it corrects."""
    existing = [v for v in versions(settings) if parse_version(v)[0] == edition]
    if correction is None:
        if existing or (snapshots_dir(settings) / str(edition)).exists():
            raise SnapshotExists(
                f"edition {edition} already exists ({', '.join(existing) or snapshots_dir(settings) / str(edition)}); "
                f"a snapshot is never rewritten: to correct it, run `observatoire snapshot create --edition {edition} "
                "--correction \"motif\"`")
        return str(edition), None
    if not existing:
        raise SnapshotError(f"edition {edition} does not exist: there is nothing to correct (create it first, "
                            f"without --correction)")
    last = max(existing, key=parse_version)
    return f"{edition}.{parse_version(last)[1] + 1}", last


def create(settings: Settings, edition: int, correction: str | None = None, *, demo: bool | None = None,
           log: Callable[[str], None] = lambda msg: None) -> Snapshot:
    """Freeze the published warehouse as ``edition`` (or a correction of it); returns the new snapshot.

    ``demo``: False (the CLI without ``--demo``, the annual DAG by default) refuses a demo publication, True (``--demo``)
    requires one, None (library callers) accepts either; :class:`SnapshotDemoRefused` otherwise. The edition of a
    demo publication is marked as such in every file that can say it, whatever ``demo`` is.

    Signed when the settings' ``OBSERVATOIRE_SIGNING_KEY`` names a
    private key: checked first, :class:`SigningKeyError` before anything is written."""
    from observatoire.locking import writer_lock

    if not 2000 <= int(edition) <= 2100:
        raise SnapshotError(f"--edition {edition}: expected a year (e.g. 2025)")
    if correction is not None and not correction.strip():
        raise SnapshotError("--correction needs a reason (motif), e.g. --correction \"révision Filosofi 2021\"")
    signing = signing_key_of(settings)
    if signing is not None and _inside(signing.path, settings.data_dir):
        log(f"warning: the signing key {signing.path} lies inside the data directory {settings.data_dir}: keep it "
            "outside, where only the account that signs can read it (docs/runbook.md, « Snapshot signatures »)")
    if not settings.published_db.exists():
        raise SnapshotError(f"nothing published yet in {settings.data_dir}: run `observatoire run` first")
    root = snapshots_dir(settings)
    with writer_lock(settings.lock_path, f"snapshot create --edition {edition}"):
        if demo is not None:
            check_demo_acknowledged(settings, demo)
        version, corrects = next_version(settings, int(edition), correction)
        if corrects is not None and signing is None \
                and signature_info(open_snapshot(settings, corrects).manifest).get("signed"):
            log(f"warning: {corrects} is signed but {SIGNING_KEY_ENV} is not set: the correction {version} will be "
                "unsigned")
        root.mkdir(parents=True, exist_ok=True)
        for stale in root.glob(".tmp-*"):  # a snapshot that died half-way (we hold the lock: nobody else writes)
            shutil.rmtree(stale, ignore_errors=True)
        tmp = root / f".tmp-{version}-{os.getpid()}"
        tmp.mkdir()
        try:
            manifest = _write_snapshot(settings, tmp, int(edition), version, correction, corrects, log,
                                       signing)
            for path in tmp.rglob("*"):
                if path.is_file():
                    path.chmod(0o444)
            os.rename(tmp, root / version)  # atomic; fails if the version appeared meanwhile
        except BaseException:
            shutil.rmtree(tmp, ignore_errors=True)
            raise
    log(f"snapshot {version} written to {root / version}, "
        + (f"signed with key {signing.fingerprint}" if signing else f"unsigned ({SIGNING_KEY_ENV} not set)"))
    return Snapshot(version=version, path=root / version, manifest=manifest)


def demo_publication(publication: dict, landings: list[dict]) -> str | None:
    """Why a publication holds demo data (its mode, or source files landed from the project's recordings), or None
    for live data. The recordings are checked too: a directory from before demo and live were kept apart may hold
    recordings under a publication made in live mode."""
    if publication.get("mode") == "demo" or publication.get("donnees_synthetiques"):
        return f"its meta.publication says mode demo (run {publication.get('run_id')})"
    recordings = [f"{r['source_id']}/{r['millesime']}" for r in landings if r.get("url_origin") == "recording"]
    if recordings:
        return (f"{len(recordings)} of the source files it was built from are the project's recordings "
                f"(url_origin 'recording': {', '.join(recordings[:5])}{' …' if len(recordings) > 5 else ''}), "
                f"although it was published in mode {publication.get('mode')}")
    return None


def published_demo_reason(settings: Settings) -> str | None:
    """:func:`demo_publication` of the published warehouse (read-only)."""
    import duckdb

    con = duckdb.connect()
    try:
        con.execute(f"ATTACH {_lit(str(settings.published_db))} AS pub (READ_ONLY)")
        has_publication = con.execute(
            "SELECT count(*) FROM duckdb_tables() WHERE database_name = 'pub' AND schema_name = 'meta' "
            "AND table_name = 'publication'").fetchone()[0]
        publication = _one_dict(con, "SELECT * FROM pub.meta.publication") if has_publication else {}
        return demo_publication(publication, _landings_in_use(con))
    finally:
        con.close()


def check_demo_acknowledged(settings: Settings, demo: bool) -> None:
    """Refuse an edition of demo data without ``--demo``, and ``--demo`` on live data (:class:`SnapshotDemoRefused`)."""
    reason = published_demo_reason(settings)
    if reason and not demo:
        raise SnapshotDemoRefused(
            f"the published warehouse {settings.published_db} holds demo data: {reason}. These are the project's "
            "recordings (real formats, synthetic values): an edition made from them would present invented figures "
            "as the observatory's. Nothing was written. To freeze it anyway as a demonstration edition, marked "
            f"« {DEMO_NOTICE} » in its README.md, manifest.json, workbook notes and DuckDB file, add --demo "
            "(DAG observatoire_snapshot_annuel: param demo). For a real edition, publish live data in a live data "
            "directory (OBSERVATOIRE_MODE=live, OBSERVATOIRE_DATA_DIR=./data) and create the edition there")
    if demo and not reason:
        raise SnapshotDemoRefused(
            f"--demo: the published warehouse {settings.published_db} holds live data (the publishers' files), "
            "not demo data: its edition is not a demonstration and must not be marked as one. Run it without --demo")


def _check_same_territory(settings: Settings, edition: int, publication: dict) -> None:
    """A correction of an edition describes the territory the edition describes: refuse to freeze a publication
    made for another perimeter (it would be another observatory under the edition's name)."""
    from observatoire.config import DEFAULT_PERIMETRE

    published = publication.get("perimetre") or DEFAULT_PERIMETRE
    # the edition's perimeter is the one its first version (the edition itself) was made for
    first = min((v for v in versions(settings) if parse_version(v)[0] == edition), key=parse_version)
    expected = (open_snapshot(settings, first).manifest.get("publication") or {}).get("perimetre") \
        or DEFAULT_PERIMETRE
    if published != expected:
        raise SnapshotError(
            f"edition {edition} describes the perimeter {expected} (version {first}), but the published warehouse "
            f"(run {publication.get('run_id')}) was built for the perimeter {published}: a correction of edition "
            f"{edition} must stay on the same territory. Publish {expected} again first "
            f"(OBSERVATOIRE_PERIMETRE={expected} observatoire run), or keep each territory in its own data "
            "directory")


def _write_snapshot(settings: Settings, out: Path, edition: int, version: str, correction: str | None,
                    corrects: str | None, log: Callable[[str], None], signing: SigningKey | None = None) -> dict:
    import duckdb

    from observatoire.warehouse import STORAGE_VERSION

    created_at = datetime.now(UTC).isoformat(timespec="seconds")
    db_name = f"observatoire_{version}.duckdb"
    (out / "parquet").mkdir()
    (out / "csv").mkdir()
    con = duckdb.connect()
    try:
        con.execute(f"ATTACH {_lit(str(settings.published_db))} AS pub (READ_ONLY)")
        con.execute(f"ATTACH {_lit(str(out / db_name))} AS snap (STORAGE_VERSION {_lit(STORAGE_VERSION)})")
        tables = [r[0] for r in con.execute(
            "SELECT table_name FROM duckdb_tables() WHERE database_name = 'pub' AND schema_name = 'main' "
            "ORDER BY table_name").fetchall()]
        if "fct_indicateur_qpv" not in tables:
            raise SnapshotError(f"{settings.published_db} holds no fct_indicateur_qpv: not an observatoire warehouse")
        if EVALUATION_TABLE not in tables:
            raise SnapshotError(f"{settings.published_db} holds no {EVALUATION_TABLE} (a publication older than "
                                "that mart): run `observatoire run` to publish again, then create the edition")
        publication = _one_dict(con, "SELECT * FROM pub.meta.publication")
        if corrects is not None:
            _check_same_territory(settings, edition, publication)
        # the provenance of this publication only: the data directory's history also holds other runs,
        # quarantined, superseded and purged files, and the validations that judged them
        landings = _landings_in_use(con)
        demo_reason = demo_publication(publication, landings)
        log(f"freezing publication {publication.get('run_id')} ({len(tables)} tables) as {version}"
            + (f" — {DEMO_NOTICE}: {demo_reason}" if demo_reason else ""))
        for t in tables:
            con.execute(f"CREATE TABLE snap.main.{_q(t)} AS SELECT * FROM pub.main.{_q(t)} ORDER BY ALL")
            # the French descriptions (dbt persist_docs), which CREATE TABLE … AS does not keep
            copy_comments(con, ("pub", "main", t), ("snap", "main", t))
        # labels, units and the publisher's decimals of every indicator: the CSV and the workbook round with them
        catalogue = Catalogue.from_db(con, "snap.main", publication.get("perimetre"))
        validations = _validations_in_scope(con, publication.get("run_id"), landings)
        _copy_meta(con, publication.get("run_id"), landings, validations)
        sources = _sources(landings)
        table_info = {}
        for t in tables:
            cols = [r[0] for r in con.execute(
                "SELECT column_name FROM duckdb_columns() WHERE database_name = 'snap' AND schema_name = 'main' "
                "AND table_name = ? ORDER BY column_index", [t]).fetchall()]
            rows = con.execute(f"SELECT count(*) FROM snap.main.{_q(t)}").fetchone()[0]
            table_info[t] = {"rows": rows, "columns": cols}
            select = f"SELECT * FROM snap.main.{_q(t)} ORDER BY ALL"
            con.execute(f"COPY ({select}) TO {_lit(str(out / 'parquet' / f'{t}.parquet'))} "
                        "(FORMAT parquet, COMPRESSION zstd)")
            write_csv(con, select, out / "csv" / f"{t}.csv", table=t, catalogue=catalogue)
        log("parquet and csv written")
        changes = _changes(settings, corrects, out) if corrects else None
        doc: dict[str, Any] = {
            "edition": edition,
            "version": version,
            "created_at": created_at,
            "correction": None if corrects is None else {
                "motif": correction.strip(), "corrige": corrects, "changements": changes},
            "run_id": publication.get("run_id"),
            "donnees_demonstration": demo_reason is not None,
            "avertissement": _demo_warning() if demo_reason else None,
            "publication": {k: publication.get(k) for k in (
                "run_id", "mode", "donnees_synthetiques", "perimetre", "published_at", "git_commit", "fingerprint")}
            | ({"donnees_synthetiques": True} if demo_reason else {}),
            "validations": validations,
            "validations_reussies": all(bool(v["success"]) for v in validations) if validations else None,
            "sources": sources,
            "fichiers_partenaires": _partner_files(con),
            "tools": _tool_versions(),
            "git_commit": publication.get("git_commit"),
            # written before signing: the signature covers the key's fingerprint too
            "signature": _signature_block(signing),
            "tables": table_info,
        }
        con.execute("CREATE TABLE snap.meta.snapshot AS SELECT ? AS edition, ? AS version, ? AS created_at, "
                    "? AS correction, ? AS corrige, ? AS donnees_demonstration, ? AS avertissement",
                    [edition, version, created_at, correction, corrects, doc["donnees_demonstration"],
                     doc["avertissement"]])
        con.execute("DETACH snap")
        con.execute(f"ATTACH {_lit(str(out / db_name))} AS snap (READ_ONLY)")
        _write_workbook(con, "snap.main", set(tables), catalogue, doc, out / f"observatoire_{version}.xlsx")
        log("xlsx written")
    finally:
        con.close()
    # the static site of the publication, frozen with the edition (listed with its sha256 like every file)
    from observatoire import site as site_module
    from observatoire.site import build_site

    try:
        # its messages name the final folder, not the temporary one renamed into place at the end
        site = build_site(settings.published_db, out / SITE_DIR,
                          log=lambda msg: log(str(msg).replace(str(out), str(out.parent / version))))
    except getattr(site_module, "SiteError", SnapshotError) as err:  # a site that cannot be built: no edition
        raise SnapshotError(f"snapshot {version} not written: the static site could not be built from "
                            f"{settings.published_db}: {err}") from err
    doc["site"] = _site_summary(out / SITE_DIR, site)
    log(f"site written ({doc['site']['fichiers']} files)")
    (out / README).write_text(_readme(doc, db_name), encoding="utf-8")
    doc["files"] = [{"path": p.relative_to(out).as_posix(), "sha256": sha256_file(p), "bytes": p.stat().st_size}
                    for p in sorted(out.rglob("*")) if p.is_file()]
    manifest = (json.dumps(doc, ensure_ascii=False, indent=2, default=str) + "\n").encode("utf-8")
    (out / MANIFEST).write_bytes(manifest)
    sums = [(f["sha256"], f["path"]) for f in doc["files"]] + [(hashlib.sha256(manifest).hexdigest(), MANIFEST)]
    if signing is not None:  # the signature of manifest.json's exact bytes, which list every file's sha256
        (out / SIGNATURE).write_bytes(base64.b64encode(signing.key.sign(manifest)) + b"\n")
        sums.append((sha256_file(out / SIGNATURE), SIGNATURE))
    (out / SUMS).write_text("".join(f"{h}  {p}\n" for h, p in sorted(sums, key=lambda x: x[1])), encoding="utf-8")
    return doc


def _landings_in_use(con) -> list[dict]:
    """The landed files the publication was built from: for each source and millésime, the accepted file seen
    most recently when it was published (what ``History.current_landings`` gave the run that loaded the
    warehouse; ``meta.manifest`` is the landing manifest as it stood at publication, in its row order).
    Quarantined, superseded and purged files are not among them."""
    if not {"source_id", "millesime", "sha256", "status", "last_seen_at"} <= _meta_columns(con, "manifest"):
        return []
    return _dicts(con, """
        SELECT * EXCLUDE (_rn, _row) FROM (
            SELECT *, row_number() OVER (PARTITION BY source_id, millesime
                                         ORDER BY last_seen_at DESC, _row DESC) AS _rn
            FROM (SELECT *, rowid AS _row FROM pub.meta.manifest) WHERE status = 'accepted')
        WHERE _rn = 1 ORDER BY source_id, millesime""")


def _validations_in_scope(con, run_id: str | None, landings: list[dict]) -> list[dict]:
    """The validations the publication rests on: every suite of the run that published it (its raw gate for
    the files it landed, its mart gate) and, for each file in use, the raw gate that accepted it, in whichever
    run that was (a file accepted earlier and unchanged since is not validated again). One entry per suite and
    run, each with its ``run_id`` and, for a raw gate, the sha256 of the file it judged."""
    if not {"run_id", "suite", "target", "success"} <= _meta_columns(con, "validations"):
        return []
    rows = _dicts(con, "SELECT *, rowid AS _row FROM pub.meta.validations ORDER BY rowid")
    for r in rows:
        try:
            summary = json.loads(r.get("summary") or "{}")
        except ValueError:
            summary = {}
        r["sha256"] = summary.get("sha256") if isinstance(summary, dict) else None
    kept = {(r["run_id"], r["suite"]): r for r in rows if run_id is not None and r["run_id"] == run_id}
    for landing in landings:
        suite = f"raw_{landing['source_id']}_{landing['millesime']}"
        try:
            accepted_by = json.loads(landing.get("validation") or "{}")
        except ValueError:
            accepted_by = {}
        accepted_by = accepted_by if isinstance(accepted_by, dict) else {}
        judged = [r for r in rows if r["suite"] == suite and r["sha256"] in (landing["sha256"], None)]
        # the validation the manifest row points at (its details file is per run and suite), else the latest
        # successful one of this very file
        found = ([r for r in judged if accepted_by.get("details_path")
                  and r.get("details_path") == accepted_by["details_path"]]
                 or [r for r in judged if r["sha256"] == landing["sha256"] and r["success"]])
        if found:
            r = max(found, key=lambda r: (str(r.get("created_at") or ""), r["_row"]))
            kept[(r["run_id"], r["suite"])] = {**r, "sha256": landing["sha256"]}
        else:  # no record of the gate's run left: what the landing manifest says of its acceptance
            kept[(None, suite)] = {"run_id": None, "suite": suite, "target": f"raw:{landing['source_id']}",
                                   "success": accepted_by.get("success"), "evaluated": accepted_by.get("evaluated"),
                                   "failed": accepted_by.get("failed"), "errors": accepted_by.get("errors"),
                                   "sha256": landing["sha256"]}
    keys = ("suite", "target", "success", "evaluated", "failed", "errors", "run_id", "sha256")
    return sorted(({k: r.get(k) for k in keys} for r in kept.values()),
                  key=lambda v: (v["suite"], v["target"] or "", v["run_id"] or ""))


def _copy_meta(con, run_id: str | None, landings: list[dict], validations: list[dict]) -> None:
    """The ``meta`` schema of the snapshot's DuckDB file: the publication, and the same scope as manifest.json
    (the files in use, the validations in scope, the runs that ran them, the partner files in force)."""
    con.execute("CREATE SCHEMA snap.meta")
    keys = {"_in_use": ("source_id VARCHAR, millesime BIGINT, sha256 VARCHAR",
                        [[r["source_id"], r["millesime"], r["sha256"]] for r in landings]),
            "_validated": ("run_id VARCHAR, suite VARCHAR",
                           [[v["run_id"], v["suite"]] for v in validations if v["run_id"] is not None])}
    for name, (columns, rows) in keys.items():
        con.execute(f"CREATE TEMP TABLE {name} ({columns})")
        if rows:
            con.executemany(f"INSERT INTO {name} VALUES ({', '.join('?' * len(rows[0]))})", rows)
    con.execute("CREATE TEMP TABLE _runs AS SELECT run_id FROM _validated UNION SELECT ?", [run_id])
    scope = {
        "publication": ("true", set()),
        "manifest": ("EXISTS (SELECT 1 FROM _in_use AS i WHERE i.source_id = t.source_id "
                     "AND i.millesime = t.millesime AND i.sha256 = t.sha256)", {"source_id", "millesime", "sha256"}),
        "validations": ("EXISTS (SELECT 1 FROM _validated AS v WHERE v.run_id = t.run_id AND v.suite = t.suite)",
                        {"run_id", "suite"}),
        "runs": ("t.run_id IN (SELECT run_id FROM _runs)", {"run_id"}),
        "partenaires_fichiers": ("t.status = 'current'", {"status"}),
    }
    for table, (keep, needs) in scope.items():
        cols = _meta_columns(con, table)
        if not cols:
            continue
        if not needs <= cols:  # an empty table (written without columns): nothing to filter
            keep = "false"
        con.execute(f"CREATE TABLE snap.meta.{_q(table)} AS SELECT t.* FROM pub.meta.{_q(table)} AS t "
                    f"WHERE {keep} ORDER BY t.rowid")
    for tmp in ("_in_use", "_validated", "_runs"):
        con.execute(f"DROP TABLE {tmp}")


def _sources(landings: list[dict]) -> list[dict]:
    """Every input file the published warehouse was built from, with its URL, licence and sha256."""
    from extract.registry import load_registry

    registry = load_registry()
    out = []
    for row in landings:
        src = registry.get(row["source_id"])
        out.append({
            "source_id": row["source_id"],
            "millesime": row["millesime"],
            "editeur": getattr(src, "publisher", None),
            "licence": getattr(src, "licence", None),
            "url": row["url"],
            "sha256": row["sha256"],
            "bytes": row["bytes"],
            "fetched_at": row["fetched_at"],
        })
    return out


def _partner_files(con) -> list[dict]:
    """The partner files in force when the warehouse was published (indicator, millésime, partner, sha256)."""
    cols = {r[0] for r in con.execute(
        "SELECT column_name FROM duckdb_columns() WHERE database_name = 'pub' AND schema_name = 'meta' "
        "AND table_name = 'partenaires_fichiers'").fetchall()}
    if not {"sha256", "indicateur", "millesime", "partenaire", "status"} <= cols:
        return []
    return _dicts(con, "SELECT indicateur, millesime, partenaire, nom_fichier, sha256, bytes, received_at, rows "
                       "FROM pub.meta.partenaires_fichiers WHERE status = 'current' ORDER BY indicateur, millesime")


def _site_summary(root: Path, result: Any) -> dict:
    """What manifest.json records of the site (``site``): its folder, entry page, file count and size, and
    what ``build_site`` returned (version, mode, pages…) but its paths."""
    files = [p for p in root.rglob("*") if p.is_file()] if root.is_dir() else []
    out: dict[str, Any] = {"dossier": SITE_DIR, "index": f"{SITE_DIR}/index.html"
                           if (root / "index.html").is_file() else None, "fichiers": len(files),
                           "octets": sum(p.stat().st_size for p in files)}
    if isinstance(result, Mapping):  # its paths are those of the temporary directory: left out
        out["build_site"] = {str(k): v for k, v in result.items() if k not in ("path", "index")
                             and (isinstance(v, str | int | float | bool) or v is None)
                             and not (isinstance(v, str) and v.startswith(str(root.parent)))}
    return out


def _changes(settings: Settings, previous: str, out: Path) -> dict:
    """What a correction changes compared with the version it corrects."""
    import duckdb

    prev = snapshots_dir(settings) / previous
    old_tables = json.loads((prev / MANIFEST).read_text(encoding="utf-8")).get("tables", {})
    con = duckdb.connect()
    try:
        tables = {}
        for p in sorted((out / "parquet").glob("*.parquet")):
            t = p.stem
            old = prev / "parquet" / p.name
            if not old.exists():
                tables[t] = "ajoutee"
                continue
            same = con.execute(
                f"SELECT (SELECT count(*) FROM (SELECT * FROM read_parquet({_lit(str(p))}) EXCEPT ALL "
                f"SELECT * FROM read_parquet({_lit(str(old))}))) + (SELECT count(*) FROM (SELECT * FROM "
                f"read_parquet({_lit(str(old))}) EXCEPT ALL SELECT * FROM read_parquet({_lit(str(p))})))"
            ).fetchone()[0] == 0 if _same_columns(con, p, old) else False
            if not same:
                tables[t] = "modifiee"
        for t in old_tables:
            if not (out / "parquet" / f"{t}.parquet").exists():
                tables[t] = "retiree"
    finally:
        con.close()
    moves = _diff_fct(prev / "parquet" / "fct_indicateur_qpv.parquet", out / "parquet" / "fct_indicateur_qpv.parquet",
                      revisions_only=False)
    return {"tables": tables, "valeurs_modifiees": len(moves), "detail": moves[:500],
            "resume": ("aucune donnée modifiée" if not tables else
                       f"{len(tables)} table(s) modifiée(s), {len(moves)} valeur(s) d'indicateur modifiée(s)")}


def _same_columns(con, a: Path, b: Path) -> bool:
    cols = [con.execute(f"SELECT name, type FROM parquet_schema({_lit(str(p))})").fetchall() for p in (a, b)]
    return cols[0] == cols[1]


