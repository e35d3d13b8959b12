"""Parsers on the project's recordings (real format, synthetic values from tests/recordings/generate.py)."""

import csv

import pyarrow as pa
import pytest

from extract.errors import FormatError
from extract.parsers import ParseContext, get_parser
from tests.conftest import RECORDINGS
from tests.recordings import generate


def parse_file(parser_name, path, millesime, source_id=None):
    p = get_parser(parser_name)
    ctx = ParseContext(source_id or parser_name, millesime, f"file://{path}", path.name)
    return pa.Table.from_batches(list(p.parse(path, ctx)), schema=p.spec.arrow_schema()).to_pylist()


@pytest.mark.parametrize("millesime", [2020, 2021])
def test_pop_qpv_recording_parses_every_row(millesime):
    path = RECORDINGS / "insee_pop_qpv" / str(millesime) / "pop_QPV24.csv"
    rows = parse_file("insee_pop_qpv", path, millesime)
    expected = generate.territoires()
    assert len(rows) == len(expected) == 122
    by_code = {r["code_qpv"]: r for r in rows}
    for t in expected:
        r = by_code[t["code_qp"]]
        assert r["population"] == generate.population(t["code_qp"], millesime)
        assert r["part_15_24_ans"] == pytest.approx(generate.part_15_24(t["code_qp"], millesime))
        assert r["libelle_qpv"] == t["lib_qp"]
        assert r["millesime"] == millesime
    assert by_code["QN01341I"]["liste_code_commune"] == "13055,13070"
    amp = [r for r in rows if r["liste_code_epci"] == "200054807"]
    assert len(amp) == 66
    assert 250_000 < sum(r["population"] for r in amp) < 350_000  # « environ 300 000 habitants »


def test_pop_qpv_header_variants_between_millesimes():
    # 2020 is UTF-8 with BOM, CRLF, listeEpci2022; 2021 plain UTF-8, LF, listeEpci2023: same canonical columns
    a = RECORDINGS / "insee_pop_qpv" / "2020" / "pop_QPV24.csv"
    b = RECORDINGS / "insee_pop_qpv" / "2021" / "pop_QPV24.csv"
    assert a.read_bytes().startswith(b"\xef\xbb\xbf") and b"\r\n" in a.read_bytes()
    assert not b.read_bytes().startswith(b"\xef\xbb\xbf") and b"\r\n" not in b.read_bytes()
    ra, rb = parse_file("insee_pop_qpv", a, 2020), parse_file("insee_pop_qpv", b, 2021)
    assert ra[0]["liste_code_epci"] == rb[0]["liste_code_epci"] == "200054807"


def test_pop_qpv_latin1_and_semicolon_variants(tmp_path):
    src = RECORDINGS / "insee_pop_qpv" / "2021" / "pop_QPV24.csv"
    text = src.read_text(encoding="utf-8")
    path = tmp_path / "pop_QPV24.csv"
    path.write_bytes(text.replace("\n", "\r\n").encode("cp1252"))
    rows = parse_file("insee_pop_qpv", path, 2021)
    assert next(r for r in rows if r["code_qpv"] == "QN01302M")["liste_libelle_commune"] == "Berre-l'Étang"


def test_pop_qpv_renamed_column_is_a_clear_error(tmp_path):
    src = RECORDINGS / "insee_pop_qpv" / "2021" / "pop_QPV24.csv"
    path = tmp_path / "pop_QPV24.csv"
    path.write_text(src.read_text(encoding="utf-8").replace("popMuniQPV", "populationQPV", 1), encoding="utf-8")
    with pytest.raises(FormatError) as err:
        parse_file("insee_pop_qpv", path, 2021)
    msg = str(err.value)
    assert "[insee_pop_qpv]" in msg and "missing column(s): population" in msg
    assert "popMuniQPV" in msg and "'populationQPV'" in msg and "pop_QPV24.csv" in msg


def test_pop_qpv_empty_file(tmp_path):
    path = tmp_path / "pop_QPV24.csv"
    path.write_bytes(b"")
    with pytest.raises(FormatError, match="empty file"):
        parse_file("insee_pop_qpv", path, 2021)


def test_recordings_are_what_the_generator_writes(tmp_path, monkeypatch):
    """Every committed recording is reproducible: regenerating them all gives the same bytes
    (generators write under ``generate.HERE``, read at call time)."""
    committed = {p.relative_to(RECORDINGS): p.read_bytes() for p in RECORDINGS.rglob("*")
                 if p.is_file() and p.suffix != ".py" and p.name != "README.md" and "_base" not in p.parts
                 and "__pycache__" not in p.parts}
    monkeypatch.setattr(generate, "HERE", tmp_path)
    monkeypatch.setattr(generate, "BASE", RECORDINGS / "_base")
    generate.main()
    regenerated = {p.relative_to(tmp_path): p.read_bytes() for p in tmp_path.rglob("*") if p.is_file()}
    assert set(regenerated) == set(committed)
    for rel, data in committed.items():
        assert regenerated[rel] == data, rel


def test_recording_covers_two_epci():
    with open(RECORDINGS / "_base" / "qpv_territoires.csv", encoding="utf-8") as fh:
        rows = list(csv.DictReader(fh))
    epcis = {r["siren_epci"] for r in rows}
    assert {"200054807", "248300543"} <= epcis  # Aix-Marseille-Provence, Toulon Provence Méditerranée
