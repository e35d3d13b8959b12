"""Filosofi 200 m grid: square ids, the grid parser, the area split between QPV (extract/calcules/carroyage.py).
Hand-made geometries in EPSG:3035 where the answer is known exactly."""

from pathlib import Path

import numpy as np
import pytest
import shapely
from pyproj import Transformer

from extract.calcules.carroyage import (
    Carreaux,
    communes_of,
    controle_recensement,
    moyenne_ponderee,
    parse_square_id,
    population_par_qpv,
    read_grid,
    square_from_id,
)
from extract.errors import FormatError

FIXTURES = Path(__file__).resolve().parent.parent / "fixtures" / "calcules"
# a square in Marseille (EPSG:3035 south-west corner)
X0, Y0 = 3_944_400, 2_254_600
SQ = f"CRS3035RES200mN{Y0}E{X0}"


def sq(dx: int = 0, dy: int = 0) -> str:
    return f"CRS3035RES200mN{Y0 + dy}E{X0 + dx}"


# -- ids ---------------------------------------------------------------------------------------------------

def test_square_from_id_is_the_sw_corner_plus_the_resolution():
    p = square_from_id("CRS3035RES200mN2029800E4252400")
    assert p.bounds == (4252400.0, 2029800.0, 4252600.0, 2030000.0)
    assert p.area == 40_000
    c = parse_square_id("CRS3035RES1000mN2029000E4254000")
    assert (c.res, c.x0, c.y0) == (1000, 4254000, 2029000)
    with pytest.raises(ValueError, match="CRS3035"):
        square_from_id("CRS2154RES200mN6240000E890000")


# -- the split ---------------------------------------------------------------------------------------------

def test_square_half_inside_a_qpv_gets_half_its_population():
    qpv = {"QN01301M": shapely.box(X0 - 1000, Y0 - 1000, X0 + 100, Y0 + 1000)}  # covers the west half
    rep = population_par_qpv([SQ], [100.0], qpv, crs="EPSG:3035")
    assert rep.par_qpv == {"QN01301M": pytest.approx(50.0)}
    assert rep.population_hors_qpv == pytest.approx(50.0)
    assert rep.qpv.column("part_surface").to_pylist() == [pytest.approx(0.5)]
    assert rep.ecart_conservation == pytest.approx(0.0, abs=1e-9)


def test_square_split_between_two_qpv_and_totals_conserved():
    qpv = {"QN01301M": shapely.box(X0 - 500, Y0 - 500, X0 + 50, Y0 + 500),     # 1/4 of the square
           "QN01302M": shapely.box(X0 + 50, Y0 - 500, X0 + 150, Y0 + 500)}     # 1/2 of the square
    squares = [SQ, sq(dx=200), sq(dx=2000)]  # the second: 0 area in any QPV (touches QN01302M? no: x ≥ X0+200)
    ind = [80.0, 30.5, 12.3]
    rep = population_par_qpv(squares, ind, qpv, crs="EPSG:3035", communes=["13215", "13215", "13055"])
    assert rep.par_qpv["QN01301M"] == pytest.approx(20.0)
    assert rep.par_qpv["QN01302M"] == pytest.approx(40.0)
    assert rep.population_hors_qpv == pytest.approx(20.0 + 30.5 + 12.3)
    # the denominators sum to the grid total
    assert sum(rep.par_qpv.values()) + rep.population_hors_qpv == pytest.approx(sum(ind))
    assert rep.total == pytest.approx(sum(ind))
    # arrondissements mapped to the commune
    assert rep.hors_qpv_par_commune == {"13055": pytest.approx(20.0 + 30.5 + 12.3)}
    assert rep.par_commune == {"13055": pytest.approx(sum(ind))}


def test_a_square_touching_a_qpv_only_along_an_edge_gives_it_nothing():
    qpv = {"QN01301M": shapely.box(X0 - 400, Y0, X0, Y0 + 200)}
    rep = population_par_qpv([SQ], [10.0], qpv, crs="EPSG:3035")
    assert rep.qpv.num_rows == 0
    assert rep.par_qpv == {"QN01301M": 0.0}
    assert rep.population_hors_qpv == 10.0


def test_overlapping_contours_never_give_more_than_the_square():
    qpv = {"A": shapely.box(X0 - 10, Y0 - 10, X0 + 210, Y0 + 210), "B": shapely.box(X0, Y0, X0 + 100, Y0 + 200)}
    rep = population_par_qpv([SQ], [90.0], qpv, crs="EPSG:3035")
    assert sum(rep.par_qpv.values()) == pytest.approx(90.0)
    assert rep.par_qpv["A"] == pytest.approx(60.0)  # shares 1 and 0.5 scaled to 2/3 and 1/3
    assert rep.population_hors_qpv == pytest.approx(0.0)


