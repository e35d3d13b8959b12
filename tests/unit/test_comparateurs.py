"""Comparator parsers (extract/comparateurs.py) on the project's recordings (real formats, synthetic values
from tests/recordings/gen_apis.py) and on broken variants of them."""

from __future__ import annotations

import json
import zipfile

import pyarrow as pa
import pytest

from extract.apis import ZIP_DATE, fetch_paged
from extract.errors import FormatError
from extract.parsers import ParseContext, get_parser
from extract.replay import replay_session
from tests.conftest import RECORDINGS
from tests.recordings import gen_apis


def parse(parser_name, path, millesime, source_id=None):
    p = get_parser(parser_name)
    ctx = ParseContext(source_id or parser_name, millesime, f"file://{path}", path.name)
    return pa.Table.from_batches(list(p.parse(path, ctx)), schema=p.spec.arrow_schema()).to_pylist()


def land_cassette(source_id, millesime, tmp_path):
    url = gen_apis.melodi_url(source_id, millesime)
    r = fetch_paged(url, tmp_path, source_id=source_id, paginator="melodi",
                    session=replay_session(RECORDINGS / source_id / str(millesime)))
    return r.path


def page_archive(tmp_path, pages: list[dict], name="landed.zip"):
    """A landed archive (as fetch_paged writes it) holding ``pages``."""
    path = tmp_path / name
    with zipfile.ZipFile(path, "w") as zf:
        log = []
        for i, doc in enumerate(pages, start=1):
            zf.writestr(zipfile.ZipInfo(f"page-{i:04d}.json", date_time=ZIP_DATE), json.dumps(doc))
            log.append({"page": i, "url": f"https://api.insee.fr/melodi/data/DS_X?page={i}", "file": f"page-{i:04d}.json"})
        zf.writestr(zipfile.ZipInfo("requests.json", date_time=ZIP_DATE), json.dumps(log))
    return path


# -- Melodi ------------------------------------------------------------------------------------------

@pytest.mark.parametrize("millesime", [2020, 2021])
def test_melodi_population_recording_parses_to_the_generators_values(millesime, tmp_path):
    rows = parse("insee_melodi", land_cassette("insee_melodi_population", millesime, tmp_path), millesime,
                 "insee_melodi_population")
    expected = {(n, c): v for n, c, v in gen_apis._population_levels(millesime)}
    assert len(rows) == len(expected) == 92 + 1 + 3 + 1
    for r in rows:
        assert r["valeur"] == expected[(r["niveau_geo"], r["code_geo"])]
        assert r["mesure"] == "POPREF_MEASURE=PMUN" and r["mesure_code"] == "PMUN"
        assert r["time_period"] == millesime and r["millesime_geo"] == "2025" and r["millesime"] == millesime
        assert r["jeu_de_donnees"] == "DS_POPULATIONS_REFERENCE" and r["_secret"] == []
        assert r["_line"] // 1_000_000 in (1, 2, 3)  # page number × 1e6 + rank
    by = {(r["niveau_geo"], r["code_geo"]): r["valeur"] for r in rows}
    communes = [r for r in rows if r["niveau_geo"] == "COM"]
    assert {r["code_geo"] for r in communes} == {c for c, _, _ in gen_apis.COMMUNES_AMP}
    assert by[("EPCI", "200054807")] == sum(r["valeur"] for r in communes)
    assert 840_000 < by[("COM", "13055")] < 910_000
    assert 1_800_000 < by[("EPCI", "200054807")] < 2_000_000
    assert 63_000_000 < by[("FRANCE", "F")] < 69_000_000
    assert by[("DEP", "13")] > by[("EPCI", "200054807")]
    assert all(isinstance(r["code_geo"], str) for r in rows)


@pytest.mark.parametrize("millesime", [2021, 2022])
def test_melodi_filosofi_recording_with_withheld_values(millesime, tmp_path):
    rows = parse("insee_melodi", land_cassette("insee_melodi_filosofi", millesime, tmp_path), millesime,
                 "insee_melodi_filosofi")
    expected = {(n, c, m): v for n, c, m, v in gen_apis._filosofi_levels(millesime)}
    assert len(rows) == len(expected)
    for r in rows:
        assert r["valeur"] == expected[(r["niveau_geo"], r["code_geo"], r["mesure_code"])]
    secret = [r for r in rows if r["valeur"] is None]
    assert secret, "small communes have withheld values"
    for r in secret:
        assert r["_secret"] == ["valeur"] and r["statut_confidentialite"] == "C"
    pr = {r["code_geo"]: r["valeur"] for r in rows if r["mesure_code"] == "PR_MD60" and r["niveau_geo"] == "COM"}
    assert all(10 <= v <= 30 for v in pr.values() if v is not None)
    poverty = next(r for r in rows if r["code_geo"] == "13055" and r["mesure_code"] == "PR_MD60")
    assert poverty["mesure"] == "FILOSOFI_MEASURE=PR_MD60|UNIT_MEASURE=PT" and poverty["unite"] == "PT"
    median = next(r for r in rows if r["niveau_geo"] == "FRANCE" and r["mesure_code"] == "MED_SL")
    assert median["unite"] == "EUR_YR" and 20_000 < median["valeur"] < 26_000
    keys = {(r["niveau_geo"], r["code_geo"], r["time_period"], r["mesure"]) for r in rows}
    assert len(keys) == len(rows)


