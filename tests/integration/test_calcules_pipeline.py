"""The computed baromètre part_pop_arret_tc_300m wired end to end (issue 20): the demo publishes it per QPV with its
comparators, and a bad grid or GTFS is refused by its gate with a clear message, nothing published."""

from __future__ import annotations

import io
import zipfile
from pathlib import Path

import duckdb
import pytest

from observatoire.config import load_settings
from observatoire.pipeline import PipelineError, run
from tests.conftest import RECORDINGS, sha256_of

pytestmark = pytest.mark.slow

GTFS = RECORDINGS / "gtfs_amp" / "2025" / "gtfs_rtm.zip"
GRID = RECORDINGS / "insee_filosofi_carreaux" / "2019" / "Filosofi2019_carreaux_200m_csv.zip"


def test_demo_publishes_transport_access_with_comparators(published_demo):
    con = duckdb.connect(str(published_demo / "warehouse" / "observatoire.duckdb"), read_only=True)
    n, with_comparators = con.execute(
        "select count(*), count(*) filter (where valeur_commune is not null and valeur_perimetre is not null) "
        "from fct_indicateur_qpv where indicateur = 'part_pop_arret_tc_300m' and statut = 'disponible' "
        "and valeur between 0 and 100").fetchone()
    assert n >= 33 and with_comparators >= 33, (n, with_comparators)
    # withheld QPV (grid population too far from the census) carry the French motif, never an empty one
    motifs = con.execute("select motif from fct_indicateur_qpv where indicateur = 'part_pop_arret_tc_300m' "
                         "and statut <> 'disponible'").fetchall()
    assert all(m and "population carroyée" in m for (m,) in motifs), motifs
    mart = con.execute("select count(part_pop_arret_tc_300m), count(part_pop_arret_tc_300m_valeur_commune) "
                       "from mart_defi_transition_ecologique").fetchone()
    assert mart[0] >= 33 and mart[1] >= 33, mart
    # the everyday-services distance from the BPE's coordinates, same denominators and comparators
    n, with_comparators = con.execute(
        "select count(*), count(*) filter (where valeur_commune is not null and valeur_perimetre is not null) "
        "from fct_indicateur_qpv where indicateur = 'distance_equipements_gamme_proximite' "
        "and statut = 'disponible' and valeur > 0").fetchone()
    assert n >= 33 and with_comparators >= 33, (n, with_comparators)
    assert con.execute("select count(distance_equipements_gamme_proximite) from mart_defi_proximite").fetchone()[0] >= 33
    con.close()


def _zip_without(src: Path, dest: Path, member: str) -> Path:
    out = io.BytesIO()
    with zipfile.ZipFile(src) as zin, zipfile.ZipFile(out, "w", zipfile.ZIP_DEFLATED) as zout:
        for info in zin.infolist():
            if info.filename != member:
                zout.writestr(info, zin.read(info.filename))
    dest.write_bytes(out.getvalue())
    return dest


def _grid_lambert93(dest: Path) -> Path:
    """The recorded grid with Lambert-93 style ids (another projection: easting ≈ 0.9 M, northing ≈ 6.2 M)."""
    out = io.BytesIO()
    with zipfile.ZipFile(GRID) as zin, zipfile.ZipFile(out, "w", zipfile.ZIP_DEFLATED) as zout:
        for info in zin.infolist():
            text = zin.read(info.filename).decode("utf-8")
            lines = text.splitlines(keepends=True)
            for i in range(1, len(lines)):
                fields = lines[i].split(",")
                fields[0] = f"CRS3035RES200mN62{i:05d}E8{i:05d}"
                lines[i] = ",".join(fields)
            zout.writestr(info, "".join(lines))
    dest.write_bytes(out.getvalue())
    return dest


@pytest.mark.parametrize("case", ["gtfs without stops.txt", "grid in another projection"])
def test_bad_inputs_are_refused_and_nothing_is_published(case, demo_copy, tmp_path, monkeypatch):
    pub = demo_copy / "warehouse" / "observatoire.duckdb"
    before = sha256_of(pub)
    if case == "gtfs without stops.txt":
        source, env = "gtfs_amp", "OBSERVATOIRE_URL_GTFS_AMP"
        bad = _zip_without(GTFS, tmp_path / GTFS.name, "stops.txt")
        expected = ["GTFS feed without stops.txt", "gtfs_amp"]
    else:
        source, env = "insee_filosofi_carreaux", "OBSERVATOIRE_URL_INSEE_FILOSOFI_CARREAUX"
        bad = _grid_lambert93(tmp_path / GRID.name)
        expected = ["square outside metropolitan France in EPSG:3035", "insee_filosofi_carreaux"]
    monkeypatch.setenv(env, bad.as_uri())
    with pytest.raises(PipelineError) as err:
        run(load_settings(), sources=[source])
    message = str(err.value)
    for text in expected:
        assert text in message, (text, message)
    assert sha256_of(pub) == before
