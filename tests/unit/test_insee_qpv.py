"""INSEE per-QPV 2024 files (Filosofi, estimations, DEFM, CAF, RPLS) and the BPE: the parsers of
extract/insee_qpv.py on the project's recordings (real layout, synthetic values written by
tests/recordings/gen_insee_qpv.py) and on re-shaped or broken inputs. Never the internet."""

from __future__ import annotations

import io
import re
import zipfile
from pathlib import Path

import pyarrow as pa
import pytest

from extract.errors import FormatError
from extract.insee_qpv import BPE, MEMBERS, parse_bpe
from extract.parsers import ParseContext, get_parser
from tests.conftest import RECORDINGS
from tests.recordings import gen_insee_qpv as gen
from tests.recordings.generate import population, territoires

NNBSP = "\u202f"

FILES = {
    **{("insee_filosofi_qpv", m): f for m, f in gen.FILO_FILES.items()},
    **{("insee_estimations_qpv", m): f for m, f in gen.ESTIM_FILES.items()},
    **{("ft_defm_qpv", m): f for m, (f, _) in gen.DEFM_FILES.items()},
    **{("caf_allocataires_qpv", m): f for m, f in gen.CAF_FILES.items()},
    **{("rpls_qpv", m): f for m, (f, _) in gen.RPLS_FILES.items()},
}
EXPECTED = {
    "insee_filosofi_qpv": gen.filosofi_expected,
    "insee_estimations_qpv": gen.estimations_expected,
    "ft_defm_qpv": gen.defm_expected,
    "caf_allocataires_qpv": gen.caf_expected,
    "rpls_qpv": gen.rpls_expected,
}
WITH_NOTE = ("insee_filosofi_qpv", "ft_defm_qpv", "caf_allocataires_qpv", "rpls_qpv")
LATEST = {sid: max(m for s, m in FILES if s == sid) for sid in EXPECTED}


def recording(source_id: str, millesime: int) -> Path:
    return RECORDINGS / source_id / str(millesime) / FILES[(source_id, millesime)]


def parse(source_id: str, path: Path, millesime: int, *, file: str | None = None, **kw) -> list[dict]:
    p = get_parser(source_id)
    ctx = ParseContext(source_id, millesime, f"file://{path}", file or path.name)
    batches = list(p.parse(path, ctx, **kw))
    return pa.Table.from_batches(batches, schema=p.spec.arrow_schema()).to_pylist()


def data_member(source_id: str, millesime: int) -> tuple[str, bytes]:
    """The data CSV inside a recorded ZIP (the member the parser must pick)."""
    rx = re.compile(MEMBERS[source_id], re.IGNORECASE)
    with zipfile.ZipFile(recording(source_id, millesime)) as zf:
        names = [n for n in zf.namelist() if rx.search(n.rsplit("/", 1)[-1])]
        assert len(names) == 1, zf.namelist()
        return names[0], zf.read(names[0])


def canonical(rows: list[dict]) -> list[dict]:
    return [{k: v for k, v in r.items() if k not in ("millesime", "_line", "_secret")} for r in rows]


def write_zip(path: Path, members: dict[str, bytes]) -> Path:
    with zipfile.ZipFile(path, "w") as zf:
        for name, data in members.items():
            zf.writestr(name, data)
    return path


def rename_in_header(data: bytes, old: str, new: str) -> bytes:
    text = data.decode("utf-8")
    head, sep, rest = text.partition("\n")
    delim = ";" if head.count(";") >= head.count(",") else ","
    fields = head.rstrip("\r").split(delim)
    fields = [f.replace(old, new) if f.strip('"\ufeff') == old else f for f in fields]
    return (delim.join(fields) + ("\r" if head.endswith("\r") else "") + sep + rest).encode("utf-8")


# -- every recording parses to exactly the generator's values --------------------------------------------

@pytest.mark.parametrize("source_id,millesime", sorted(FILES))
def test_recording_parses_to_the_generator_values(source_id, millesime):
    rows = parse(source_id, recording(source_id, millesime), millesime)
    codes = [t["code_qp"] for t in territoires()]
    assert [r["code_qpv"] for r in rows] == codes  # 122 QPV, the « Ensemble » row skipped
    spec = get_parser(source_id).spec
    numeric = {c.name for c in spec.value_columns}
    for row in rows:
        expected = EXPECTED[source_id](row["code_qpv"], millesime)
        got = {k: row[k] for k in expected}
        assert got == expected, row["code_qpv"]
        assert row["millesime"] == millesime
        # a withheld cell is NULL (never 0) and named in _secret; a published one is not
        assert set(row["_secret"]) == {k for k in numeric if row[k] is None}
        assert all(isinstance(row[k], float) for k in numeric - {"note"} if row[k] is not None)
    assert all(isinstance(r["code_qpv"], str) and re.match(r"^QN(\d{3}|02A|02B)\d{2}[NMIC]$", r["code_qpv"])
               for r in rows)


