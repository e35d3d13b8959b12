"""RNIC copropriétés (Anah): both published layouts, the postal-code trap, 2015 codes kept apart, dedup."""

import zipfile

import numpy as np
import pyarrow as pa
import pytest

from extract.errors import FormatError
from extract.parsers import ParseContext, get_parser
from extract.rnic import RNIC, resolve_commune
from extract.spatial import QpvIndex
from tests.conftest import RECORDINGS
from tests.recordings import gen_referentiel as gen

QPV_2015 = r"^QP\d{6}$"


def path_of(millesime):
    return RECORDINGS / "anah_rnic" / str(millesime) / gen.RNIC_FILE


def parse(path, millesime):
    p = get_parser("anah_rnic")
    ctx = ParseContext("anah_rnic", millesime, f"file://{path}", path.name)
    return pa.Table.from_batches(list(p.parse(path, ctx)), schema=p.spec.arrow_schema())


@pytest.fixture(scope="module")
def parsed():
    return {m: parse(path_of(m), m) for m in (2025, 2026)}


def test_recordings_are_in_the_two_published_layouts():
    old, new = path_of(2025).read_bytes(), path_of(2026).read_bytes()
    assert old.startswith(b'"EPCI","Commune","Num\xc3\xa9ro d\'immatriculation","Date d\'immatriculation"')
    assert b"\r\n" in old and b'"Copro aid\xc3\xa9e","Code Officiel Commune"' in old
    assert new.startswith(b"\xef\xbb\xbfepci,commune,numero_immatriculation,") and b"\r\n" not in new
    assert max(len(old), len(new)) < 1_000_000


@pytest.mark.parametrize("millesime", [2025, 2026])
def test_every_copropriete_parses_to_what_the_generator_wrote(parsed, millesime):
    rows = {r["numero_immatriculation"]: r for r in parsed[millesime].to_pylist()}
    expected = gen.expected_rnic(millesime)
    assert set(rows) == set(expected) and len(rows) == parsed[millesime].num_rows > 1500
    for num, e in expected.items():
        r = rows[num]
        assert r["code_qpv"] == (e["code_qp_2024"] or None)
        assert r["code_qp_2015"] == (e["code_qp_2015"] or None)
        commune = "13055" if e["arr_code"].startswith("132") else e["insee"]
        assert (r["code_commune"], r["code_arrondissement"]) == (
            commune, e["arr_code"] if e["arr_code"].startswith("132") else None)
        assert (r["nombre_total_lots"], r["nombre_lots_habitation"]) == (e["total"], e["habitation"])
        assert r["periode_construction"] == e["periode"] and r["type_syndic"] == e["syndic"]
        assert r["mandat_en_cours"] == e["mandat"]
        assert r["copro_aidee"] == ("oui" if e["aidee"] else "non")
        assert (r["copro_dans_acv"], r["copro_dans_pvd"]) == ("oui" if e["acv"] else "non", "oui" if e["pvd"] else "non")
        assert r["date_derniere_maj"] == e["date_maj"].isoformat()
        assert (r["longitude"], r["latitude"]) == (e["lon"], e["lat"])
        assert r["nb_lignes_publiees"] == e["nb_lignes"] and r["millesime"] == millesime


def test_both_layouts_map_to_the_same_canonical_columns(parsed):
    old, new = parsed[2025], parsed[2026]
    assert old.schema == new.schema == RNIC.arrow_schema()
    a = {r["numero_immatriculation"]: r for r in old.to_pylist()}
    b = {r["numero_immatriculation"]: r for r in new.to_pylist()}
    common = set(a) & set(b)
    assert len(common) > 1500 and set(b) - set(a)  # new copropriétés registered in between
    stable = ("code_qpv", "code_qp_2015", "code_commune", "code_arrondissement", "nombre_total_lots",
              "nombre_lots_habitation", "periode_construction", "copro_dans_acv", "copro_dans_pvd", "longitude",
              "latitude")
    for num in common:
        assert [a[num][c] for c in stable] == [b[num][c] for c in stable], num
    for t in (old, new):
        assert set(t["copro_aidee"].to_pylist()) == {"oui", "non"}
        assert all(len(d) == 10 and d[4] == "-" for d in t["date_derniere_maj"].to_pylist())


