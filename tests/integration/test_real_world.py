"""Real-world readiness (issue 17): INSEE's national per-QPV file (rebuilt from real public data, see
tests/fixtures/real/README.md) loads over the demo; a value check decides only on the perimeter's QPV; a derived
ratio whose sources disagree is withheld with a French motif instead of blocking the night; published texts are
French."""

from __future__ import annotations

import io
import json
import re
import zipfile
from pathlib import Path

import duckdb
import pytest

from observatoire.config import load_settings
from observatoire.errors import PipelineError
from observatoire.run import run
from observatoire.status import render_status
from tests.conftest import RECORDINGS, national_pop_file, sha256_of

pytestmark = pytest.mark.slow

CAF_2024 = RECORDINGS / "caf_allocataires_qpv" / "2024" / "beneficiaires_CAF_31-12-2024_QP24_csv.zip"
REAL_TOTAL_AMP = 312_529  # the 66 QPV of the Métropole, INSEE pop_QPV24 (RP 2020)
OUTSIDE = "QN09328M"  # Franc Moisin – Cosmonautes – Cristino Garcia – Landy (Seine-Saint-Denis), 132,511 inhabitants
INSIDE = "QN01304I"  # La Viste (Marseille)


def _national_with(tmp_path: Path, code: str, population: str) -> Path:
    """The national file (real populations; the recordings' shares of 15-24 year-olds where they exist) with one
    QPV's population replaced."""
    return national_pop_file(tmp_path / "pop_QPV24.csv", {code: population})


def _published(data: Path, sql: str):
    con = duckdb.connect(str(data / "warehouse" / "observatoire.duckdb"), read_only=True)
    try:
        return con.execute(sql).fetchall()
    finally:
        con.close()


def test_national_file_publishes_and_only_warns_for_a_qpv_outside_the_perimeter(demo_copy, tmp_path,
                                                                                  monkeypatch):
    before = dict(_published(demo_copy, "select code_qpv, valeur from fct_indicateur_qpv "
                                        "where indicateur = 'population' and millesime = 2021"))
    # the only out-of-range row: a zero population on a QPV the observatory does not publish
    monkeypatch.setenv("OBSERVATOIRE_URL_INSEE_POP_QPV", _national_with(tmp_path, OUTSIDE, "0").as_uri())
    result = run(load_settings(), sources=["insee_pop_qpv"])
    assert result.status == "published", result.message
    # the real populations: the 66 QPV sum to INSEE's total, and the demo's recording already carried them
    after = dict(_published(demo_copy, "select code_qpv, valeur from fct_indicateur_qpv "
                                       "where indicateur = 'population' and millesime = 2021"))
    assert len(after) == 66 and sum(after.values()) == REAL_TOTAL_AMP
    assert after == before
    assert _published(demo_copy, "select valeur from mart_chiffres_cles "
                                 "where chiffre = 'population_qpv' and millesime = 2021") == [(REAL_TOTAL_AMP,)]
    # the warning names the QPV, the column and the value: in the run's result, its report and status
    assert result.warnings and any(OUTSIDE in json.dumps(w) for w in result.warnings)
    report = result.report.read_text(encoding="utf-8")
    assert "warnings" in report and OUTSIDE in report and "population" in report and "0.0" in report
    assert "outside the perimeter" in report
    status = render_status(load_settings())
    assert "warning" in status and OUTSIDE in status and "population" in status
    status_json = json.loads(render_status(load_settings(), as_json=True))
    assert any(OUTSIDE in json.dumps(w) for w in status_json[0]["summary"]["warnings"])


def test_the_same_row_inside_the_perimeter_refuses_the_file(demo_copy, tmp_path, monkeypatch):
    pub = demo_copy / "warehouse" / "observatoire.duckdb"
    before = sha256_of(pub)
    monkeypatch.setenv("OBSERVATOIRE_URL_INSEE_POP_QPV", _national_with(tmp_path, INSIDE, "0").as_uri())
    with pytest.raises(PipelineError) as err:
        run(load_settings(), sources=["insee_pop_qpv"])
    message = str(err.value)
    assert err.value.stage == "raw_gate"
    assert INSIDE in message and "population" in message and "0.0" in message
    assert OUTSIDE not in message
    assert sha256_of(pub) == before