def obs(geo="2025-COM-13055", value=1.0, **dims):
    return {"dimensions": {"GEO": geo, "FREQ": "A", "TIME_PERIOD": "2021", "POPREF_MEASURE": "PMUN", **dims},
            "measures": {"OBS_VALUE_NIVEAU": {"value": value}}}


def test_melodi_geo_forms_and_other_measure_names(tmp_path):
    page = {"identifier": "DS_X", "observations": [
        obs("2025-FRANCE-F"), obs("2024-ARM-13201"), obs("COM-2A004"),
        {"dimensions": {"GEO": "2025-DEP-974", "TIME_PERIOD": "2022", "FREQ": "A"},
         "measures": {"OBS_VALUE_INDICE_DE_PRIX": {"value": "99,14"}}},
        {"dimensions": {"GEO": "2025-COM-13090", "TIME_PERIOD": "2021", "X_MEASURE": "M"}, "measures": {}},
    ]}
    rows = parse("insee_melodi", page_archive(tmp_path, [page]), 2021)
    got = [(r["niveau_geo"], r["code_geo"], r["millesime_geo"], r["valeur"]) for r in rows]
    assert got == [("FRANCE", "F", "2025", 1.0), ("ARM", "13201", "2024", 1.0), ("COM", "2A004", None, 1.0),
                   ("DEP", "974", "2025", 99.14), ("COM", "13090", "2025", None)]
    assert rows[3]["mesure"] == "" and rows[4]["_secret"] == ["valeur"] and rows[4]["mesure_code"] == "M"


@pytest.mark.parametrize("page,message", [
    ({"identifier": "DS_X", "paging": {}}, "page 1 has no 'observations' list"),
    ({"observations": [obs("13055")]}, "unexpected GEO"),
    ({"observations": [obs(TIME_PERIOD="2026-01")]}, "TIME_PERIOD is not a year"),
    ({"observations": [obs(value="beaucoup")]}, "observation value is not a number"),
    ({"observations": [{"measures": {}}]}, "observation without GEO / TIME_PERIOD"),
])
def test_melodi_broken_pages_are_clear_errors(tmp_path, page, message):
    with pytest.raises(FormatError) as err:
        parse("insee_melodi", page_archive(tmp_path, [page]), 2021, "insee_melodi_population")
    msg = str(err.value)
    assert "[insee_melodi_population]" in msg and message in msg and "DS_X?page=1" in msg


def test_melodi_missing_observations_against_paging_count(tmp_path):
    pages = [{"observations": [obs("2025-COM-13001"), obs("2025-COM-13002")], "paging": {"count": 5}},
             {"observations": [obs("2025-COM-13003")], "paging": {"count": 5, "isLast": True}}]
    with pytest.raises(FormatError, match=r"expected 5 observations \(paging.count\); found 3 observations"):
        parse("insee_melodi", page_archive(tmp_path, pages), 2021)


# -- DARES ---------------------------------------------------------------------------------------------

@pytest.mark.parametrize("millesime", [2023, 2024, 2025])
def test_dares_recording_parses_drops_totals_and_flags_plm(millesime):
    path = RECORDINGS / "dares_defm_communes" / str(millesime) / gen_apis.DARES_FILE
    assert path.read_bytes().startswith(b"\xef\xbb\xbf")
    rows = parse("dares_defm", path, millesime, "dares_defm_communes")
    expected = [r for r in gen_apis.dares_rows(millesime) if r[5] != "Total"]
    assert len(rows) == len(expected) == len(gen_apis.dares_communes()) * 12
    assert not any(r["code_commune"] == "Total" for r in rows)
    assert {r["trimestre"] for r in rows} == {f"{millesime}-T4"}
    for r, e in zip(rows, expected, strict=True):
        assert (r["code_commune"], r["sexe"], r["tranche_age"], r["demandeurs_emploi"]) == (e[5], e[9], e[10],
                                                                                            float(e[11]))
        assert r["demandeurs_emploi"] % 5 == 0 and r["categorie"] == "ABC"
    arr = {r["code_commune"] for r in rows if r["est_arrondissement"]}
    assert arr == {f"132{i:02d}" for i in range(1, 17)}
    total = {r["code_commune"]: r["demandeurs_emploi"] for r in rows if r["sexe"] == "Total" and r["tranche_age"] == "Total"}
    # Marseille is published as the commune AND its arrondissements: summing both would double count
    assert "13055" in total and abs(sum(total[c] for c in arr) - total["13055"]) <= 5 * 16
    assert all(isinstance(r["code_commune"], str) and len(r["code_commune"]) == 5 for r in rows)