def test_wgs84_contours_are_transformed_to_3035():
    to4326 = Transformer.from_crs("EPSG:3035", "EPSG:4326", always_xy=True)
    # a QPV covering the west half, densified so its edges stay straight enough once projected
    box = shapely.segmentize(shapely.box(X0 - 1000, Y0 - 1000, X0 + 100, Y0 + 1000), 10)
    wgs = shapely.transform(box, lambda xy: np.column_stack(to4326.transform(xy[:, 0], xy[:, 1])))
    rep = population_par_qpv([SQ], [100.0], {"QN01301M": wgs})  # default crs: WGS84
    assert rep.par_qpv["QN01301M"] == pytest.approx(50.0, abs=0.01)


def test_chunks_give_the_same_answer_and_zones_carry_every_level():
    rng = np.random.default_rng(0)
    squares = [sq(dx=200 * i, dy=200 * j) for i in range(10) for j in range(10)]
    ind = rng.uniform(0, 300, len(squares))
    qpv = {"QN01301M": shapely.Point(X0 + 700, Y0 + 700).buffer(450),
           "QN01302M": shapely.Point(X0 + 1500, Y0 + 1500).buffer(300)}
    communes = ["13055"] * 50 + ["1305513106"] * 50  # lcog_geo-style concatenation on a border
    a = population_par_qpv(squares, ind, qpv, crs="EPSG:3035", communes=communes)
    b = population_par_qpv(squares, ind, qpv, crs="EPSG:3035", communes=communes, chunk_size=7)
    assert a.par_qpv == pytest.approx(b.par_qpv)
    assert abs(a.ecart_conservation) < 1e-9
    assert a.par_commune["13106"] == pytest.approx(ind[50:].sum() / 2)
    zones = a.zones()
    assert set(zones.column("niveau").to_pylist()) == {"qpv", "commune", "metropole"}
    means = moyenne_ponderee(zones, {"un": np.ones(len(squares))})
    row = {(n, c): p for n, c, p in zip(*(means.column(k).to_pylist() for k in ("niveau", "code", "population")),
                                        strict=True)}
    assert row[("metropole", "200054807")] == pytest.approx(ind.sum())
    assert row[("qpv", "QN01301M")] == pytest.approx(a.par_qpv["QN01301M"])
    assert means.column("un").to_pylist() == pytest.approx([1.0] * means.num_rows)


def test_communes_of_lcog_geo():
    assert communes_of("13055") == ["13055"]
    assert communes_of("1320113202") == ["13055"]
    assert communes_of("2A0412A247") == ["2A041", "2A247"]
    assert communes_of(None) == [] and communes_of(" ") == []


# -- census check ------------------------------------------------------------------------------------------

def test_census_check_lists_qpv_beyond_the_tolerance_with_a_french_motif():
    grid = {"QN01301M": 5200.0, "QN01302M": 3000.0, "QN01303M": 0.0, "QN01304M": 400.0, "QN01305M": 800.0}
    census = {"QN01301M": 5000.0, "QN01302M": 4200.0, "QN01303M": 1200.0, "QN01304M": 520.0}
    out = {e.code_qpv: e for e in controle_recensement(grid, census)}
    assert set(out) == {"QN01302M", "QN01303M", "QN01305M"}  # QN01304M: -23 % but only 120 persons
    assert "tolérance" in out["QN01302M"].motif and out["QN01302M"].ecart_relatif == pytest.approx(-1200 / 4200)
    assert "aucun carreau" in out["QN01303M"].motif
    assert "recensement absente" in out["QN01305M"].motif


# -- the grid file -----------------------------------------------------------------------------------------

def test_real_2015_and_2017_rows_parse():
    g15 = read_grid(FIXTURES / "filosofi2015_extrait.csv")
    assert g15.ids.tolist() == ["CRS3035RES200mN2893400E3763200"]
    assert g15.ind.tolist() == [2818.5] and g15.communes.tolist() == ["75119"]
    assert (g15.x0[0], g15.y0[0], g15.res[0]) == (3763200, 2893400, 200)
    g17 = read_grid(FIXTURES / "filosofi2017_extrait.csv")
    assert g17.ind.tolist() == [2.0] and g17.communes.tolist() == ["2A041"]


def write(tmp_path: Path, text: str, name: str = "carreaux_200m_met.csv") -> Path:
    p = tmp_path / name
    p.write_text(text, encoding="utf-8")
    return p


