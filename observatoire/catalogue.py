"""The catalogue the project owns (the dbt seeds of ``dbt_project/seeds/referentiel``: indicators, key figures,
the contract's QPV), read from Python for the gates, the partner templates and the CLI."""

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
def indicateurs() -> dict[str, dict]:
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


def seeds_dir() -> Path:
    return SEEDS_DIR
