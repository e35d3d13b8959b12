"""Regenerate the demo recordings (real formats, synthetic values except the population of the latest
``insee_pop_qpv`` millésime, which is INSEE's): ``python -m tests.recordings.generate``.

Deterministic: every value is drawn from a generator seeded by (source, QPV code, millésime), so adding a
source or a QPV never changes the values of the others.
"""

from __future__ import annotations

import csv
import functools
import hashlib
import random
from pathlib import Path

#: where the recordings live: read by the demo at run time (extract/replay.py), so inside the installed package
HERE = Path(__file__).resolve().parents[2] / "extract" / "recordings"
BASE = HERE / "_base"


def rng(*parts: object) -> random.Random:
    seed = hashlib.sha256("|".join(str(p) for p in parts).encode()).hexdigest()
    return random.Random(int(seed[:16], 16))


def territoires() -> list[dict[str, str]]:
    with open(BASE / "qpv_territoires.csv", encoding="utf-8") as fh:
        return list(csv.DictReader(fh))


def fr(x: float, digits: int = 1) -> str:
    """A number the way INSEE writes it: decimal comma."""
    return f"{x:.{digits}f}".replace(".", ",")


#: the millésime of ``insee_pop_qpv`` whose population is INSEE's real value (``_base/pop_qpv24_reelle.csv``)
REAL_POPULATION_MILLESIME = 2021


@functools.cache
def real_populations() -> dict[str, int]:
    """INSEE's population municipale of each recorded QPV (pop_QPV24; provenance in README.md)."""
    with open(BASE / "pop_qpv24_reelle.csv", encoding="utf-8") as fh:
        return {row["code_qp"]: int(row["population"]) for row in csv.DictReader(fh)}


def _drift(code: str, year: int) -> float:
    """The seeded change of a QPV's population from ``year - 1`` to ``year``."""
    return 1.0 + rng("population", code, year).gauss(0.0, 0.025)


def population(code: str, millesime: int) -> int:
    """INSEE's real value for :data:`REAL_POPULATION_MILLESIME`; other millésimes derived from it with the
    seeded yearly drift (earlier: divided by the drifts of the years after; later: multiplied)."""
    try:
        value = float(real_populations()[code])
    except KeyError:
        raise KeyError(f"{code}: no real population in {BASE / 'pop_qpv24_reelle.csv'}") from None
    for year in range(REAL_POPULATION_MILLESIME + 1, millesime + 1):
        value *= _drift(code, year)
    for year in range(millesime + 1, REAL_POPULATION_MILLESIME + 1):
        value /= _drift(code, year)
    return int(round(value))


def part_15_24(code: str, millesime: int) -> float:
    return round(min(max(rng("part_15_24", code).gauss(15.5, 2.5) + (millesime - 2020) * 0.1, 6.0), 30.0), 1)


def write_pop_qpv(millesime: int, *, epci_col: str, bom: bool, newline: str) -> Path:
    dest = HERE / "insee_pop_qpv" / str(millesime) / "pop_QPV24.csv"
    dest.parent.mkdir(parents=True, exist_ok=True)
    header = ["codeQPV", "libQPV", "listeDepCom", "listeLibDepCom", epci_col, "listeDep", "codeReg",
              "codeUU2020", "popMuniQPV", "partPop15_24"]
    rows = []
    for t in territoires():
        code = t["code_qp"]
        uu = "00" + t["insee_dep"][-2:].replace("A", "0").replace("B", "0") + "701"
        rows.append([code, t["lib_qp"], t["insee_com"].replace(" ", ""), t["lib_com"], t["siren_epci"],
                     t["insee_dep"], t["insee_reg"], uu, str(population(code, millesime)),
                     fr(part_15_24(code, millesime))])
    with open(dest, "w", encoding="utf-8-sig" if bom else "utf-8", newline="") as fh:
        w = csv.writer(fh, delimiter=";", lineterminator=newline, quoting=csv.QUOTE_MINIMAL)
        w.writerow(header)
        w.writerows(rows)
    return dest


def write_all() -> list[Path]:
    """This module's recordings (INSEE population)."""
    return [
        write_pop_qpv(2020, epci_col="listeEpci2022", bom=True, newline="\r\n"),
        write_pop_qpv(2021, epci_col="listeEpci2023", bom=False, newline="\n"),
    ]


def generator_modules() -> list:
    """Every ``gen_*.py`` module next to this one (one per source family), each with a ``write_all()``."""
    import importlib
    import pkgutil

    mods = []
    for info in sorted(pkgutil.iter_modules([str(Path(__file__).parent)]), key=lambda i: i.name):
        if info.name.startswith("gen_"):
            mods.append(importlib.import_module(f"tests.recordings.{info.name}"))
    return mods


def main() -> None:
    written = write_all()
    for module in generator_modules():
        written += module.write_all()
    for p in written:
        print(p.relative_to(HERE))


if __name__ == "__main__":
    main()
