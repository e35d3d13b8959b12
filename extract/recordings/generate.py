"""Regenerate the demo recordings (real formats, synthetic values): ``python -m extract.recordings.generate``.

Deterministic: every value is drawn from a generator seeded by (source, QPV code, millésime), so adding a
source or a QPV never changes the values of the others.
"""

from __future__ import annotations

import csv
import hashlib
import random
from pathlib import Path

HERE = Path(__file__).resolve().parent
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


def population(code: str, millesime: int) -> int:
    base = rng("population", code).lognormvariate(8.41, 0.45)
    base = min(max(base, 1050.0), 21000.0)
    drift = 1.0
    for year in range(2021, millesime + 1):
        drift *= 1.0 + rng("population", code, year).gauss(0.0, 0.025)
    return int(round(base * drift))


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
            mods.append(importlib.import_module(f"extract.recordings.{info.name}"))
    return mods


def main() -> None:
    written = write_all()
    for module in generator_modules():
        written += module.write_all()
    for p in written:
        print(p.relative_to(HERE))


if __name__ == "__main__":
    main()
