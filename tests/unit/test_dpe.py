"""ADEME DPE parser (extract/dpe.py) on the project's cassettes (synthetic DPE located with the QPV contours of
extract/recordings/_base) and on broken pages."""

from __future__ import annotations

import json
import zipfile
from collections import Counter

import pyarrow as pa
import pytest

from extract.apis import ZIP_DATE, fetch_paged
from extract.errors import FormatError
from extract.parsers import ParseContext, get_parser
from extract.replay import replay_session
from tests.conftest import RECORDINGS
from tests.recordings import gen_apis


def parse(path, millesime, source_id="ademe_dpe_existant"):
    p = get_parser("ademe_dpe_existant")
    ctx = ParseContext(source_id, millesime, "https://data.ademe.fr/x", path.name)
    return pa.Table.from_batches(list(p.parse(path, ctx)), schema=p.spec.arrow_schema()).to_pylist()


@pytest.fixture(scope="module", params=[2024, 2025])
def landed(request, tmp_path_factory):
    year = request.param
    tmp = tmp_path_factory.mktemp(f"dpe{year}")
    r = fetch_paged(gen_apis.dpe_url(year), tmp, source_id="ademe_dpe_existant", paginator="datafair",
                    session=replay_session(RECORDINGS / "ademe_dpe_existant" / str(year) / "cassette.json"))
    return year, r, parse(r.path, year)


def test_recording_parses_to_the_generators_values(landed):
    year, fetched, rows = landed
    expected = gen_apis.dpe_records(year)
    assert len(rows) == len(expected) == gen_apis.DPE_COUNTS[year]
    assert fetched.attempts == len(expected) // gen_apis.DPE_PAGE_SIZE + 1  # 2025: a last, empty page
    for r, e in zip(rows, expected, strict=True):
        assert r["numero_dpe"] == e["numero_dpe"] and r["etiquette_dpe"] == e["etiquette_dpe"]
        assert r["code_insee_ban"] == e["code_insee_ban"] and r["surface_habitable_logement"] == e.get(
            "surface_habitable_logement")
        if "_geopoint" in e:
            lat, lon = (float(x) for x in e["_geopoint"].split(","))
            assert (r["latitude"], r["longitude"]) == (lat, lon)
        else:
            assert r["latitude"] is None and r["longitude"] is None
        assert r["date_etablissement_dpe"].startswith(f"{year}-") and r["millesime"] == year
    assert len({r["numero_dpe"] for r in rows}) == len(rows)


def test_geocoding_share_bogus_points_kept_and_arrondissements(landed):
    year, _, rows = landed
    missing = sum(r["latitude"] is None for r in rows) / len(rows)
    assert 0.28 < missing < 0.42  # ~35 % of DPE are not geocoded by ADEME
    assert any(r["latitude"] and r["latitude"] > 50 for r in rows)  # a Marseille DPE geocoded in Scotland: kept
    assert any(r["latitude"] == 0.0 and r["longitude"] == 0.0 for r in rows)
    codes = {r["code_insee_ban"] for r in rows}
    assert "13055" not in codes and {"13201", "13203", "13215"} <= codes  # Marseille as arrondissements
    assert codes <= set(gen_apis.dpe_codes_insee())


def test_points_fall_in_qpv_and_f_g_are_more_frequent_there(landed):
    from shapely import STRtree
    from shapely.geometry import Point

    year, _, rows = landed
    shapes = gen_apis._amp_qpv_shapes()
    tree = STRtree([s[2] for s in shapes])
    inside, outside = Counter(), Counter()
    for r in rows:
        if r["latitude"] is None or r["etiquette_dpe"] is None:
            continue
        hit = len(tree.query(Point(r["longitude"], r["latitude"]), predicate="within")) > 0
        (inside if hit else outside)[r["etiquette_dpe"]] += 1
    n_in, n_out = sum(inside.values()), sum(outside.values())
    assert n_in > 0.35 * (n_in + n_out)  # a good share of the located DPE are inside a QPV of the Métropole
    fg_in = (inside["F"] + inside["G"]) / n_in
    fg_out = (outside["F"] + outside["G"]) / n_out
    assert fg_in > fg_out + 0.05 and 0.15 < fg_in < 0.45


def test_labels_types_and_key(landed):
    _, _, rows = landed
    assert {r["etiquette_dpe"] for r in rows} <= set("ABCDEFG")
    assert {r["type_batiment"] for r in rows} == {"appartement", "maison", "immeuble"}
    assert any(r["surface_habitable_logement"] is None for r in rows)


def archive(tmp_path, results: list, extra: dict | None = None):
    path = tmp_path / "lines.zip"
    doc = {"total": len(results), "results": results, **(extra or {})}
    with zipfile.ZipFile(path, "w") as zf:
        zf.writestr(zipfile.ZipInfo("page-0001.json", date_time=ZIP_DATE), json.dumps(doc))
        zf.writestr(zipfile.ZipInfo("requests.json", date_time=ZIP_DATE), json.dumps(
            [{"page": 1, "url": "https://data.ademe.fr/data-fair/api/v1/datasets/dpe03existant/lines?size=2",
              "file": "page-0001.json"}]))
    return path


GOOD = {"numero_dpe": "2413E0000001B", "date_etablissement_dpe": "2024-06-11", "etiquette_dpe": "G",
        "code_insee_ban": "13203", "_geopoint": "43.3,5.38"}


def test_code_read_as_a_number_keeps_its_zero_and_geopoint_variants(tmp_path):
    rows = parse(archive(tmp_path, [{**GOOD, "code_insee_ban": 1004, "surface_habitable_logement": "31,5"},
                                    {**GOOD, "numero_dpe": "2", "_geopoint": [43.1, 5.2]}]), 2024)
    assert rows[0]["code_insee_ban"] == "01004" and rows[0]["surface_habitable_logement"] == 31.5
    assert (rows[1]["latitude"], rows[1]["longitude"]) == (43.1, 5.2)


@pytest.mark.parametrize("result,message", [
    ({**GOOD, "etiquette_dpe": "H"}, "etiquette_dpe is not a label A…G"),
    ({**GOOD, "_geopoint": "43.3;5.38"}, '_geopoint is not "lat,lon"'),
    ({**GOOD, "surface_habitable_logement": "grand"}, "surface_habitable_logement is not a number"),
    ({**GOOD, "date_etablissement_dpe": "11/06/2024"}, "date_etablissement_dpe is not an ISO date"),
    ({"N°DPE": "2413E0000001B", "Etiquette_DPE": "G", "Code_INSEE_(BAN)": "13203"}, "result without numero_dpe"),
    ({k: v for k, v in GOOD.items() if k != "code_insee_ban"}, "result without code_insee_ban"),
])
def test_broken_results_are_clear_errors(tmp_path, result, message):
    with pytest.raises(FormatError) as err:
        parse(archive(tmp_path, [GOOD, result]), 2024)
    msg = str(err.value)
    assert "[ademe_dpe_existant]" in msg and message in msg and "page 1, result 2" in msg
    assert "datasets/dpe03existant/lines" in msg


def test_page_without_results(tmp_path):
    path = archive(tmp_path, [])
    with zipfile.ZipFile(path, "w") as zf:
        zf.writestr("page-0001.json", json.dumps({"error": "quota"}))
        zf.writestr("requests.json", json.dumps([{"page": 1, "url": "https://x/lines", "file": "page-0001.json"}]))
    with pytest.raises(FormatError, match="page 1 has no 'results' list"):
        parse(path, 2024)
