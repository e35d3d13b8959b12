"""The catalogue's plausible ranges hold for the real national distribution of each variable (issue 17):
every QPV of France in a public compilation of the 2024 QPV data (tests/fixtures/real/README.md), with a
margin. A range that refused a real value would fail every real night on a QPV we do not even cover."""

from __future__ import annotations

import csv
from pathlib import Path

import pandas as pd
import pytest

from observatoire.catalogue import indicateurs

FIXTURE = Path(__file__).resolve().parents[1] / "fixtures" / "real" / "compilation_qpv2024_indicateurs.csv"
MARGIN = 1.2  # the largest real value stays at least 20 % under the upper bound
AMP = "200054807"


def _rows() -> list[dict]:
    with open(FIXTURE, encoding="utf-8") as fh:
        return list(csv.DictReader(fh))


def _values(column: str) -> list[float]:
    return [float(r[column]) for r in _rows() if r[column] != ""]


def test_fixture_is_the_real_national_compilation():
    rows = _rows()
    assert len(rows) == 1518 and len({r["code_qpv"] for r in rows}) == 1518
    metro = [r for r in rows if len(r["code_departement"]) == 2]
    assert len(metro) == 1362
    assert sum(int(r["population"]) for r in metro) == 5_307_455  # INSEE's published total
    amp = [r for r in rows if r["siren_epci"] == AMP]
    assert len(amp) == 66 and sum(int(r["population"]) for r in amp) == 312_529


@pytest.mark.parametrize("indicateur", ["population", "indice_jeunesse", "taux_pauvrete", "nb_allocataires_caf",
                                        "nb_personnes_couvertes_caf", "nb_allocataires_rsa",
                                        "nb_logements_sociaux"])
def test_catalogue_range_holds_for_every_real_qpv(indicateur):
    info = indicateurs()[indicateur]
    lo, hi = info["valeur_min"], info["valeur_max"]
    values = _values(indicateur)
    assert len(values) > 1200
    assert min(values) >= lo, f"{indicateur}: a real QPV has {min(values)}, below the catalogue's {lo}"
    assert max(values) * MARGIN <= hi, (f"{indicateur}: a real QPV has {max(values)}, too close to or above the "
                                        f"catalogue's {hi} (margin {MARGIN})")


def test_derived_share_covered_by_caf_holds_for_real_qpv():
    """Personnes couvertes (CAF) ÷ population: real QPV reach 127 % (the CAF count is more recent than the
    census); the range admits them with a margin, the 160-310 % seen when sources disagree are withheld."""
    info = indicateurs()["part_population_couverte_caf"]
    shares = [float(r["nb_personnes_couvertes_caf"]) / float(r["population"]) * 100 for r in _rows()
              if r["nb_personnes_couvertes_caf"] and r["population"]]
    assert max(shares) > 100  # real: a share above 100 % exists
    assert max(shares) * 1.15 <= info["valeur_max"] < 160


def test_raw_gate_accepts_the_real_national_populations():
    """The insee_pop_qpv raw suite on every real QPV population of France, perimeter the Métropole: no failure."""
    from expectations.runner import format_failures, run_suite
    from expectations.suites import raw_suite
    from extract.parsers import get_parser

    spec = get_parser("insee_pop_qpv").spec
    rows = _rows()
    amp = [r["code_qpv"] for r in rows if r["siren_epci"] == AMP]
    suite = raw_suite("insee_pop_qpv", spec, millesime=2021, perimeter_qpv=amp, catalogue=indicateurs())
    df = pd.DataFrame(index=range(len(rows)))
    for col in spec.columns:
        if col.name == "code_qpv":
            df[col.name] = [r["code_qpv"] for r in rows]
        elif col.name == "population":
            df[col.name] = pd.array([float(r["population"]) for r in rows], dtype="float64")
        elif col.type == "number":
            df[col.name] = pd.array([None] * len(rows), dtype="float64")
        else:
            df[col.name] = pd.array([None] * len(rows), dtype="object")
    df["millesime"] = 2021
    df["_line"] = range(2, len(rows) + 2)
    df["_secret"] = ""
    summary = run_suite(suite, df)
    assert summary["success"], format_failures(summary)
    assert summary["warnings"] == 0