@pytest.mark.parametrize("source_id,millesime", [k for k in sorted(FILES) if k[0] in WITH_NOTE])
def test_rows_with_note_are_fully_masked(source_id, millesime):
    rows = parse(source_id, recording(source_id, millesime), millesime)
    masked = [r for r in rows if r["note"] != 0]
    assert masked, "each recording has a few withheld rows"
    numeric = [c.name for c in get_parser(source_id).spec.value_columns if c.name != "note"]
    for r in masked:
        assert all(r[k] is None for k in numeric), r
        assert set(r["_secret"]) == set(numeric)
        assert isinstance(r["note"], int) and r["note"] in (1, 2, 3, 4, 5)


def test_partial_secrecy_with_note_zero():
    filo = parse("insee_filosofi_qpv", recording("insee_filosofi_qpv", 2021), 2021)
    partial = [r for r in filo if r["note"] == 0 and r["revenu_d1"] is None]
    assert partial and all(r["revenu_median"] is not None for r in partial)
    assert all({"revenu_d1", "revenu_d9", "rapport_interdecile"} <= set(r["_secret"]) for r in partial)
    rpls = parse("rpls_qpv", recording("rpls_qpv", 2025), 2025)
    partial = [r for r in rpls if r["note"] == 0 and r["taux_vacance"] is None]
    assert partial and all(r["logements_sociaux"] is not None and r["loyer_moyen_m2"] is not None for r in partial)
    assert all(set(r["_secret"]) == {"taux_vacance", "taux_rotation"} for r in partial)
    # a published 0 stays 0 (new dwellings put into service: none this year)
    assert any(r["logements_mis_en_service"] == 0 and "logements_mis_en_service" not in r["_secret"] for r in rpls)


def test_filosofi_masks_about_a_fifth_of_qpv_including_amp():
    for millesime in gen.FILO_FILES:
        rows = parse("insee_filosofi_qpv", recording("insee_filosofi_qpv", millesime), millesime)
        masked = [r["code_qpv"] for r in rows if r["revenu_median"] is None]
        assert 0.15 <= len(masked) / len(rows) <= 0.30
        assert sum(gen.is_amp(c) for c in masked) >= 3
        assert all(r["taux_pauvrete"] is None for r in rows if r["note"] != 0)
    with zipfile.ZipFile(recording("insee_filosofi_qpv", 2021)) as zf:
        names = zf.namelist()
    assert "revenu-disponible-qp24-2021_QP.csv" in names and "revenu-disponible-qp24-2021_ENSQP.csv" in names
    assert any(n.startswith("meta_") for n in names) and any("declare" in n for n in names)


def test_defm_2025_series_break():
    by_year = {m: {r["code_qpv"]: r for r in parse("ft_defm_qpv", recording("ft_defm_qpv", m), m)}
               for m in (2023, 2024, 2025)}
    both = [c for c in by_year[2024] if all(by_year[m][c]["note"] == 0 for m in by_year)]

    def total(year, col):
        return sum(by_year[year][c][col] for c in both)

    assert 0.9 < total(2024, "defm_abc") / total(2023, "defm_abc") < 1.05  # no break 2023 → 2024
    assert total(2025, "defm_abc_rsa") > 1.6 * total(2024, "defm_abc_rsa")  # automatic RSA registration
    assert total(2025, "defm_abc") > 1.1 * total(2024, "defm_abc")
    for r in by_year[2024].values():
        if r["note"] == 0:
            assert r["defm_abc_hommes"] + r["defm_abc_femmes"] == r["defm_abc"] <= r["defm_abcde"]


