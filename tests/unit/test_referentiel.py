"""ANCT QPV 2024 contours: the ZIP layout, the plain GeoJSON variant, and the errors people will meet."""

import io
import json
import struct
import zipfile

import numpy as np
import pyarrow as pa
import pytest
import shapely
from shapely.geometry import shape

from extract.errors import FormatError
from extract.parsers import ParseContext, get_parser
from tests.conftest import RECORDINGS
from tests.recordings import gen_referentiel, generate

ZIP = RECORDINGS / "anct_qpv_contours" / "2024" / gen_referentiel.CONTOURS_ZIP


def parse(path, millesime=2024):
    p = get_parser("anct_qpv_contours")
    ctx = ParseContext("anct_qpv_contours", millesime, f"file://{path}", path.name)
    return pa.Table.from_batches(list(p.parse(path, ctx)), schema=p.spec.arrow_schema())


def member(name=gen_referentiel.GEOJSON_MEMBER) -> bytes:
    with zipfile.ZipFile(ZIP) as zf:
        return zf.read(name)


def write_geojson(tmp_path, doc, name="contours.geojson"):
    path = tmp_path / name
    path.write_bytes(gen_referentiel.geojson_bytes(doc))
    return path


def test_zip_parses_every_recorded_qpv_with_its_real_polygon():
    table = parse(ZIP)
    rows = {r["code_qpv"]: r for r in table.to_pylist()}
    terr = {t["code_qp"]: t for t in generate.territoires()}
    assert set(rows) == set(terr) and len(rows) == 122
    base = {f["properties"]["code_qp"]: f for f in gen_referentiel.base_contours()["features"]}
    for code, t in terr.items():
        r = rows[code]
        assert (r["libelle_qpv"], r["insee_com"], r["lib_com"], r["insee_dep"], r["lib_dep"], r["insee_reg"],
                r["lib_reg"], r["siren_epci"]) == (t["lib_qp"], t["insee_com"], t["lib_com"], t["insee_dep"],
                                                   t["lib_dep"], t["insee_reg"], t["lib_reg"], t["siren_epci"])
        g = shapely.from_wkb(r["geometry_wkb"])
        assert g.geom_type == "MultiPolygon"
        assert shapely.equals_exact(g, shape(base[code]["geometry"]), tolerance=0)
        assert r["millesime"] == 2024 and r["_secret"] == []
    assert rows["QN01341I"]["insee_com"] == "13055, 13070"  # multi-commune QPV kept as published
    assert sum(r["siren_epci"] == "200054807" for r in rows.values()) == 66
    # one feature per line, as GDAL writes it: _line points at the feature in the GeoJSON member
    assert sorted(table["_line"].to_pylist()) == list(range(6, 6 + 122))


def test_zip_and_plain_geojson_give_the_same_table(tmp_path):
    plain = tmp_path / "QP2024_France_Hexagonale_Outre_Mer_WGS84.geojson"
    plain.write_bytes(member())
    assert parse(plain).equals(parse(ZIP))
    # a compact GeoJSON (one line) of the same features parses to the same values
    compact = tmp_path / "compact.geojson"
    compact.write_text(json.dumps(gen_referentiel.base_contours(), ensure_ascii=False), encoding="utf-8")
    a, b = parse(compact), parse(ZIP)
    assert a.drop(["_line"]).equals(b.drop(["_line"]))
    # the bytes decide, not the name: a ZIP named .geojson is still read as the ZIP
    disguised = tmp_path / "qpv.geojson"
    disguised.write_bytes(ZIP.read_bytes())
    assert parse(disguised).num_rows == 122


def test_recorded_zip_has_the_anct_layout_and_is_deterministic():
    with zipfile.ZipFile(ZIP) as zf:
        names = zf.namelist()
        infos = zf.infolist()
        shp = zf.read(gen_referentiel.SHP_LB93 + ".shp")
        shx = zf.read(gen_referentiel.SHP_WGS84 + ".shx")
        dbf = zf.read(gen_referentiel.SHP_WGS84 + ".dbf")
    assert gen_referentiel.GEOJSON_MEMBER in names
    for stem in (gen_referentiel.SHP_LB93, gen_referentiel.SHP_WGS84):
        assert {stem + ext for ext in (".shp", ".shx", ".dbf", ".prj", ".cpg")} <= set(names)
    assert {i.date_time for i in infos} == {gen_referentiel.ZIP_DATE}
    assert gen_referentiel.contours_zip_bytes() == ZIP.read_bytes()
    # shapefile headers: polygons, 122 records, Lambert-93 metres around Provence / Corsica
    code, length = struct.unpack(">i20xi", shp[:28])
    version, shape_type = struct.unpack("<2i", shp[28:36])
    xmin, ymin, xmax, ymax = struct.unpack("<4d", shp[36:68])
    assert (code, version, shape_type, length * 2) == (9994, 1000, 5, len(shp))
    assert 780_000 < xmin < xmax < 1_250_000 and 6_000_000 < ymin < ymax < 6_400_000
    assert (len(shx) - 100) // 8 == 122 and struct.unpack("<I", dbf[4:8])[0] == 122
    assert ZIP.stat().st_size < 2_000_000