def test_dares_2025_break_is_visible_in_the_recording():
    tot = {}
    for y in (2024, 2025):
        rows = parse("dares_defm", RECORDINGS / "dares_defm_communes" / str(y) / gen_apis.DARES_FILE, y)
        tot[y] = next(r["demandeurs_emploi"] for r in rows if r["code_commune"] == "13055" and r["sexe"] == "Total"
                      and r["tranche_age"] == "Total")
    assert tot[2025] > tot[2024] * 1.05  # RSA recipients registered automatically from 1 January 2025


def test_dares_other_year_only_is_a_clear_error():
    path = RECORDINGS / "dares_defm_communes" / "2024" / gen_apis.DARES_FILE
    with pytest.raises(FormatError) as err:
        parse("dares_defm", path, 2023, "dares_defm_communes")
    assert "no row of millésime 2023" in str(err.value) and "years 2024" in str(err.value)


def test_dares_renamed_column_is_a_clear_error(tmp_path):
    src = RECORDINGS / "dares_defm_communes" / "2024" / gen_apis.DARES_FILE
    path = tmp_path / gen_apis.DARES_FILE
    path.write_bytes(src.read_bytes().replace(b"Nombre de demandeurs d'emploi", b"Effectif"))
    with pytest.raises(FormatError) as err:
        parse("dares_defm", path, 2024, "dares_defm_communes")
    msg = str(err.value)
    assert "missing column(s): demandeurs_emploi" in msg and "'Effectif'" in msg and gen_apis.DARES_FILE in msg


def test_dares_secret_blank_is_null_never_zero(tmp_path):
    text = "\ufeff" + ";".join(gen_apis.DARES_HEADER) + "\r\n"
    text += "2024-T4;93;PACA;13;Bouches-du-Rhône;13090;Saint-Antonin-sur-Bayon;Brutes;ABC;Femmes;Moins de 25 ans;\r\n"
    path = tmp_path / "x.csv"
    path.write_text(text, encoding="utf-8")
    (row,) = parse("dares_defm", path, 2024)
    assert row["demandeurs_emploi"] is None and row["_secret"] == ["demandeurs_emploi"]


# -- CAF -----------------------------------------------------------------------------------------------

@pytest.mark.parametrize("millesime", [2023, 2024])
def test_caf_recording_keeps_the_millesime_drops_unlocated_and_flags_plm(millesime):
    path = RECORDINGS / "caf_communes" / str(millesime) / gen_apis.CAF_FILE
    raw = path.read_bytes()
    assert raw.startswith(b"\xef\xbb\xbf") and f"{millesime - 1}-12".encode() in raw  # the export holds other years
    rows = parse("caf_communes", path, millesime)
    communes = gen_apis.caf_communes()
    assert len(rows) == len(communes)
    assert {r["date_reference"] for r in rows} == {f"{millesime}-12"}
    assert "13055" not in {r["code_commune"] for r in rows}  # Marseille only as its arrondissements
    assert {r["code_commune"] for r in rows if r["est_arrondissement"]} == {f"132{i:02d}" for i in range(1, 17)}
    assert all(r["code_commune"] for r in rows)  # the « non localisé » row (empty numcomdo) is dropped
    qpv = gen_apis.qpv_communes()
    for (code, name, base), r in zip(communes, rows, strict=True):
        v = gen_apis.caf_values(code, base, millesime, qpv)
        assert r["code_commune"] == code and r["libelle_commune"] == name.upper()
        assert r["allocataires"] == v["indfoy_ndur"] and r["personnes_couvertes"] == v["indnbp_ndur"]
        assert r["allocataires_aide_logement"] == v["indfoy_ndural"]
        if v["indfoy_rsa"] is None:
            assert r["allocataires_rsa"] is None and "allocataires_rsa" in r["_secret"]
        else:
            assert r["allocataires_rsa"] == v["indfoy_rsa"]
    marseille = sum(r["allocataires"] for r in rows if r["est_arrondissement"])
    assert 150_000 < marseille < 260_000


def test_caf_masked_codes_are_dropped(tmp_path):
    head = ";".join(gen_apis.CAF_FIELDS)
    path = tmp_path / "s_ben_com_f.csv"
    path.write_text(f"{head}\n2024-12;13XXX;;10;20;5;5;5;5;0;0\n2024-12;2A004;AJACCIO;100;200;10;20;30;20;5;5\n"
                    f"2024-12;;;500;900;50;50;50;25;20;5\n", encoding="utf-8")
    rows = parse("caf_communes", path, 2024)
    assert [r["code_commune"] for r in rows] == ["2A004"] and rows[0]["est_arrondissement"] is False