def test_caf_coverage_and_identities():
    for millesime in gen.CAF_FILES:
        for r in parse("caf_allocataires_qpv", recording("caf_allocataires_qpv", millesime), millesime):
            if r["note"] != 0:
                continue
            assert 0.5 <= r["personnes_couvertes"] / population(r["code_qpv"], millesime) <= 0.8
            assert r["allocataires"] == (r["allocataires_isoles"] + r["allocataires_monoparents"]
                                         + r["allocataires_couples_sans_enfant"]
                                         + r["allocataires_couples_avec_enfants"])


def test_estimations_consistent_with_population():
    for millesime in gen.ESTIM_FILES:
        for r in parse("insee_estimations_qpv", recording("insee_estimations_qpv", millesime), millesime):
            bands = [r[b] for b in gen.ESTIM_BANDS]
            assert sum(bands) == r["pop_total"] == r["pop_hommes"] + r["pop_femmes"]
            assert abs(r["pop_total"] / population(r["code_qpv"], millesime) - 1) < 0.08
            moins_25 = (r["pop_0_14"] + r["pop_15_19"] + r["pop_20_24"]) / r["pop_total"]
            indice_jeunesse = (r["pop_0_14"] + r["pop_15_19"]) / (r["pop_60_74"] + r["pop_75_plus"])
            assert 0.25 < moins_25 < 0.5 and 0.5 < indice_jeunesse < 5


# -- formats: header variants, encodings, CSV vs ZIP -----------------------------------------------------------

@pytest.mark.parametrize("source_id,a,b,spelling_a,spelling_b", [
    ("insee_filosofi_qpv", 2021, 2022, "DISP_MED_A21", '"DISP_MED_A22"'),
    ("insee_estimations_qpv", 2022, 2023, "POP_75ETPLUS", "pop_75p"),
    ("ft_defm_qpv", 2023, 2024, '"ABC_DUR1"', "ABC_Dur1"),
    ("caf_allocataires_qpv", 2023, 2024, "NOTE_CNAF", ";NOTE;"),
    ("rpls_qpv", 2024, 2025, "tsLsPlsPli", "CodGeo"),
])
def test_header_variants_map_to_the_same_columns(source_id, a, b, spelling_a, spelling_b):
    (_, data_a), (_, data_b) = data_member(source_id, a), data_member(source_id, b)
    head_a, head_b = data_a.split(b"\n", 1)[0].decode("utf-8"), data_b.split(b"\n", 1)[0].decode("utf-8")
    assert spelling_a in head_a and spelling_a not in head_b
    assert spelling_b in head_b + ";" and spelling_b not in head_a + ";"
    ra, rb = parse(source_id, recording(source_id, a), a), parse(source_id, recording(source_id, b), b)
    assert set(ra[0]) == set(rb[0])
    assert all(r["code_qpv"] for r in ra + rb)


def test_recordings_vary_bom_crlf_quotes_and_thousands():
    filo21, filo22 = data_member("insee_filosofi_qpv", 2021)[1], data_member("insee_filosofi_qpv", 2022)[1]
    assert filo21.startswith(b"\xef\xbb\xbf") and b"\r\n" in filo21 and NNBSP.encode() in filo21
    assert not filo22.startswith(b"\xef\xbb\xbf") and b"\r\n" not in filo22 and filo22.startswith(b'"CODGEO"')
    assert filo21.split(b"\r\n")[1].startswith(b"Ensemble;")
    for sid, m in (("ft_defm_qpv", 2024), ("caf_allocataires_qpv", 2024), ("rpls_qpv", 2025),
                   ("insee_estimations_qpv", 2022)):
        assert NNBSP.encode() in data_member(sid, m)[1], sid
    rpls = data_member("rpls_qpv", 2025)[1].decode()
    assert re.search(r";\d+;", rpls)  # INSEE writes « 6 » for 6,0


@pytest.mark.parametrize("source_id", sorted(EXPECTED))
def test_csv_served_where_a_zip_was_expected(source_id, tmp_path):
    millesime = LATEST[source_id]
    _, data = data_member(source_id, millesime)
    path = tmp_path / FILES[(source_id, millesime)]  # a .zip name, CSV bytes
    path.write_bytes(data)
    assert canonical(parse(source_id, path, millesime)) == canonical(
        parse(source_id, recording(source_id, millesime), millesime))


