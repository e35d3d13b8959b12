"""Abstention gap: results by bureau de vote (both layouts), bureau ↔ QPV shares, the gap in points."""

from __future__ import annotations

from pathlib import Path

import pyarrow as pa
import pytest
import shapely

from extract.calcules.elections import (
    commune_de_rattachement,
    ecart_abstention,
    millesime_de,
    parse_resultats,
    part_bureau_qpv,
    part_bureau_qpv_adresses,
)
from extract.errors import FormatError

FIX = Path(__file__).resolve().parents[1] / "fixtures" / "calcules"
F2022 = FIX / "elections_2022_pres_t1_extrait.txt"
F2024 = FIX / "elections_2024_legi_t1_extrait.csv"


# -- parsing ---------------------------------------------------------------------------------------------------


def test_wide_layout_2022_latin1_with_unnamed_candidate_blocks():
    t = parse_resultats(F2022.read_bytes(), id_election="2022_pres_t1", file=F2022.name)
    d = t.to_pydict()
    assert d["code_commune"] == ["13055", "13055", "13117", "2A004", "97101"]  # ZZ (abroad) skipped
    assert d["code_bv"] == ["0101", "1501", "0001", "0001", "0001"]
    assert d["id_bv"][:2] == ["13055_0101", "13055_1501"]
    assert d["inscrits"][:3] == [1000, 800, 1200]
    assert d["abstentions"][:3] == [400, 440, 300]
    assert d["votants"][:3] == [600, 360, 900]
    assert set(d["millesime"]) == {2022} and set(d["id_election"]) == {"2022_pres_t1"}
    assert d["_line"][0] == 2


def test_named_layout_2024_utf8():
    t = parse_resultats(F2024.read_bytes(), id_election="2024_legi_t1", file=F2024.name)
    d = t.to_pydict()
    assert d["id_bv"] == ["13055_0101", "13055_1501", "13117_0001"]
    assert d["abstentions"] == [450, 400, 360]
    assert set(d["millesime"]) == {2024}


def test_two_elections_of_one_year_share_the_millesime_not_the_id():
    t1 = parse_resultats(F2024.read_bytes(), id_election="2024_legi_t1")
    e1 = parse_resultats(F2024.read_bytes(), id_election="2024_euro_t1")
    assert millesime_de("2024_legi_t2") == millesime_de("2024_euro_t1") == 2024
    assert t1.column("id_election")[0].as_py() != e1.column("id_election")[0].as_py()
    with pytest.raises(ValueError, match="2024_legi_t1"):
        millesime_de("legislatives-2024")


def test_renamed_column_is_refused_naming_it():
    data = F2024.read_bytes().replace(b";Abstentions;", b";Nb abstentions;", 1)
    with pytest.raises(FormatError) as exc:
        parse_resultats(data, id_election="2024_legi_t1", file="resultats-t1.csv")
    e = exc.value
    assert e.column == "Abstentions" and e.line == 1 and e.file == "resultats-t1.csv"
    assert "Nb abstentions" in e.found and "missing or renamed column 'Abstentions'" in str(e)


def test_unknown_layout_is_refused():
    data = F2024.read_bytes().replace(b";Code BV;", b";Code bureau;", 1)
    with pytest.raises(FormatError, match="Code du b.vote' \\(≤ 2022\\) or 'Code BV'"):
        parse_resultats(data, id_election="2024_legi_t1")


def test_abstentions_plus_votants_not_inscrits_is_refused():
    data = F2022.read_bytes().replace(b";0101;1000;400;", b";0101;1000;401;", 1)
    with pytest.raises(FormatError) as exc:
        parse_resultats(data, id_election="2022_pres_t1", file=F2022.name)
    e = exc.value
    assert e.line == 2 and e.column == "Abstentions" and "Inscrits − Votants = 400" in e.expected
    assert "401" in e.found


def test_non_numeric_count_is_refused():
    data = F2024.read_bytes().replace(b";0001;1200;840;", b";0001;1200;n.c.;", 1)
    with pytest.raises(FormatError) as exc:
        parse_resultats(data, id_election="2024_legi_t1", file=F2024.name)
    assert exc.value.line == 4 and exc.value.column == "Votants" and exc.value.found == "'n.c.'"


def test_html_page_is_refused():
    with pytest.raises(FormatError, match="HTML"):
        parse_resultats(b"<!DOCTYPE html><html><body>503</body></html>", id_election="2024_legi_t1")


def test_arrondissement_back_to_its_commune():
    assert commune_de_rattachement("13215") == "13055"
    assert commune_de_rattachement("13117") == "13117"


# -- shares ----------------------------------------------------------------------------------------------------


def test_bureau_split_half_half_between_two_qpv():
    bureau = shapely.box(0, 0, 200, 100)  # 20 000 m²
    qpv_a = shapely.box(-100, -100, 100, 200)  # holds the bureau's left half
    qpv_b = shapely.box(100, -100, 300, 200)  # its right half
    t = part_bureau_qpv(["13055_0101"], [bureau], ["QN01306A", "QN01306B"], [qpv_a, qpv_b]).to_pylist()
    assert [(r["code_qpv"], r["part_bureau"]) for r in t] == [("QN01306A", 0.5), ("QN01306B", 0.5)]
    assert [r["part_qpv"] for r in t] == [pytest.approx(10_000 / 60_000)] * 2


def test_shares_by_address_points():
    t = part_bureau_qpv_adresses(["B1", "B1", "B1", "B2"], ["Q1", None, "Q2", "Q2"], [3, 1, 4, 2]).to_pylist()
    got = {(r["id_bv"], r["code_qpv"]): (r["part_bureau"], r["part_qpv"]) for r in t}
    assert got == {("B1", "Q1"): (3 / 8, 1.0), ("B1", "Q2"): (4 / 8, 4 / 6), ("B2", "Q2"): (1.0, 2 / 6)}