def test_qpv_2015_codes_are_kept_apart(parsed):
    for t in parsed.values():
        rows = t.to_pylist()
        assert all(r["code_qpv"] is None or r["code_qpv"].startswith("QN") for r in rows)
        assert all(r["code_qp_2015"] is None or r["code_qp_2015"].startswith("QP") for r in rows)
        in_qpv = [r for r in rows if r["code_qpv"]]
        amp = [r for r in in_qpv if r["code_qpv"].startswith(("QN013", "QN08406"))]
        assert 400 < len(in_qpv) < len(rows) and len(amp) > 300
        # copropriétés that were in a 2015 QPV but are in no 2024 QPV keep their 2015 code only
        assert any(r["code_qp_2015"] and not r["code_qpv"] for r in rows)
        assert sum(r["copro_aidee"] == "oui" for r in in_qpv) > 30


def test_postal_code_in_code_officiel_commune_is_not_taken_for_an_insee_code(parsed):
    # Marseille 1er: postal code 13001 in the daily file's code_officiel_commune = Aix-en-Provence's INSEE code
    raw = path_of(2026).read_text(encoding="utf-8-sig").splitlines()
    header = raw[0].split(",")
    i_off, i_arr = header.index("code_officiel_commune"), header.index("code_officiel_arrondissement_commune")
    marseille_1er = {line.split(",")[2] for line in raw[1:]
                     if line.split(",")[i_off] == "13001" and line.split(",")[i_arr] == "13201"}
    rows = {r["numero_immatriculation"]: r for r in parsed[2026].to_pylist()}
    assert marseille_1er
    for num in marseille_1er:
        assert (rows[num]["code_commune"], rows[num]["code_arrondissement"]) == ("13055", "13201")
    aix = [r for r in rows.values() if r["code_commune"] == "13001"]
    assert aix and all(r["code_arrondissement"] is None for r in aix)


def test_resolve_commune_rules():
    assert resolve_commune("13203", "", "13003", "13003") == ("13055", "13203")
    assert resolve_commune("06029", "", "06400", "06400") == ("06029", None)  # Cannes: postal 06400
    assert resolve_commune("", "13206", "13006", "13006") == ("13055", "13206")  # cadastre fallback
    assert resolve_commune("", "", "13055", "13001") == ("13055", None)  # an INSEE code, not the postal one
    assert resolve_commune("", "", "13001", "13001") == (None, None)  # a postal code: unknown commune
    assert resolve_commune("2A004", "", "20000", "20000") == ("2A004", None)
    assert resolve_commune("", "", "20000", "") == (None, None)  # 20xxx is a Corsican postal code
    assert resolve_commune("75110", "", "75010", "75010") == ("75056", "75110")
    assert resolve_commune("69383", "", "69003", "69003") == ("69123", "69383")


def test_duplicates_keep_the_latest_row(parsed):
    rows = {r["numero_immatriculation"]: r for r in parsed[2026].to_pylist()}
    published: dict[str, list] = {}
    for pos, row in enumerate(gen.copros(2026)):
        published.setdefault(row["numero"], []).append((pos, row))
    dups = {n: v for n, v in published.items() if len(v) > 1}
    assert len(dups) > 10 and parsed[2026].num_rows == len(rows) == len(published)
    branches = set()
    for n, ((_, a), (_, b)) in dups.items():
        kept = rows[n]
        assert kept["nb_lignes_publiees"] == 2
        if a["date_maj"] != b["date_maj"]:
            branches.add("latest date")
            winner = a if a["date_maj"] > b["date_maj"] else b
        elif (a["mandat"] == gen.MANDAT_EN_COURS) != (b["mandat"] == gen.MANDAT_EN_COURS):
            branches.add("mandate in progress")
            winner = a if a["mandat"] == gen.MANDAT_EN_COURS else b
        else:
            branches.add("last line")
            winner = b
        assert (kept["mandat_en_cours"], kept["type_syndic"], kept["date_derniere_maj"]) == (
            winner["mandat"], winner["syndic"], winner["date_maj"].isoformat())
    assert branches == {"latest date", "mandate in progress", "last line"}