@pytest.mark.parametrize("source_id", sorted(EXPECTED))
def test_windows_1252_input(source_id, tmp_path):
    millesime = min(m for s, m in FILES if s == source_id)
    _, data = data_member(source_id, millesime)
    text = data.decode("utf-8").lstrip("\ufeff").replace(NNBSP, "\u00a0")  # cp1252 has no narrow nbsp
    path = tmp_path / "data.csv"
    path.write_bytes(text.encode("cp1252"))
    rows = parse(source_id, path, millesime)
    assert canonical(rows) == canonical(parse(source_id, recording(source_id, millesime), millesime))
    if source_id == "rpls_qpv":
        assert next(r for r in rows if r["code_qpv"] == "QN01326I")["libelle_qpv"] == \
            "Quartier Béalet-Bessons-Mariélie"


@pytest.mark.parametrize("source_id,old,new,missing", [
    ("insee_filosofi_qpv", "DISP_MED_A21", "DISP_MEDIANE_A21", "revenu_median"),
    ("insee_estimations_qpv", "POP_0A14", "POP_0A15", "pop_0_14"),
    ("ft_defm_qpv", "ABC_RSA", "ABC_RSA_TOT", "defm_abc_rsa"),
    ("caf_allocataires_qpv", "PERCOU", "PERS_COUV", "personnes_couvertes"),
    ("rpls_qpv", "nbLsPls", "nbLogSoc", "logements_sociaux"),
])
def test_renamed_column_is_a_clear_error(source_id, old, new, missing, tmp_path):
    millesime = min(m for s, m in FILES if s == source_id)
    name, data = data_member(source_id, millesime)
    path = write_zip(tmp_path / "landed.zip", {name: rename_in_header(data, old, new)})
    with pytest.raises(FormatError) as err:
        parse(source_id, path, millesime, file=FILES[(source_id, millesime)])
    msg = str(err.value)
    assert f"[{source_id}]" in msg and f"missing column(s): {missing}" in msg
    assert old in msg and repr(new) in msg  # expected vs found
    assert f"{FILES[(source_id, millesime)]}!{name}" in msg and "line 1" in msg
    assert err.value.expected and err.value.found


def test_missing_column_is_a_clear_error(tmp_path):
    _, data = data_member("caf_allocataires_qpv", 2024)
    lines = data.decode("utf-8").split("\n")
    cut = lines[0].split(";").index("ARSAS")
    text = "\n".join(";".join(f for i, f in enumerate(line.split(";")) if i != cut) if line else line
                     for line in lines)
    path = tmp_path / "data_CAF2024_QP.csv"
    path.write_text(text, encoding="utf-8")
    with pytest.raises(FormatError, match=r"missing column\(s\): allocataires_rsa.*ARSAS"):
        parse("caf_allocataires_qpv", path, 2024)


@pytest.mark.parametrize("source_id", sorted(EXPECTED) + ["insee_bpe"])
def test_empty_file_and_html_page(source_id, tmp_path):
    path = tmp_path / "0a1b2c.zip"  # landed files are named by their hash: messages name the published file
    path.write_bytes(b"")
    with pytest.raises(FormatError) as err:
        parse(source_id, path, 2024, file="published.zip")
    assert "an empty file" in str(err.value) and "published.zip" in str(err.value)
    assert f"[{source_id}]" in str(err.value)
    path.write_bytes(b"<!DOCTYPE html><html><head><title>Maintenance</title></head><body>Indisponible</body></html>")
    with pytest.raises(FormatError) as err:
        parse(source_id, path, 2024, file="published.zip")
    assert "HTML page" in str(err.value) and "published.zip" in str(err.value)


def test_zip_without_the_data_member(tmp_path):
    path = write_zip(tmp_path / "x.zip", {"meta_DEFM2024_QP.csv": b"COD_VAR;LIB_VAR\n",
                                          "data_DEFM2024_COM.csv": b"CODGEO;NOTE\n13055;0\n"})
    with pytest.raises(FormatError, match="cannot find the data file inside the ZIP.*data_DEFM2024_COM.csv"):
        parse("ft_defm_qpv", path, 2024)


def test_non_numeric_value_names_line_and_column(tmp_path):
    _, data = data_member("ft_defm_qpv", 2024)
    lines = data.decode("utf-8").split("\n")
    i = next(i for i, line in enumerate(lines) if i > 0 and line.split(";")[1] == "0")  # a published row
    fields = lines[i].split(";")
    fields[5] = "n/a"  # ABC
    lines[i] = ";".join(fields)
    path = tmp_path / "data_DEFM2024_QP.csv"
    path.write_text("\n".join(lines), encoding="utf-8")
    with pytest.raises(FormatError) as err:
        parse("ft_defm_qpv", path, 2024)
    assert err.value.line == i + 1 and err.value.column == "ABC" and "'n/a'" in str(err.value)


