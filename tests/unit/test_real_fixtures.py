"""Real national fixtures (tests/fixtures/real, provenance in its README): INSEE's population of the 1,518 QPV
of a public compilation in the pop_QPV24 layout, and the ANCT's list of the 1,584 QPV 2024. The project's
parser and code formats hold on the whole of France, and the demo's recorded population is INSEE's."""

from __future__ import annotations

import csv
import re
from pathlib import Path

import pyarrow as pa
import pytest

from expectations.suites import QPV_2024_REGEX
from extract.parsers import ParseContext, get_parser
from tests.conftest import RECORDINGS, ROOT
from tests.recordings import generate

REAL = ROOT / "tests" / "fixtures" / "real"
POP_NATIONAL = REAL / "pop_QPV24_national.csv"
ANCT_LIST = REAL / "qpv2024_anct_list.csv"
AMP_SIREN = "200054807"
#: INSEE's published totals (pop_QPV24, RP 2020)
METRO_QPV, METRO_POPULATION, AMP_POPULATION = 1362, 5_307_455, 312_529
LARGEST_POPULATION = 132_511
#: the QPV of Mayotte re-coded by the ANCT in January 2026 (the compilation still has the old codes)
MAYOTTE_RECODED = {f"QN976{n}C" for n in range(51, 68)}


def parse_pop(path: Path, millesime: int) -> list[dict]:
    parser = get_parser("insee_pop_qpv")
    ctx = ParseContext("insee_pop_qpv", millesime, f"file://{path}", path.name)
    return pa.Table.from_batches(list(parser.parse(path, ctx)), schema=parser.spec.arrow_schema()).to_pylist()


@pytest.fixture(scope="module")
def national() -> dict[str, dict]:
    rows = parse_pop(POP_NATIONAL, 2021)
    by_code = {r["code_qpv"]: r for r in rows}
    assert len(by_code) == len(rows), "a QPV appears twice"
    return by_code


@pytest.fixture(scope="module")
def anct() -> dict[str, dict]:
    with open(ANCT_LIST, encoding="utf-8", newline="") as fh:
        rows = list(csv.DictReader(fh))
    by_code = {r["code_qp"]: r for r in rows}
    assert len(by_code) == len(rows), "a QPV appears twice"
    return by_code


def amp_codes() -> set[str]:
    """The 66 QPV of the Métropole Aix-Marseille-Provence, from the recordings' real référentiel."""
    return {t["code_qp"] for t in generate.territoires() if t["siren_epci"] == AMP_SIREN}


def is_metropolitan(row: dict) -> bool:
    return not row["liste_code_departement"].startswith("97")


def test_national_file_parses_with_the_project_parser(national):
    assert len(national) == 1518
    for code, r in national.items():
        assert isinstance(code, str)
        assert isinstance(r["population"], float) and r["population"] > 0 and r["population"].is_integer()
        assert r["part_15_24_ans"] is None and r["_secret"] == ["part_15_24_ans"]  # withheld, read as secret
        assert r["code_unite_urbaine"] is None
        dep = r["liste_code_departement"]
        assert re.fullmatch(r"\d{2}|2[AB]|97\d", dep), (code, dep)
        assert re.fullmatch(r"\d{2}", r["code_region"]), (code, r["code_region"])
        communes = r["liste_code_commune"].split(",")
        assert len(communes) == len(r["liste_libelle_commune"].split(", ")), code
        for com in communes:
            assert re.fullmatch(r"\d{5}|2[AB]\d{3}", com) and com.startswith(dep), (code, com)
        assert all(re.fullmatch(r"\d{9}", s) for s in r["liste_code_epci"].split(",")), code
    assert national["QN02A01M"]["liste_code_commune"] == "2A247"
    assert national["QN00101M"]["liste_code_commune"] == "01053"


def test_national_totals_are_insee_s(national):
    metro = [r for r in national.values() if is_metropolitan(r)]
    assert len(metro) == METRO_QPV
    assert sum(r["population"] for r in metro) == METRO_POPULATION
    amp = amp_codes()
    assert len(amp) == 66
    assert amp <= set(national), sorted(amp - set(national))
    assert sum(national[c]["population"] for c in amp) == AMP_POPULATION
    assert {c for c, r in national.items() if AMP_SIREN in r["liste_code_epci"].split(",")} == amp


def test_largest_qpv_is_outside_the_metropole(national):
    largest = max(national.values(), key=lambda r: r["population"])
    assert largest["population"] == LARGEST_POPULATION
    assert largest["liste_code_departement"] == "93"
    assert largest["code_qpv"] not in amp_codes()
    assert max(national[c]["population"] for c in amp_codes()) < LARGEST_POPULATION


def test_every_code_of_the_national_file_matches_the_qpv_2024_format(national):
    bad = sorted(c for c in national if not re.fullmatch(QPV_2024_REGEX, c))
    assert not bad


def test_every_anct_code_matches_the_qpv_2024_format(anct):
    """Mayotte's QPV re-coded in January 2026 (QN97651C-QN97667C) end with C: the format accepts them."""
    bad = sorted(c for c in anct if not re.fullmatch(QPV_2024_REGEX, c))
    assert not bad, bad
    assert all(re.fullmatch(QPV_2024_REGEX, c) for c in MAYOTTE_RECODED)


def test_anct_list_covers_the_national_file_and_the_recordings(anct, national):
    assert len(anct) == 1584
    assert MAYOTTE_RECODED <= set(anct)
    for code, r in anct.items():
        dep = r["insee_dep"]
        assert all(com.startswith(dep.zfill(2)) for com in r["insee_com"].split(",")), code
    # the compilation predates Mayotte's re-coding and has neither Saint-Martin nor French Polynesia
    assert set(national) - set(anct) == {c for c in national if c.startswith("QN976")}
    assert set(anct) - set(national) == MAYOTTE_RECODED | {c for c in anct if c.startswith(("QN978", "QN987"))}
    # the recordings' référentiel (122 QPV of 13, 83, 84, 2A, 2B) is the ANCT's
    territoires = generate.territoires()
    assert len(territoires) == 122
    for t in territoires:
        a = anct[t["code_qp"]]
        assert (a["lib_qp"], a["insee_dep"], a["insee_com"]) == (t["lib_qp"], t["insee_dep"],
                                                                  t["insee_com"].replace(" ", ""))


def test_recorded_population_of_the_latest_millesime_is_insee_s(national):
    """The demo's pop_QPV24 of millésime 2021 carries INSEE's value for each of its 122 QPV, in the same
    layout (communes, EPCI, département, région) as the national file."""
    millesime = generate.REAL_POPULATION_MILLESIME
    rows = parse_pop(RECORDINGS / "insee_pop_qpv" / str(millesime) / "pop_QPV24.csv", millesime)
    assert len(rows) == 122
    keys = ("libelle_qpv", "liste_code_commune", "liste_libelle_commune", "liste_code_epci",
            "liste_code_departement", "code_region", "population")
    for r in rows:
        real = national[r["code_qpv"]]
        assert {k: r[k] for k in keys} == {k: real[k] for k in keys}, r["code_qpv"]
    assert sum(r["population"] for r in rows if r["liste_code_epci"] == AMP_SIREN) == AMP_POPULATION
    with open(RECORDINGS / "_base" / "pop_qpv24_reelle.csv", encoding="utf-8", newline="") as fh:
        committed = {row["code_qp"]: int(row["population"]) for row in csv.DictReader(fh)}
    assert committed == {r["code_qpv"]: int(r["population"]) for r in rows}