# -- the gap ---------------------------------------------------------------------------------------------------


def _results(rows):
    return pa.table({"id_election": ["2024_legi_t1"] * len(rows), "id_bv": [r[0] for r in rows],
                     "inscrits": [r[1] for r in rows], "abstentions": [r[2] for r in rows]})


def _shares(rows):
    return pa.table({"id_bv": [r[0] for r in rows], "code_qpv": [r[1] for r in rows],
                     "part_bureau": [float(r[2]) for r in rows], "part_qpv": [float(r[3]) for r in rows]})


def test_gap_exact_on_three_bureaux():
    results = _results([("B1", 1000, 600), ("B2", 800, 200), ("B3", 2000, 500)])
    # B1 wholly in Q1; B2 half in Q1, half outside; B3 outside every QPV
    shares = _shares([("B1", "Q1", 1.0, 0.6), ("B2", "Q1", 0.5, 0.4)])
    table, ref = ecart_abstention(results, shares, ["B1", "B2", "B3"])
    row = table.to_pylist()[0]
    # Q1: inscrits 1000 + 400 = 1400, abstentions 600 + 100 = 700 → 50 %
    # rest: B2's other half (400 ins, 100 abs) + B3 (2000, 500) → 600 / 2400 = 25 %
    assert row["inscrits_qpv"] == 1400 and row["abstentions_qpv"] == 700
    assert row["taux_abstention_qpv"] == pytest.approx(50.0)
    assert row["taux_abstention_hors_qpv"] == pytest.approx(25.0)
    assert row["ecart_points"] == pytest.approx(25.0)
    assert row["couverture"] == pytest.approx(1.0) and row["motif"] is None
    assert (ref.inscrits, ref.abstentions, ref.bureaux_trouves) == (2400, 600, 3)
    assert row["id_election"] == "2024_legi_t1" and row["millesime"] == 2024


def test_gap_withheld_below_inscrits_threshold_low_coverage_or_no_bureau():
    results = _results([("B1", 150, 90), ("B2", 800, 200), ("B3", 2000, 500)])
    shares = _shares([("B1", "Q1", 0.5, 1.0), ("B2", "Q2", 0.5, 0.5), ("BX", "Q2", 1.0, 0.5)])
    table, _ = ecart_abstention(results, shares, ["B1", "B2", "B3"], qpv_codes=["Q1", "Q2", "Q3"],
                                seuil_inscrits=100)
    rows = {r["code_qpv"]: r for r in table.to_pylist()}
    assert rows["Q1"]["ecart_points"] is None and "moins de 100 inscrits" in rows["Q1"]["motif"]
    assert rows["Q1"]["inscrits_qpv"] == 75
    # Q2: half of it lies in bureau BX, absent from the results
    assert rows["Q2"]["ecart_points"] is None and "couverture insuffisante : 50 %" in rows["Q2"]["motif"]
    assert rows["Q3"]["motif"] == "aucun bureau de vote ne recoupe le quartier"


def test_end_to_end_on_the_2024_extract():
    results = parse_resultats(F2024.read_bytes(), id_election="2024_legi_t1")
    polys = [shapely.box(0, 0, 100, 100), shapely.box(100, 0, 200, 100), shapely.box(200, 0, 300, 100)]
    shares = part_bureau_qpv(results.column("id_bv").to_pylist(), polys, ["QN01306M"], [shapely.box(0, 0, 150, 100)])
    table, _ = ecart_abstention(results, shares)
    row = table.to_pylist()[0]
    # QPV: all of 0101 (1000 ins, 450 abs) + half of 1501 (400, 200) → 650 / 1400
    # rest: half of 1501 (400, 200) + 0001 (1200, 360) → 560 / 1600
    assert row["ecart_points"] == pytest.approx(100 * (650 / 1400 - 560 / 1600))


def test_outside_qpv_by_commune_uses_the_reference_weights():
    from extract.calcules.elections import hors_qpv_par_commune

    results = pa.table({"id_election": ["2024_legi_t1"] * 3, "id_bv": ["13055_0101", "13055_0102", "13117_0001"],
                        "code_commune": ["13055", "13055", "13117"], "inscrits": [1000, 800, 2000],
                        "abstentions": [600, 200, 500]})
    # 0101 wholly in a QPV, 0102 half in a QPV (a bureau split between two QPV: 0.3 + 0.2), 0001 outside
    shares = _shares([("13055_0101", "Q1", 1.0, 0.6), ("13055_0102", "Q1", 0.3, 0.2), ("13055_0102", "Q2", 0.2, 0.5)])
    rows = {r["code_commune"]: r for r in hors_qpv_par_commune(results, shares).to_pylist()}
    assert rows["13055"]["inscrits_hors_qpv"] == pytest.approx(400) and rows["13055"]["abstentions_hors_qpv"] == 100
    assert (rows["13117"]["inscrits_hors_qpv"], rows["13117"]["abstentions_hors_qpv"]) == (2000, 500)
    assert rows["13055"]["bureaux"] == 2 and rows["13055"]["millesime"] == 2024
    # summed over the communes, the same reference as ecart_abstention's
    _, ref = ecart_abstention(results, shares)
    assert sum(r["inscrits_hors_qpv"] for r in rows.values()) == pytest.approx(ref.inscrits)
    assert sum(r["abstentions_hors_qpv"] for r in rows.values()) == pytest.approx(ref.abstentions)