# -- BPE -------------------------------------------------------------------------------------------------------

BPE_FILES = {m: RECORDINGS / "insee_bpe" / str(m) / f for m, f in gen.BPE_FILES.items()}


@pytest.mark.parametrize("millesime", sorted(gen.BPE_FILES))
def test_bpe_recording_parses_to_the_generator_values(millesime):
    rows = parse("insee_bpe", BPE_FILES[millesime], millesime)
    assert canonical(rows) == gen.bpe_expected(millesime)
    assert 2000 < len(rows) < 4000
    assert [r["_line"] for r in rows] == list(range(2, len(rows) + 2))
    assert all(r["millesime"] == millesime for r in rows)
    in_qpv = [r for r in rows if r["code_qpv"]]
    assert 0.25 < len(in_qpv) / len(rows) < 0.5
    assert {r["code_qpv"] for r in in_qpv} <= {t["code_qp"] for t in territoires()}
    for prefix in ("F1", "F3", "D2"):
        assert any(r["typequ"].startswith(prefix) for r in in_qpv), prefix
    no_xy = [r for r in rows if r["longitude"] is None]
    assert no_xy and all(r["_secret"] == ["longitude", "latitude"] for r in no_xy)
    assert all(r["_secret"] == [] for r in rows if r["longitude"] is not None)
    geo = [r for r in rows if r["longitude"] is not None]
    assert all(4.0 < r["longitude"] < 10.0 and 41.0 < r["latitude"] < 45.0 for r in geo)
    assert any(r["code_commune"].startswith("132") for r in rows)  # Marseille by arrondissement


def test_bpe_never_maps_qp2015():
    published = gen.bpe_published(2025)
    only_2015 = [i for i, r in enumerate(published)
                 if r["_qp2015"].startswith("QP") and not r["QP2024"].startswith("QN")]
    assert only_2015, "the recording has equipments in a 2015 QPV but in no 2024 QPV"
    rows = parse("insee_bpe", BPE_FILES[2025], 2025)
    assert all(rows[i]["code_qpv"] is None for i in only_2015)
    assert not any((r["code_qpv"] or "").startswith("QP") for r in rows)
    with zipfile.ZipFile(BPE_FILES[2025]) as zf:
        head = zf.read("BPE25.csv").split(b"\n", 1)[0].decode("utf-8-sig")
    assert ",qp2024,quali_qp2024,qp2015,quali_qp2015," in head  # lower-case names, ``,`` separator


def test_bpe_without_qp2024_is_an_error_not_a_2015_mapping(tmp_path):
    text = BPE_FILES[2024].read_bytes().decode("utf-8")
    head, rest = text.split("\r\n", 1)
    path = tmp_path / "BPE24.csv"
    path.write_text(head.replace(";QP2024;QUALI_QP2024;", ";QP2015;QUALI_QP2015;") + "\r\n" + rest,
                    encoding="utf-8")
    with pytest.raises(FormatError) as err:
        parse("insee_bpe", path, 2024)
    assert "missing column(s): code_qpv" in str(err.value) and "QP2024" in str(err.value)
    assert "'QP2015'" in str(err.value)


def test_bpe_keeps_an_undetermined_qpv_apart_from_outside_every_qpv(tmp_path):
    """QP2024 « _U » (INSEE could not place the equipment): no QPV code, and qualite_qpv « _U » so that the
    commune's outside-QPV counts leave it out, even from a file without the QUALI_QP2024 column."""
    rows = parse("insee_bpe", BPE_FILES[2024], 2024)
    undetermined = [i for i, r in enumerate(rows) if r["qualite_qpv"] == "_U"]
    assert undetermined and all(rows[i]["code_qpv"] is None for i in undetermined)
    text = BPE_FILES[2024].read_bytes().decode("utf-8")
    head, rest = text.split("\r\n", 1)
    names = head.split(";")
    drop = names.index("QUALI_QP2024")
    lines = [";".join(f for j, f in enumerate(line.split(";")) if j != drop) for line in [head, *rest.split("\r\n")]
             if line]
    path = tmp_path / "BPE24.csv"
    path.write_text("\r\n".join(lines) + "\r\n", encoding="utf-8")
    without = parse("insee_bpe", path, 2024)
    assert [i for i, r in enumerate(without) if r["qualite_qpv"] == "_U"] == undetermined
    assert all(r["qualite_qpv"] is None for i, r in enumerate(without) if i not in set(undetermined))
    assert [r["code_qpv"] for r in without] == [r["code_qpv"] for r in rows]