def test_lower_case_2019_header_semicolons_fractional_ind_and_bbox(tmp_path):
    p = write(tmp_path, "idcar_200m;i_est_200;ind;men;lcog_geo\n"
                        f"{SQ};1;0,3;0.1;13215\n"
                        f"{sq(dx=200)};0;12;5;13215\n"
                        "CRS3035RES200mN2893400E3763200;0;40;20;75119\n")
    g = read_grid(p)
    assert g.ind.tolist() == [0.3, 12.0, 40.0]
    assert g.lines.tolist() == [2, 3, 4]
    near = read_grid(p, bbox=(X0 - 5000, Y0 - 5000, X0 + 5000, Y0 + 5000))
    assert near.ids.tolist() == [SQ, sq(dx=200)]
    assert isinstance(near, Carreaux) and near.total == pytest.approx(12.3)


def test_grid_missing_ind_column_is_refused(tmp_path):
    p = write(tmp_path, f"idcar_200m,men\n{SQ},4\n")
    with pytest.raises(FormatError, match="missing column") as exc:
        read_grid(p)
    assert "ind" in str(exc.value) and "carreaux_200m_met.csv" in str(exc.value)


def test_grid_missing_id_column_is_refused(tmp_path):
    p = write(tmp_path, "x,y,ind\n890000,6250000,4\n")
    with pytest.raises(FormatError, match="idcar_200m"):
        read_grid(p)


def test_grid_in_another_projection_is_refused_naming_line_and_column(tmp_path):
    p = write(tmp_path, f"Idcar_200m,Ind\n{SQ},4\nCRS2154RES200mN6245000E893000,7\n")
    with pytest.raises(FormatError) as exc:
        read_grid(p)
    msg = str(exc.value)
    assert "another projection" in msg and "line 3" in msg and "'Idcar_200m'" in msg
    assert "CRS2154RES200mN6245000E893000" in msg


def test_lambert93_coordinates_under_a_3035_label_are_refused(tmp_path):
    p = write(tmp_path, f"idcar_200m,ind\n{SQ},4\nCRS3035RES200mN6245000E893000,7\n")
    with pytest.raises(FormatError, match="outside metropolitan France") as exc:
        read_grid(p)
    assert "line 3" in str(exc.value)


def test_wrong_resolution_and_bad_ind_are_refused(tmp_path):
    p = write(tmp_path, "idcar_200m,ind\nCRS3035RES1000mN2254000E3944000,4\n")
    with pytest.raises(FormatError, match="another resolution"):
        read_grid(p)
    p = write(tmp_path, f"idcar_200m,ind\n{SQ},4\n{sq(dx=200)},\n")
    with pytest.raises(FormatError, match="individuals") as exc:
        read_grid(p)
    assert "line 3" in str(exc.value) and "'ind'" in str(exc.value)
    p = write(tmp_path, f"idcar_200m,ind\n{SQ},-4\n")
    with pytest.raises(FormatError, match="non-negative"):
        read_grid(p)


def test_grid_in_a_zip_and_a_nested_archive(tmp_path):
    import zipfile

    z = tmp_path / "Filosofi2019_carreaux_200m_csv.zip"
    with zipfile.ZipFile(z, "w") as zf:
        zf.writestr("carreaux_200m_met.csv", f"idcar_200m,ind\n{SQ},4\n")
    assert read_grid(z).ids.tolist() == [SQ]
    z2 = tmp_path / "nested.zip"
    with zipfile.ZipFile(z2, "w") as zf:
        zf.writestr("Filosofi2019_carreaux_200m_csv.7z", b"7z\xbc\xaf\x27\x1c")
    with pytest.raises(FormatError, match="another archive"):
        read_grid(z2)


def test_with_the_qpv_index_of_the_recorded_anct_contours():
    from extract.spatial import QpvIndex
    from tests.conftest import RECORDINGS
    from tests.recordings import gen_referentiel

    index = QpvIndex.from_file(RECORDINGS / "anct_qpv_contours" / "2024" / gen_referentiel.CONTOURS_ZIP)
    code = index.codes[0]
    p = shapely.point_on_surface(index.geometries[0])
    x, y = Transformer.from_crs("EPSG:4326", "EPSG:3035", always_xy=True).transform(p.x, p.y)
    x0, y0 = int(x // 200 * 200), int(y // 200 * 200)
    squares = [f"CRS3035RES200mN{y0 + dy}E{x0 + dx}" for dx in (-200, 0, 200) for dy in (-200, 0, 200)]
    rep = population_par_qpv(squares, [100.0] * 9, index)
    assert rep.par_qpv[code] > 0
    assert len(rep.par_qpv) == len(index.codes)
    assert sum(rep.par_qpv.values()) + rep.population_hors_qpv == pytest.approx(900.0)
