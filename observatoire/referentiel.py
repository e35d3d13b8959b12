"""The référentiel the project owns (dbt seeds), read from Python for the gates and the CLI."""

from __future__ import annotations

import csv
from functools import cache
from pathlib import Path

from observatoire.config import DBT_PROJECT_DIR

SEEDS_DIR = DBT_PROJECT_DIR / "seeds" / "referentiel"


def _read(name: str) -> list[dict[str, str]]:
    with open(SEEDS_DIR / f"{name}.csv", encoding="utf-8", newline="") as fh:
        return list(csv.DictReader(fh))


def _num(v: str) -> float | int | None:
    if v is None or v == "":
        return None
    f = float(v)
    return int(f) if f.is_integer() else f


@cache
def catalogue() -> dict[str, dict]:
    """The indicator catalogue by id (``ref_indicateur.csv``), with numbers typed."""
    out = {}
    for row in _read("ref_indicateur"):
        row = dict(row)
        for k in ("valeur_min", "valeur_max", "seuil_secret"):
            row[k] = _num(row[k])
        out[row["indicateur"]] = row
    return out


@cache
def chiffres_cles() -> list[str]:
    return [r["chiffre"] for r in _read("ref_chiffre_cle")]


@cache
def qpv() -> list[dict[str, str]]:
    return _read("ref_qpv")


CONTOURS_SOURCE = "anct_qpv_contours"


def parse_perimetre(perimetre: str) -> tuple[str, str | None]:
    """``epci:<siren>``, ``departement:<code>`` or ``france`` → (kind, code); anything else is a clear error."""
    kind, _, code = (perimetre or "").strip().partition(":")
    kind, code = kind.strip().lower(), code.strip()
    if kind == "france" and not code:
        return "france", None
    if kind == "epci" and code.isdigit() and len(code) == 9:
        return "epci", code
    if kind == "departement" and (code.isdigit() and len(code) in (2, 3) or code.upper() in ("2A", "2B")):
        return "departement", code.upper()
    raise ValueError(f"OBSERVATOIRE_PERIMETRE={perimetre!r}: expected epci:<siren> (9 digits, e.g. epci:200054807), "
                     "departement:<code> (e.g. departement:13, departement:2A) or france")


def qpv_in_perimetre(rows: list[dict], perimetre: str, *, epci: str = "siren_epci", departement: str = "insee_dep",
                     code: str = "code_qpv") -> list[str]:
    """The codes of the rows (ANCT référentiel attributes) inside the perimeter."""
    kind, value = parse_perimetre(perimetre)
    if kind == "france":
        return sorted({r[code] for r in rows})
    column = epci if kind == "epci" else departement
    return sorted({r[code] for r in rows if (r.get(column) or "").strip() == value})


def contours_attributes(settings) -> list[dict] | None:
    """The QPV attributes (code, EPCI, département, communes) of the ANCT contours currently accepted in the
    data directory, or None when the contours were never landed there."""
    import sqlite3

    import pyarrow.parquet as pq

    if not settings.history_db.exists():
        return None
    con = sqlite3.connect(f"file:{settings.history_db}?mode=ro", uri=True)
    try:
        row = con.execute(
            "SELECT parsed_path FROM manifest WHERE source_id = ? AND status = 'accepted' AND parsed_path IS NOT NULL "
            "ORDER BY millesime DESC, last_seen_at DESC, rowid DESC LIMIT 1", [CONTOURS_SOURCE]).fetchone()
    except sqlite3.Error:
        return None
    finally:
        con.close()
    if not row:
        return None
    path = settings.data_dir / row[0]
    if not path.exists():
        return None
    table = pq.read_table(path, columns=["code_qpv", "libelle_qpv", "insee_com", "insee_dep", "siren_epci"])
    return table.to_pylist()


def _settings(settings):
    if settings is not None:
        return settings
    from observatoire.config import load_settings

    return load_settings()


def known_qpv(settings=None) -> dict[str, dict]:
    """Every QPV 2024 the observatory knows, by code: the ANCT contours landed in the data directory
    (``settings``, default: the environment's), else the project's seed (the contract's 66 QPV)."""
    rows = contours_attributes(_settings(settings))
    if rows is not None:
        return {r["code_qpv"]: {**r, "code_epci": r["siren_epci"], "code_departement": r["insee_dep"]} for r in rows}
    return {r["code_qpv"]: r for r in qpv()}


def perimeter_qpv_codes(perimetre: str | None = None, settings=None) -> list[str]:
    """Codes of the QPV of the perimeter (default: the settings'), from the ANCT contours landed in the data
    directory; before they are landed, from the project's seed (the contract's 66 QPV: the default perimeter
    only, so the completeness checks of another perimeter wait for the contours)."""
    settings = _settings(settings)
    perimetre = perimetre or settings.perimetre
    parse_perimetre(perimetre)
    return qpv_in_perimetre(list(known_qpv(settings).values()), perimetre, epci="code_epci",
                            departement="code_departement")


def seeds_dir() -> Path:
    return SEEDS_DIR