def test_bpe_streams_in_batches(tmp_path):
    ctx = ParseContext("insee_bpe", 2024, None, "BPE24.csv")
    batches = list(parse_bpe(BPE_FILES[2024], ctx, batch_rows=500, block_bytes=64 * 1024))
    assert len(batches) >= 6 and all(b.num_rows <= 500 for b in batches)
    assert all(b.schema == BPE.arrow_schema() for b in batches)
    table = pa.Table.from_batches(batches)
    assert table.to_pylist() == parse("insee_bpe", BPE_FILES[2024], 2024)
    assert table.column("_line").to_pylist() == list(range(2, table.num_rows + 2))
    # the parser is lazy: the first batch comes before the file is read to the end
    it = parse_bpe(BPE_FILES[2024], ctx, batch_rows=100, block_bytes=64 * 1024)
    assert next(it).num_rows == 100


def test_bpe_zip_where_a_csv_was_expected_and_the_reverse(tmp_path):
    zipped = write_zip(tmp_path / "BPE24.csv", {"BPE24.csv": BPE_FILES[2024].read_bytes()})
    assert parse("insee_bpe", zipped, 2024) == parse("insee_bpe", BPE_FILES[2024], 2024)
    with zipfile.ZipFile(BPE_FILES[2025]) as zf:
        plain = tmp_path / "BPE25.zip"
        plain.write_bytes(zf.read("BPE25.csv"))
    assert canonical(parse("insee_bpe", plain, 2025)) == gen.bpe_expected(2025)


def test_bpe_windows_1252_and_decimal_comma(tmp_path):
    text = BPE_FILES[2024].read_bytes().decode("utf-8")
    assert "RÉPUBLIQUE" in text and "Berre-l'Étang" in text
    path = tmp_path / "BPE24.csv"
    path.write_bytes(text.encode("cp1252"))
    assert canonical(parse("insee_bpe", path, 2024)) == gen.bpe_expected(2024)
    head, rest = text.split("\r\n", 1)
    lines = rest.split("\r\n")
    idx = head.split(";").index("LONGITUDE")
    fields = lines[1].split(";")
    assert fields[idx]
    fields[idx] = fields[idx].replace(".", ",")
    lines[1] = ";".join(fields)
    path.write_text(head + "\r\n" + "\r\n".join(lines), encoding="utf-8")
    rows = parse("insee_bpe", path, 2024)
    assert rows[1]["longitude"] == gen.bpe_expected(2024)[1]["longitude"]
    fields[idx] = "5°22'E"
    lines[1] = ";".join(fields)
    path.write_text(head + "\r\n" + "\r\n".join(lines), encoding="utf-8")
    with pytest.raises(FormatError) as err:
        parse("insee_bpe", path, 2024)
    assert err.value.line == 3 and err.value.column == "LONGITUDE" and "5°22'E" in str(err.value)


def test_bpe_ragged_row_is_a_format_error(tmp_path):
    text = BPE_FILES[2024].read_bytes().decode("utf-8")
    path = tmp_path / "BPE24.csv"
    path.write_text(text + "2024;ONLY;THREE\r\n", encoding="utf-8")
    with pytest.raises(FormatError, match="malformed CSV"):
        parse("insee_bpe", path, 2024)


# -- specs and the raw gate ------------------------------------------------------------------------------------