def test_spatial_join_of_the_recorded_coordinates_gives_code_qp_2024(parsed):
    index = QpvIndex.from_file(RECORDINGS / "anct_qpv_contours" / "2024" / gen.CONTOURS_ZIP)
    for t in parsed.values():
        got = index.lookup(t["longitude"].to_numpy(), t["latitude"].to_numpy())
        assert list(got) == t["code_qpv"].to_pylist()


def _rewrite(tmp_path, millesime, fn, name=gen.RNIC_FILE, encoding="utf-8-sig"):
    text = path_of(millesime).read_text(encoding="utf-8-sig")
    path = tmp_path / name
    path.write_bytes(fn(text).encode(encoding) if isinstance(encoding, str) else fn(text))
    return path


def test_variants_windows_1252_and_zip(tmp_path, parsed):
    cp = _rewrite(tmp_path, 2025, lambda t: t.replace("’", "'"), encoding="cp1252")
    assert parse(cp, 2025).drop(["_line"]).equals(parsed[2025].drop(["_line"]))
    zpath = tmp_path / "rnic.zip"
    with zipfile.ZipFile(zpath, "w", zipfile.ZIP_DEFLATED) as zf:
        zf.writestr(gen.RNIC_FILE, path_of(2026).read_bytes())
    assert parse(zpath, 2026).equals(parsed[2026])


def test_a_2015_code_in_the_2024_column_is_an_error(tmp_path):
    path = _rewrite(tmp_path, 2026, lambda t: t.replace(",QN01301M,", ",QP013058,", 1))
    with pytest.raises(FormatError) as err:
        parse(path, 2026)
    e = err.value
    assert e.problem == "a QPV 2015 code in the 2024 column" and e.column == "code_qp_2024" and e.line == 2


def test_bad_flag_and_bad_date_are_errors_with_their_line(tmp_path):
    path = _rewrite(tmp_path, 2025, lambda t: t.replace('"Non","Non","13054"', '"Peut-être","Non","13054"', 1))
    with pytest.raises(FormatError, match="not a yes/no flag") as err:
        parse(path, 2025)
    assert err.value.column == "Copro dans PVD" and err.value.line > 1
    lines = path_of(2026).read_text(encoding="utf-8-sig").split("\n")
    lines[3] = lines[3].replace(lines[3].split(",")[4], "2025-02-31", 1)
    bad = tmp_path / "bad_date.csv"
    bad.write_text("\n".join(lines), encoding="utf-8")
    with pytest.raises(FormatError, match="invalid date") as err:
        parse(bad, 2026)
    assert err.value.line == 4 and err.value.column == "date_derniere_maj"


def test_renamed_column_lists_expected_and_found(tmp_path):
    path = _rewrite(tmp_path, 2026, lambda t: t.replace("code_qp_2024", "qpv_2024", 1))
    with pytest.raises(FormatError) as err:
        parse(path, 2026)
    msg = str(err.value)
    assert "missing column(s): code_qpv" in msg and "published as code_qp_2024" in msg and "'qpv_2024'" in msg


def test_html_instead_of_the_csv(tmp_path):
    path = tmp_path / gen.RNIC_FILE
    path.write_bytes(b"<!doctype html><html><body>Too many requests</body></html>")
    with pytest.raises(FormatError, match="not a delimited text file.*HTML page"):
        parse(path, 2026)


def test_lon_lat_are_numbers(parsed):
    lon = parsed[2026]["longitude"].to_numpy()
    assert np.isfinite(lon).all() and 4.0 < lon.min() < lon.max() < 9.7
