"""What every part of the snapshots shares: the file names, the errors, a snapshot's paths and versions, small SQL helpers."""

from __future__ import annotations

import json
import re
from dataclasses import dataclass
from pathlib import Path

from observatoire.config import Settings

#: the evaluation table: each indicator per QPV at its baseline millésime and at the latest
EVALUATION_TABLE = "evaluation_indicateur_qpv"
#: text cells starting with one of these would be evaluated by a spreadsheet (OWASP "CSV injection")
FORMULA_TRIGGERS = ("=", "+", "-", "@", "\t", "\r")
MANIFEST = "manifest.json"
SUMS = "SHA256SUMS"
README = "README.md"
#: the signature of manifest.json (base64 of the raw 64-byte Ed25519 signature, one line)
SIGNATURE = "manifest.json.sig"
SIGNATURE_ALGORITHM = "Ed25519"
#: the private key that signs the editions (a file path); unset: editions are unsigned
SIGNING_KEY_ENV = "OBSERVATOIRE_SIGNING_KEY"
PRIVATE_KEY_FILE = "snapshot.key"
PUBLIC_KEY_FILE = "snapshot.pub"
_VERSION_RE = re.compile(r"^(?P<edition>\d{4})(?:\.(?P<correction>[1-9]\d*))?$")
_TOOLS = ("observatoire-quartiers", "duckdb", "dbt-core", "dbt-duckdb", "great-expectations", "apache-airflow",
          "pyarrow", "openpyxl", "pandas")
_STATUTS = {
    "disponible": "valeur publiée",
    "secret_statistique": "valeur retenue par l'éditeur (petits effectifs, secret fiscal) : la valeur est vide, "
                          "ce n'est pas un zéro",
    "non_publie": "l'éditeur n'a pas (encore) publié la valeur pour ce quartier et ce millésime",
    "attendu_partenaire": "baromètre fourni chaque année par un signataire, pas encore reçu",
    "non_calculable": "baromètre calculé dont le calcul n'est pas possible pour ce millésime",
}


class SnapshotError(RuntimeError):
    """A snapshot that cannot be created, read or verified; the message says which and why."""


class SnapshotExists(SnapshotError):
    pass


class SnapshotDemoRefused(SnapshotError):
    """An edition of a demo publication without ``--demo`` (or ``--demo`` on a live one): a usage error, refused
    before anything is written."""


class SigningKeyError(SnapshotError):
    """A key that cannot be used (``OBSERVATOIRE_SIGNING_KEY``, ``--public-key``): a usage error, refused before
    anything is written or checked; the message names the variable or option, the file and why."""


class KeyExists(SnapshotError):
    """``keygen`` into a directory that already holds a key: a key is never overwritten."""


@dataclass(frozen=True)
class Snapshot:
    version: str
    path: Path
    manifest: dict

    @property
    def edition(self) -> int:
        return int(self.manifest["edition"])


# -- paths and versions ------------------------------------------------------------------------------------


def snapshots_dir(settings: Settings) -> Path:
    return settings.data_dir / "snapshots"


def parse_version(text: str) -> tuple[int, int]:
    """``"2025"`` → (2025, 0), ``"2025.2"`` → (2025, 2); anything else is a clear error."""
    m = _VERSION_RE.match(str(text).strip())
    if not m:
        raise SnapshotError(f"{text!r} is not a snapshot version: expected an edition year (2025) or a "
                            "correction (2025.1)")
    return int(m["edition"]), int(m["correction"] or 0)


def versions(settings: Settings) -> list[str]:
    """Every complete snapshot version, oldest edition first, corrections in order."""
    root = snapshots_dir(settings)
    if not root.is_dir():
        return []
    found = [p.name for p in root.iterdir() if p.is_dir() and _VERSION_RE.match(p.name)
             and (p / MANIFEST).is_file()]
    return sorted(found, key=parse_version)


def open_snapshot(settings: Settings, version: str) -> Snapshot:
    parse_version(version)
    path = snapshots_dir(settings) / str(version).strip()
    manifest = path / MANIFEST
    if not manifest.is_file():
        known = ", ".join(versions(settings)) or "none"
        if path.is_dir():
            raise SnapshotError(f"{path} has no {MANIFEST}: the snapshot is incomplete or was altered, and cannot "
                                f"be checked (complete snapshots: {known})")
        raise SnapshotError(f"no snapshot {version} in {snapshots_dir(settings)} (known: {known})")
    try:
        doc = json.loads(manifest.read_text(encoding="utf-8"))
    except ValueError as err:
        raise SnapshotError(f"not valid JSON ({err}); the snapshot was altered: {manifest}") from None
    return Snapshot(version=path.name, path=path, manifest=doc)


def _dicts(con, sql: str, params: list | None = None) -> list[dict]:
    cur = con.execute(sql, params or [])
    names = [d[0] for d in cur.description]
    return [dict(zip(names, row, strict=True)) for row in cur.fetchall()]


def _one_dict(con, sql: str) -> dict:
    rows = _dicts(con, sql)
    return rows[0] if rows else {}


def _meta_columns(con, table: str) -> set[str]:
    return {r[0] for r in con.execute(
        "SELECT column_name FROM duckdb_columns() WHERE database_name = 'pub' AND schema_name = 'meta' "
        "AND table_name = ?", [table]).fetchall()}


LATEST_SHEET = "Dernières valeurs"
DICTIONARY_SHEET = "Dictionnaire"
LATEST_TABLE = "mart_derniere_valeur"
#: the edition's static site (``observatoire.site.build_site``)
SITE_DIR = "site"


def _table_columns(con, schema: str, table: str) -> list[str]:
    database, _, name = schema.rpartition(".")
    return [r[0] for r in con.execute(
        "SELECT column_name FROM duckdb_columns() WHERE database_name = ? AND schema_name = ? AND table_name = ? "
        "ORDER BY column_index", [database, name, table]).fetchall()]