def test_spec_flags():
    bpe = get_parser("insee_bpe").spec
    assert bpe.key == () and not bpe.qpv_required and not bpe.covers_all_qpv
    assert [c.name for c in bpe.columns] == ["annee", "code_commune", "code_epci", "typequ", "code_qpv",
                                             "qualite_qpv", "longitude", "latitude"]
    filo = get_parser("insee_filosofi_qpv").spec
    assert filo.column("revenu_median").indicateur == "revenu_median"
    assert filo.column("taux_pauvrete").indicateur == "taux_pauvrete" and filo.column("taux_pauvrete").kind == "rate"
    assert filo.note_column == "note" and "ensemble" in filo.skip_codes
    indicators = {
        "caf_allocataires_qpv": {"allocataires": "nb_allocataires_caf",
                                 "personnes_couvertes": "nb_personnes_couvertes_caf",
                                 "allocataires_rsa": "nb_allocataires_rsa"},
        "ft_defm_qpv": {"defm_abc": "nb_demandeurs_emploi_abc", "defm_a": "nb_demandeurs_emploi_a"},
        "rpls_qpv": {"logements_sociaux": "nb_logements_sociaux"},
    }
    for sid, cols in indicators.items():
        spec = get_parser(sid).spec
        for col, ind in cols.items():
            assert spec.column(col).indicateur == ind and spec.column(col).kind == "count"
    for sid in ("ft_defm_qpv", "caf_allocataires_qpv"):  # INSEE blanks small counts: 0 is never published
        assert all(c.zero_is_suspect for c in get_parser(sid).spec.value_columns if c.name != "note")
    rpls = get_parser("rpls_qpv").spec  # 0 dwellings put into service, 0 % vacancy: real values
    assert not rpls.column("logements_mis_en_service").zero_is_suspect
    assert not rpls.column("taux_vacance").zero_is_suspect and rpls.column("loyer_moyen_m2").zero_is_suspect


@pytest.mark.parametrize("source_id,millesime", sorted(FILES) + [("insee_bpe", m) for m in sorted(gen.BPE_FILES)])
def test_recordings_pass_the_raw_gate(source_id, millesime):
    from expectations.runner import run_suite
    from expectations.suites import raw_suite
    from observatoire.catalogue import indicateurs
    from observatoire.perimetre import perimeter_qpv_codes

    path = BPE_FILES[millesime] if source_id == "insee_bpe" else recording(source_id, millesime)
    p = get_parser(source_id)
    table = pa.Table.from_batches(list(p.parse(path, ParseContext(source_id, millesime, None, path.name))),
                                  schema=p.spec.arrow_schema())
    suite = raw_suite(source_id, p.spec, millesime=millesime, perimeter_qpv=perimeter_qpv_codes(),
                      catalogue=indicateurs())
    summary = run_suite(suite, table.to_pandas())
    failed = [c for c in summary["checks"] if c["status"] != "passed"]
    assert summary["success"], failed


def test_raw_gate_rejects_a_zero_in_place_of_a_secret_cell(tmp_path):
    from expectations.runner import run_suite
    from expectations.suites import raw_suite
    from observatoire.catalogue import indicateurs
    from observatoire.perimetre import perimeter_qpv_codes

    name, data = data_member("caf_allocataires_qpv", 2024)
    text = data.decode("utf-8")
    masked = next(line for line in text.split("\n")[1:] if line and line.split(";")[1] != "0")
    filled = masked.split(";")
    filled[1] = "0"
    filled[2:] = ["0"] * (len(filled) - 2)  # a secret row exported as zeros
    path = tmp_path / name
    path.write_text(text.replace(masked, ";".join(filled)), encoding="utf-8")
    p = get_parser("caf_allocataires_qpv")
    table = pa.Table.from_batches(list(p.parse(path, ParseContext("caf_allocataires_qpv", 2024, None, name))))
    suite = raw_suite("caf_allocataires_qpv", p.spec, millesime=2024,
                      perimeter_qpv=perimeter_qpv_codes(), catalogue=indicateurs())
    summary = run_suite(suite, table.to_pandas())
    assert not summary["success"]
    assert any("never exactly 0" in c["check"] and c["status"] == "failed" for c in summary["checks"])


def test_recordings_stay_small():
    for path in list(BPE_FILES.values()) + [recording(*k) for k in FILES]:
        assert path.stat().st_size < 1_000_000, path
        if zipfile.is_zipfile(path):
            with zipfile.ZipFile(path) as zf:
                assert all(i.date_time[0] >= 2024 for i in zf.infolist())
                assert sum(i.file_size for i in zf.infolist()) < 2_000_000


def test_generator_is_deterministic(tmp_path, monkeypatch):
    from tests.recordings import generate

    monkeypatch.setattr(generate, "HERE", tmp_path)
    for written in gen.write_all():
        rel = written.relative_to(tmp_path)
        assert written.read_bytes() == (RECORDINGS / rel).read_bytes(), rel
    buf = io.BytesIO(BPE_FILES[2025].read_bytes())
    with zipfile.ZipFile(buf) as zf:
        assert zf.namelist() == ["BPE25.csv", "varmod_BPE25.csv"]