def _caf_with_coverage(tmp_path: Path, code: str, personnes: int) -> Path:
    """The CAF 2024 recording with one QPV's personnes couvertes (PERCOU) replaced."""
    out = io.BytesIO()
    with zipfile.ZipFile(CAF_2024) as src, zipfile.ZipFile(out, "w", zipfile.ZIP_DEFLATED) as dst:
        for info in src.infolist():
            data = src.read(info.filename)
            if info.filename.startswith("data_") and info.filename.endswith("_QP.csv"):
                text = data.decode("utf-8-sig")
                lines = text.splitlines(keepends=True)
                header = lines[0].rstrip("\r\n").split(";")
                col = header.index("PERCOU")
                for i, line in enumerate(lines[1:], start=1):
                    fields = line.rstrip("\r\n").split(";")
                    if fields[0] == code:
                        fields[col] = str(personnes)
                        lines[i] = ";".join(fields) + line[len(line.rstrip("\r\n")):]
                data = ("\ufeff" if data.startswith(b"\xef\xbb\xbf") else "").encode() + "".join(lines).encode()
            dst.writestr(info, data)
    path = tmp_path / CAF_2024.name
    path.write_bytes(out.getvalue())
    return path


def test_a_derived_ratio_out_of_range_is_withheld_with_its_french_motif(demo_copy, tmp_path, monkeypatch):
    (population,) = _published(demo_copy, f"select valeur from fct_indicateur_qpv where code_qpv = '{INSIDE}' "
                                          "and indicateur = 'population' and millesime = 2021")[0]
    personnes = int(population * 2.5)  # 250 %: the CAF count and the census population disagree
    monkeypatch.setenv("OBSERVATOIRE_URL_CAF_ALLOCATAIRES_QPV", _caf_with_coverage(tmp_path, INSIDE, personnes).as_uri())
    result = run(load_settings(), sources=["caf_allocataires_qpv"])
    assert result.status == "published", result.message
    row = _published(demo_copy, "select valeur, statut, motif, numerateur, denominateur from fct_indicateur_qpv "
                                f"where code_qpv = '{INSIDE}' and indicateur = 'part_population_couverte_caf' "
                                "and millesime = 2024")
    valeur, statut, motif, numerateur, denominateur = row[0]
    assert valeur is None and statut == "non_calculable"
    assert motif.startswith("Valeur non calculable : 250")
    for text in ("hors de la plage plausible [0 ; 150]", f"numérateur {personnes}", "caf_allocataires_qpv",
                 "millésime 2024", f"dénominateur {int(population)}", "insee_pop_qpv", "millésime 2021"):
        assert text in motif, (text, motif)
    assert numerateur == personnes and denominateur == population
    # everything else is published: the count itself, the other QPV's shares
    assert _published(demo_copy, "select valeur from fct_indicateur_qpv where code_qpv = "
                                 f"'{INSIDE}' and indicateur = 'nb_personnes_couvertes_caf' "
                                 "and millesime = 2024") == [(personnes,)]
    others = _published(demo_copy, "select count(*) from fct_indicateur_qpv where indicateur = "
                                   "'part_population_couverte_caf' and millesime = 2024 and statut = 'disponible'")
    assert others[0][0] >= 60
    # reported as a warning: result, report and status name the QPV and the indicator
    assert any(INSIDE in json.dumps(w, ensure_ascii=False) for w in result.warnings)
    report = result.report.read_text(encoding="utf-8")
    assert INSIDE in report and "part_population_couverte_caf" in report
    status = render_status(load_settings())
    assert INSIDE in status and "derived value withheld" in status


ENGLISH = re.compile(r"\b(the|has|have|not|published|source|and|of|for|with|value|missing|yet)\b", re.IGNORECASE)
FRENCH_OK = {"source", "sources"}  # the same word in French


def test_published_texts_are_french(published_demo):
    """Every motif, libellé, méthode and description the published warehouse carries is written in French."""
    con = duckdb.connect(str(published_demo / "warehouse" / "observatoire.duckdb"), read_only=True)
    try:
        columns = con.execute(
            "select table_name, column_name from information_schema.columns where table_schema = 'main' and "
            "data_type = 'VARCHAR' and (column_name like '%motif%' or column_name like '%libelle%' "
            "or column_name in ('methode', 'description', 'commentaire', 'prochaine_publication', "
            "'note_rupture'))").fetchall()
        texts = {}
        for table, column in columns:
            for (text,) in con.execute(f'select distinct "{column}" from "{table}" where "{column}" is not null').fetchall():
                texts.setdefault(text, f"{table}.{column}")
    finally:
        con.close()
    assert len(columns) >= 4 and len(texts) > 20
    for text, where in texts.items():
        words = {w.lower() for w in ENGLISH.findall(text)} - FRENCH_OK
        assert not words, (where, words, text)