def test_lambert93_projection_matches_known_points():
    # the Lambert-93 origin, and Marseille Vieux-Port (~ 892 km E, 6 246 km N)
    x, y = gen_referentiel.lambert93(np.array([3.0, 5.3698]), np.array([46.5, 43.2951]))
    assert x[0] == pytest.approx(700_000, abs=0.01) and y[0] == pytest.approx(6_600_000, abs=0.01)
    assert x[1] == pytest.approx(892_400, abs=1500) and y[1] == pytest.approx(6_246_800, abs=1500)


def test_html_served_instead_of_the_zip_is_a_clear_error(tmp_path):
    path = tmp_path / "942d4ee8-8142-4556-8ea1-335537ce1119"
    path.write_bytes(b"<!DOCTYPE html><html><head><title>data.gouv.fr</title></head><body>Maintenance</body></html>")
    with pytest.raises(FormatError) as err:
        parse(path)
    msg = str(err.value)
    assert msg.startswith("[anct_qpv_contours] unexpected file type")
    assert "HTML page" in msg and "ZIP holding GEOJSON/" in msg and path.name in msg


def test_zip_without_geojson_member_is_a_clear_error(tmp_path):
    path = tmp_path / "qpv.zip"
    with zipfile.ZipFile(path, "w") as zf:
        zf.writestr("GPKG/QP2024_France_Hexagonale_Outre_Mer_WGS84.gpkg", b"SQLite format 3\x00")
        zf.writestr("LISEZMOI.txt", "contours QPV 2024")
    with pytest.raises(FormatError) as err:
        parse(path)
    msg = str(err.value)
    assert "no GeoJSON member in the ZIP archive" in msg
    assert "GPKG/QP2024_France_Hexagonale_Outre_Mer_WGS84.gpkg" in msg and "expected exactly one member *.geojson" in msg


def test_missing_property_lists_expected_and_found(tmp_path):
    doc = gen_referentiel.base_contours()
    del doc["features"][2]["properties"]["siren_epci"]
    with pytest.raises(FormatError) as err:
        parse(write_geojson(tmp_path, doc))
    e = err.value
    assert e.problem == "missing feature property: siren_epci"
    assert "siren_epci" in e.expected and "code_qp" in e.expected
    assert "'code_qp'" in e.found and "'siren_epci'" not in e.found
    assert "feature 3" in e.file and e.line == 8


def test_property_names_are_matched_case_insensitively_and_numeric_codes_keep_their_zeros(tmp_path):
    doc = gen_referentiel.base_contours()
    for f in doc["features"]:
        p = f["properties"]
        f["properties"] = {k.upper(): v for k, v in p.items()}
    doc["features"][0]["properties"]["INSEE_DEP"] = 1  # a tool typed the code as a number
    rows = parse(write_geojson(tmp_path, doc)).to_pylist()
    assert len(rows) == 122 and rows[0]["insee_dep"] == "01" and rows[1]["insee_dep"] == "13"


@pytest.mark.parametrize("change, expected", [
    (lambda d: d.update(crs={"type": "name", "properties": {"name": "urn:ogc:def:crs:EPSG::2154"}}),
     "not in WGS84"),
    (lambda d: d["features"][0].update(geometry={"type": "Point", "coordinates": [5.3, 43.3]}),
     "the feature has no polygon"),
    (lambda d: d["features"][0]["properties"].update(code_qp="QP013059"),
     "a QPV 2015 code"),
    (lambda d: d["features"][0]["properties"].update(code_qp=13059),
     "QPV code published as a number"),
    (lambda d: d.update(features=[dict(d["features"][0], geometry=shapely.geometry.mapping(
        shapely.transform(shape(d["features"][0]["geometry"]), lambda xy: xy * 1000 + 700_000)))]),
     "coordinates are not WGS84 longitude/latitude"),
])
def test_wrong_contours_are_clear_errors(tmp_path, change, expected):
    doc = gen_referentiel.base_contours()
    change(doc)
    with pytest.raises(FormatError, match=expected):
        parse(write_geojson(tmp_path, doc))


@pytest.mark.parametrize("text, expected", [
    ('{"data": [], "links": {}}', "not a GeoJSON FeatureCollection"),
    ('{"type": "FeatureCollection", "features": [{"type": "Feature", "properties": {}', "invalid JSON"),
    ("[1, 2, 3]", "not a GeoJSON object"),
])
def test_json_that_is_not_the_contours(tmp_path, text, expected):
    path = tmp_path / "qpv.json"
    path.write_text(text, encoding="utf-8")
    with pytest.raises(FormatError, match=expected):
        parse(path)


def test_geojson_member_that_is_html(tmp_path):
    path = tmp_path / "qpv.zip"
    buf = io.BytesIO()
    with zipfile.ZipFile(buf, "w") as zf:
        zf.writestr(gen_referentiel.GEOJSON_MEMBER, b"<html><body>error</body></html>")
    path.write_bytes(buf.getvalue())
    with pytest.raises(FormatError, match="the GeoJSON member is not JSON"):
        parse(path)
