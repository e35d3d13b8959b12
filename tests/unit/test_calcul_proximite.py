"""BPE « gamme de proximité »: nearest-equipment distances weighted by population (extract/calcules/proximite.py)."""

from pathlib import Path

import numpy as np
import pyarrow as pa
import pytest
import shapely
from pyproj import Transformer

from extract.calcules.carroyage import Carreaux, population_par_qpv
from extract.calcules.proximite import (
    EQUIP_SCHEMA,
    GAMME_PROXIMITE_DEFAUT,
    distance_moyenne,
    distances_plus_proches,
    lire_gammes,
    read_equipements,
    types_of,
)
from extract.errors import FormatError

BPE = Path(__file__).resolve().parent.parent / "fixtures" / "calcules" / "bpe_extrait.csv"
X0, Y0 = 3_944_400, 2_254_600
CX, CY = X0 + 100, Y0 + 100  # the centroid of the square


def equip(rows) -> pa.Table:
    return pa.table({"typequ": [r[0] for r in rows], "code_commune": [None] * len(rows),
                     "x_3035": [float(r[1]) for r in rows], "y_3035": [float(r[2]) for r in rows],
                     "_line": list(range(2, 2 + len(rows)))}, schema=EQUIP_SCHEMA)


def test_distance_to_the_nearest_equipment_on_a_3_4_5_triangle():
    sq = Carreaux.from_ids([f"CRS3035RES200mN{Y0}E{X0}"], [10.0])
    eq = equip([("B207", CX + 300, CY + 400),      # 500 m
                ("B207", CX + 3000, CY + 4000),    # 5 000 m: not the nearest
                ("D307", CX - 600, CY - 800),      # 1 000 m: within 1 km (≤)
                ("C107", CX + 1800, CY - 2400)])   # 3 000 m
    d = distances_plus_proches(sq, eq, ["B207", "D307", "C107"])
    assert d.distances[0].tolist() == pytest.approx([500.0, 1000.0, 3000.0])
    assert d.types_absents == ()
    rep = population_par_qpv(sq, None, {"QN01301M": shapely.box(X0 - 10, Y0 - 10, X0 + 210, Y0 + 210)},
                             crs="EPSG:3035")
    t = distance_moyenne(rep, sq, eq, ["B207", "D307", "C107"])
    row = t.filter(pa.compute.equal(t.column("code"), "QN01301M")).to_pylist()[0]
    assert row["distance_moyenne_m"] == pytest.approx(1500.0)
    assert row["part_types_1km"] == pytest.approx(2 / 3)
    assert row["population"] == pytest.approx(10.0)


def test_population_weighting_regroupements_and_absent_types():
    # two squares 2 km apart, the QPV holds all of the first (30 inh.) and half of the second (20 of 40)
    ids = [f"CRS3035RES200mN{Y0}E{X0}", f"CRS3035RES200mN{Y0}E{X0 + 2000}"]
    sq = Carreaux.from_ids(ids, [30.0, 40.0])
    qpv = {"QN01301M": shapely.box(X0 - 10, Y0 - 10, X0 + 2100, Y0 + 210)}
    rep = population_par_qpv(sq, None, qpv, crs="EPSG:3035")
    # an école maternelle (C108, maternelle en RPI) 500 m from the first centroid, 1 500 m from the second
    eq = equip([("C108", CX + 500, CY)])
    t = distance_moyenne(rep, sq, eq, {"ecole_maternelle": ("C107", "C108"), "pharmacie": ("D307",)}, detail=True)
    row = t.filter(pa.compute.equal(t.column("code"), "QN01301M")).to_pylist()[0]
    assert row["distance_moyenne_m"] == pytest.approx((30 * 500 + 20 * 1500) / 50)
    assert row["part_types_1km"] == pytest.approx(30 / 50)
    assert row["distance_ecole_maternelle"] == pytest.approx(900.0)
    assert t.schema.metadata[b"types_absents"] == b"pharmacie"
    metro = t.filter(pa.compute.equal(t.column("niveau"), "metropole")).to_pylist()[0]
    assert metro["distance_moyenne_m"] == pytest.approx((30 * 500 + 40 * 1500) / 70)


def test_read_equipements_wgs84_first_then_lambert93_and_non_geolocated_counted():
    e = read_equipements(BPE, types=["B207", "D307", "C107"])
    t = e.table
    assert t.column("typequ").to_pylist() == ["B207", "D307", "C107"]
    assert t.column("_line").to_pylist() == [2, 3, 5]
    assert e.non_geolocalises == {"D307": 1}
    # the Lambert-93 pharmacy and the WGS84 boulangerie land where pyproj puts them
    to3035 = Transformer.from_crs("EPSG:2154", "EPSG:3035", always_xy=True)
    x, y = to3035.transform(893536.0, 6247292.2)
    assert t.column("x_3035")[1].as_py() == pytest.approx(x) and t.column("y_3035")[1].as_py() == pytest.approx(y)
    # WGS84 and Lambert-93 of the same point agree within a metre (the fixture rounds to 0.1 m / 1e-4°)
    xl, yl = to3035.transform(892768.2, 6246890.9)
    assert abs(t.column("x_3035")[0].as_py() - xl) < 10 and abs(t.column("y_3035")[0].as_py() - yl) < 10
    assert read_equipements(BPE).table.num_rows == 4  # every type


