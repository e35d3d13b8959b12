"""Template round trip through the whole pipeline: generate the templates, fill them as partners would, import
them, run the pipeline once, and read the partner values in the published warehouse."""

from __future__ import annotations

import duckdb
import pytest

from observatoire.catalogue import indicateurs
from tests.conftest import run_cli
from tests.unit.test_partenaires import NAMES, PERIMETER, csv_bytes, fill_xlsx

pytestmark = pytest.mark.slow

PREFECTURE = "Préfecture des Bouches-du-Rhône (CCAPEX)"
DDETS = "DDETS des Bouches-du-Rhône"


def test_template_round_trip_publishes_partner_values(demo_copy, tmp_path):
    # 1. templates from the CLI
    xlsx = run_cli("partenaires", "modele", "taux_expulsion", "--format", "xlsx", "--sortie", str(tmp_path))
    csv_tpl = run_cli("partenaires", "modele", "nb_salaries_iae_residents", "--format", "csv", "--sortie",
                      str(tmp_path / "iae.csv"))
    assert xlsx.returncode == 0 and csv_tpl.returncode == 0, xlsx.stderr + csv_tpl.stderr
    # 2. filled as partners would: the Préfecture in Excel (one QPV left out, one unknown value) …
    absent, unknown, secret = PERIMETER[-1], PERIMETER[0], PERIMETER[1]
    values = {code: round(2 + i / 4, 2) for i, code in enumerate(PERIMETER)}
    filled = fill_xlsx(tmp_path / "modele_taux_expulsion.xlsx",
                       tmp_path / "expulsions.xlsx", {**values, unknown: None, secret: "secret"}, drop=[absent])
    # … the DDETS as a CSV saved by Excel in French (Windows-1252, « ; », decimal commas), one count under the
    # catalogue's diffusion threshold (5)
    seuil = indicateurs()["nb_salaries_iae_residents"]["seuil_secret"]
    rows = [line.split(";") for line in (tmp_path / "iae.csv").read_text(encoding="utf-8-sig").splitlines()[1:]]
    assert [r[1] for r in rows] == PERIMETER and all(r[2] == NAMES[r[1]] for r in rows)
    iae = {code: f"{10 + i},0" for i, code in enumerate(PERIMETER)}
    iae[PERIMETER[2]] = "3"
    data = csv_bytes([[r[0], r[1], r[2], "2025", iae[r[1]], "", DDETS] for r in rows], encoding="cp1252")
    (tmp_path / "iae_excel.csv").write_bytes(data)
    # 3. imported
    for path in (filled, tmp_path / "iae_excel.csv"):
        proc = run_cli("partenaires", "importer", str(path))
        assert proc.returncode == 0 and "Importé" in proc.stdout, proc.stdout + proc.stderr
    # 4. one run publishes them
    proc = run_cli("run")
    assert proc.returncode == 0 and "published" in proc.stdout, proc.stdout + proc.stderr[-3000:]
    con = duckdb.connect(str(demo_copy / "warehouse" / "observatoire.duckdb"), read_only=True)
    try:
        fct = {r[0]: r[1:] for r in con.execute(
            "select code_qpv, valeur, statut, source, motif from fct_indicateur_qpv "
            "where indicateur = 'taux_expulsion' and millesime = 2025").fetchall()}
        assert len(fct) == 66
        assert fct[PERIMETER[5]][:3] == (values[PERIMETER[5]], "disponible", f"partenaires:{PREFECTURE}")
        assert fct[unknown][:2] == (None, "non_publie") and "partenaire" in fct[unknown][3]
        assert fct[absent][:2] == (None, "non_publie")
        assert fct[secret][:2] == (None, "secret_statistique")
        assert sum(1 for v in fct.values() if v[1] == "disponible") == 63
        # freshness: a partner value is dated by the reception of its file
        assert con.execute("select count(*) from fct_indicateur_qpv where indicateur = 'taux_expulsion' and "
                           "millesime = 2025 and source like 'partenaires:%' and (date_chargement is null "
                           "or date_publication is null)").fetchone()[0] == 0
        # what was not received stays attendu_partenaire
        assert {r[0] for r in con.execute("select distinct statut from fct_indicateur_qpv where indicateur = "
                                          "'taux_expulsion' and millesime = 2024").fetchall()} == {"attendu_partenaire"}
        assert con.execute("select count(*) from fct_indicateur_qpv where statut = 'attendu_partenaire' and "
                           "indicateur in ('taux_expulsion', 'nb_salaries_iae_residents') and millesime = 2025"
                           ).fetchall()[0][0] == 0
        iae_rows = {r[0]: r[1:] for r in con.execute(
            "select code_qpv, valeur, statut, source from fct_indicateur_qpv "
            "where indicateur = 'nb_salaries_iae_residents' and millesime = 2025").fetchall()}
        assert iae_rows[PERIMETER[0]] == (10.0, "disponible", f"partenaires:{DDETS}")
        assert iae_rows[PERIMETER[2]][:2] == (None, "secret_statistique") and 3 < seuil
        # the défi marts
        logement = dict(con.execute("select code_qpv, taux_expulsion from mart_defi_logement "
                                    "where millesime = 2025").fetchall())
        assert logement[PERIMETER[5]] == values[PERIMETER[5]] and logement[unknown] is None
        statuts = dict(con.execute("select code_qpv, nb_salaries_iae_residents_statut from mart_defi_precarites "
                                   "where millesime = 2025").fetchall())
        assert statuts[PERIMETER[0]] == "disponible" and statuts[PERIMETER[2]] == "secret_statistique"
        # provenance in the published file
        prov = con.execute("select indicateur, millesime, partenaire, nom_fichier, rows, status "
                           "from meta.partenaires_fichiers order by indicateur").fetchall()
        assert prov == [("nb_salaries_iae_residents", 2025, DDETS, "iae_excel.csv", 66, "current"),
                        ("taux_expulsion", 2025, PREFECTURE, "expulsions.xlsx", 65, "current")]
    finally:
        con.close()
    # 5. nothing new: the next run publishes nothing
    proc = run_cli("run")
    assert proc.returncode == 0 and "unchanged" in proc.stdout, proc.stdout + proc.stderr[-2000:]
    # 6. the next millésime sent per 10,000 instead of per 1,000: refused against the previous file; accepted as
    # a deliberate break, it is published flagged rupture_serie with its reason
    per_100k = fill_xlsx(tmp_path / "modele_taux_expulsion.xlsx", tmp_path / "expulsions_2026.xlsx",
                         {code: v * 10 for code, v in values.items()}, millesime=2026)
    refused = run_cli("partenaires", "importer", str(per_100k))
    assert refused.returncode == 1 and "Écart avec le fichier précédent" in refused.stdout, refused.stdout
    accepted = run_cli("partenaires", "importer", str(per_100k), "--accepter-rupture",
                       "taux pour 10 000 ménages depuis 2026")
    assert accepted.returncode == 0, accepted.stdout + accepted.stderr
    assert run_cli("run").returncode == 0
    con = duckdb.connect(str(demo_copy / "warehouse" / "observatoire.duckdb"), read_only=True)
    try:
        flags = con.execute("select millesime, bool_and(rupture_serie), any_value(note_rupture) from "
                            "fct_indicateur_qpv where indicateur = 'taux_expulsion' and millesime >= 2025 "
                            "group by 1 order by 1").fetchall()
    finally:
        con.close()
    assert flags[0][:2] == (2025, False)
    assert flags[-1][0] == 2026 and flags[-1][1] is True
    assert "taux pour 10 000 ménages depuis 2026" in flags[-1][2] and PREFECTURE in flags[-1][2]