def write(tmp_path, text, name="BPE24.csv"):
    p = tmp_path / name
    p.write_text(text, encoding="utf-8")
    return p


def test_older_layout_lambert_only_no_epsg(tmp_path):
    p = write(tmp_path, "AN;DEPCOM;TYPEQU;LAMBERT_X;LAMBERT_Y;QUALITE_XY\n2021;13201;B203;892768,2;6246890,9;Bonne\n",
              "bpe21_ensemble_xy.csv")
    t = read_equipements(p).table
    assert t.num_rows == 1 and t.column("typequ").to_pylist() == ["B203"]


def test_bpe_refusals(tmp_path):
    with pytest.raises(FormatError, match="TYPEQU"):
        read_equipements(write(tmp_path, "AN;LONGITUDE;LATITUDE\n2024;5.37;43.29\n"))
    with pytest.raises(FormatError, match="no coordinate columns"):
        read_equipements(write(tmp_path, "AN;TYPEQU;DEPCOM\n2024;B207;13201\n"))
    with pytest.raises(FormatError, match="outside France") as exc:
        read_equipements(write(tmp_path, "TYPEQU;LONGITUDE;LATITUDE\nB207;5.37;43.29\nB207;43.29;5.37\n"))
    assert "line 3" in str(exc.value)
    with pytest.raises(FormatError, match="another projection") as exc:
        read_equipements(write(tmp_path, "TYPEQU;LAMBERT_X;LAMBERT_Y\nB207;3944881;2254593\n"))
    assert "line 2" in str(exc.value) and "LAMBERT_X" in str(exc.value)
    with pytest.raises(FormatError, match="not a number") as exc:
        read_equipements(write(tmp_path, "TYPEQU;LONGITUDE;LATITUDE\nA101;x;y\nB207;5,37E;43.29\n"),
                         types=["B207"])
    assert "line 3" in str(exc.value)


def test_default_gamme_and_types_of():
    assert GAMME_PROXIMITE_DEFAUT["boulangerie"] == ("B207",)
    assert all(len(c) == 4 for codes in GAMME_PROXIMITE_DEFAUT.values() for c in codes)
    assert types_of(["b207", "D307"]) == {"B207": ("B207",), "D307": ("D307",)}


def test_lire_gammes_reads_the_insee_workbook_layout(tmp_path):
    import openpyxl

    wb = openpyxl.Workbook()
    ws = wb.active
    ws.append(["Les gammes d'équipements issues de la BPE 2024"])
    ws.append([])
    ws.append(["Code regroupement", "Libellé regroupement", "TYPEQU", "Libellé", "Gamme"])
    ws.append(["B207", "Boulangerie", "B207", "BOULANGERIE-PÂTISSERIE", "Gamme de proximité"])
    ws.append(["C1", "École", "C107", "ÉCOLE MATERNELLE", "Gamme de proximité"])
    ws.append(["D1", "Urgences", "D106", "URGENCES", "Gamme supérieure"])
    p = tmp_path / "BPE_gammes_equipements_2024.xlsx"
    wb.save(p)
    assert lire_gammes(p) == ("B207", "C107")
    assert lire_gammes(p, gamme="supérieure") == ("D106",)
    with pytest.raises(FormatError, match="intermédiaire"):
        lire_gammes(p, gamme="intermédiaire")


def test_no_equipment_at_all_gives_nan_not_an_error():
    sq = Carreaux.from_ids([f"CRS3035RES200mN{Y0}E{X0}"], [10.0])
    rep = population_par_qpv(sq, None, {"Q": shapely.box(X0, Y0, X0 + 200, Y0 + 200)}, crs="EPSG:3035")
    t = distance_moyenne(rep, sq, EQUIP_SCHEMA.empty_table(), ["B207"])
    assert np.isnan(t.column("distance_moyenne_m").to_pylist()[0])


def _workers_in_a_daemonic_process(queue) -> None:  # runs in the daemonic child
    from observatoire import calculs
    from observatoire.config import load_settings

    load_settings({"OBSERVATOIRE_CALCUL_WORKERS": "4"}).install()
    try:
        queue.put(("ok", calculs.calcul_workers()))
    except BaseException as err:  # noqa: BLE001 - reported to the test
        queue.put(("error", f"{type(err).__name__}: {err}"))


def test_the_grid_is_computed_in_the_task_process_when_it_is_daemonic():
    """A Celery worker's task process is daemonic and may not start children: the computed baromètres then run
    their batches in that process (1 worker) instead of failing the load."""
    from tests.conftest import in_daemonic_process

    assert in_daemonic_process(_workers_in_a_daemonic_process, timeout=60) == ("ok", 1)
