"""Partner files: templates, validation (every bad input gives its French message with sheet, row and column and
loads nothing), import (by sha256, provenance, re-import, replacement), the inbox, the pipeline's fingerprint.

No dbt here: the round trip through the pipeline is tests/integration/test_partenaires_roundtrip.py."""

from __future__ import annotations

import csv
import io
import os
import stat
import zipfile
from pathlib import Path

import openpyxl
import pytest

from observatoire.catalogue import indicateurs, qpv
from observatoire.config import load_settings
from observatoire.history import History
from observatoire.partenaires import COLUMNS, validate_file
from observatoire.partenaires import store as pstore
from observatoire.partenaires.template import write_template
from observatoire.perimetre import perimeter_qpv_codes
from tests.conftest import apply_env, run_cli

PERIMETER = perimeter_qpv_codes()
NAMES = {r["code_qpv"]: r["libelle_qpv"] for r in qpv()}
PARTNER = "Préfecture des Bouches-du-Rhône (CCAPEX)"


# -- helpers (also used by the integration and DAG tests) ----------------------------------------------

def fill_xlsx(template: Path, dest: Path, values: dict | None = None, *, millesime=2025, partenaire=PARTNER,
              drop=(), edit=None) -> Path:
    """Fill a generated XLSX template: ``values`` by QPV code (missing code → 1.0 + its rank / 10, None → empty),
    ``drop`` removes rows, ``edit(ws)`` changes the sheet afterwards. The data rows are those holding a QPV code
    (from row 3 under the template's two header rows; from row 2 in the earlier layout)."""
    wb = openpyxl.load_workbook(template)
    ws = wb["donnees"]
    for row in list(ws.iter_rows(min_row=2)):
        code = row[1].value
        if code not in PERIMETER:
            continue
        row[3].value = millesime
        row[4].value = (values or {}).get(code, 1.0 + PERIMETER.index(code) / 10)
        row[6].value = partenaire
    for code in drop:
        for row in ws.iter_rows(min_row=3):
            if row[1].value == code:
                ws.delete_rows(row[0].row)
                break
    if edit:
        edit(ws)
    wb.save(dest)
    return dest


def csv_bytes(rows: list[list], *, sep=";", encoding="utf-8-sig", header=COLUMNS) -> bytes:
    buf = io.StringIO(newline="")
    writer = csv.writer(buf, delimiter=sep, lineterminator="\r\n")
    writer.writerow(header)
    writer.writerows(rows)
    return buf.getvalue().encode(encoding)


def csv_rows(indicateur: str, values: dict | None = None, *, millesime="2025", partenaire=PARTNER,
             default="2,5") -> list[list]:
    return [[indicateur, code, NAMES[code], millesime, (values or {}).get(code, default), "", partenaire]
            for code in PERIMETER]


@pytest.fixture
def settings():
    return load_settings()


@pytest.fixture(scope="module")
def xlsx_template(tmp_path_factory) -> Path:
    return write_template("taux_expulsion", "xlsx", tmp_path_factory.mktemp("modele"))


def loaded_nothing(settings, path: Path) -> str:
    """Import ``path``: it must be rejected and leave no trace. Returns the French report."""
    result = pstore.import_file(settings, path)
    assert result.status == pstore.REJECTED and not result.ok
    assert not pstore.files_dir(settings).exists() or not any(pstore.files_dir(settings).iterdir())
    assert not settings.history_db.exists() or History(settings.history_db).partner_files() == []
    return result.text()


# -- templates -----------------------------------------------------------------------------------------

def test_xlsx_template_has_instructions_the_data_sheet_and_validation(xlsx_template):
    assert xlsx_template.name == "modele_taux_expulsion.xlsx"
    wb = openpyxl.load_workbook(xlsx_template)
    assert wb.sheetnames[:2] == ["instructions", "donnees"] and wb["listes"].sheet_state == "hidden"
    guide = "\n".join(str(c.value) for row in wb["instructions"].iter_rows() for c in row if c.value)
    info = indicateurs()["taux_expulsion"]
    assert info["libelle"] in guide and "pour 1 000 ménages" in guide and "de 0 à 1 000" in guide
    assert "laissez la cellule « valeur » vide" in guide and "Contact" in guide and "CCAPEX" in guide
    ws = wb["donnees"]
    # row 1: French labels, the unit on « valeur »; row 2: the identifiers the import reads; data from row 3
    labels = [c.value for c in ws[1]]
    assert labels[COLUMNS.index("valeur")] == f"{info['libelle']} (pour 1 000 ménages)"
    assert labels[COLUMNS.index("millesime")].startswith("Millésime") and not set(labels) & set(COLUMNS)
    assert all(c.font.bold for c in ws[1]) and not ws.row_dimensions[1].hidden and ws.freeze_panes == "A3"
    assert [c.value for c in ws[2]] == list(COLUMNS)
    rows = list(ws.iter_rows(min_row=3, values_only=True))
    assert [r[1] for r in rows] == PERIMETER and len(rows) == 66
    assert all(r[0] == "taux_expulsion" and r[2] == NAMES[r[1]] and r[4] is None for r in rows)
    dvs = {dv.type: dv for dv in ws.data_validations.dataValidation}
    assert dvs["decimal"].formula1 == "0" and dvs["decimal"].formula2 == "1000" and "E3:E68" in str(dvs["decimal"].sqref)
    assert dvs["whole"].formula1 == "2024" and "D3:D68" in str(dvs["whole"].sqref)
    lists = {str(dv.sqref): dv.formula1 for dv in ws.data_validations.dataValidation if dv.type == "list"}
    assert lists["B3:B68"] == "=listes!$A$2:$A$67" and lists["A3:A68"] == '"taux_expulsion"'


def test_a_template_in_the_earlier_layout_is_still_accepted(xlsx_template, tmp_path, settings):
    """Templates made before the label row (identifiers in row 1, data from row 2), which partners may still be
    filling: valid, and every problem located on its own row."""
    def earlier(ws):
        ws.delete_rows(1)

    path = fill_xlsx(xlsx_template, tmp_path / "ancien.xlsx", edit=earlier)
    assert [c.value for c in openpyxl.load_workbook(path)["donnees"][1]] == list(COLUMNS)
    report = validate_file(path)
    assert report.ok, report.text()
    assert len(report.rows) == 66 and report.rows[0]["ligne"] == 2
    bad = fill_xlsx(xlsx_template, tmp_path / "ancien_faux.xlsx",
                    edit=lambda ws: (earlier(ws), _edit("E5", "n/a")(ws), _edit("H1", "source")(ws)))
    text = validate_file(bad).text()
    assert "Feuille « donnees », ligne 5, colonne « valeur » (E)" in text, text
    assert "Feuille « donnees », ligne 1, colonne « source » (H)" in text, text
    result = pstore.import_file(settings, path)
    assert result.ok, result.text()


def test_a_label_row_is_never_read_as_data(xlsx_template, tmp_path):
    """The template's row 1 (French labels) is skipped only because row 2 holds the identifiers: with the
    identifiers gone from row 2, the header problem is reported, not silently read past."""
    report = validate_file(fill_xlsx(xlsx_template, tmp_path / "sans_ids.xlsx",
                                     edit=lambda ws: ws.delete_rows(2)))
    assert not report.ok
    assert "colonne en trop « Indicateur (identifiant, ne pas modifier) »" in report.text()


def test_csv_template_opens_in_french_excel(tmp_path):
    path = write_template("nb_mediateurs", "csv", tmp_path / "m.csv", millesime=2025)
    data = path.read_bytes()
    assert data.startswith(b"\xef\xbb\xbf") and b"\r\n" in data
    rows = list(csv.reader(io.StringIO(data.decode("utf-8-sig")), delimiter=";"))
    assert rows[0] == list(COLUMNS) and len(rows) == 67
    assert rows[1][:4] == ["nb_mediateurs", PERIMETER[0], NAMES[PERIMETER[0]], "2025"]


def test_template_refuses_an_indicator_partners_do_not_send(tmp_path):
    with pytest.raises(ValueError, match="n'est pas fourni par les partenaires"):
        write_template("population", "xlsx", tmp_path)
    with pytest.raises(ValueError, match="indicateur inconnu"):
        write_template("taux_expulsions", "csv", tmp_path)


def test_cli_modele_prints_the_path_and_rejects_unknown(tmp_path):
    proc = run_cli("partenaires", "modele", "tonnes_encombrants", "--format", "csv", "--sortie", str(tmp_path))
    assert proc.returncode == 0, proc.stderr
    assert Path(proc.stdout.strip()) == tmp_path / "modele_tonnes_encombrants.csv"
    assert (tmp_path / "modele_tonnes_encombrants.csv").exists()
    proc = run_cli("partenaires", "modele", "population")
    assert proc.returncode == 2 and "partenaires" in proc.stderr


# -- validation: good files -------------------------------------------------------------------------------

def test_a_filled_template_is_valid_and_missing_or_empty_qpv_are_warnings(xlsx_template, tmp_path):
    first, second, third = PERIMETER[:3]
    path = fill_xlsx(xlsx_template, tmp_path / "préfecture.xlsx", {first: None, second: "secret", third: "3,25"},
                     drop=[PERIMETER[-1]])
    report = validate_file(path)
    assert report.ok, report.text()
    assert (report.indicateur, report.millesime, report.partenaire, report.format) == (
        "taux_expulsion", 2025, PARTNER, "xlsx")
    by_code = {r["code_qpv"]: r for r in report.rows}
    assert len(by_code) == 65 and PERIMETER[-1] not in by_code and report.missing_qpv == [PERIMETER[-1]]
    assert by_code[first]["statut"] == "non_publie" and by_code[first]["valeur"] is None
    assert by_code[second]["statut"] == "secret_statistique"
    assert by_code[third]["valeur"] == 3.25 and by_code[third]["statut"] == "disponible"
    text = report.text()
    assert "VALIDE" in text and f"1 quartier du périmètre absent du fichier ({PERIMETER[-1]})" in text
    assert "Feuille « donnees », colonne « code_qpv » (B)" in text


def test_csv_saved_by_excel_in_french_windows_1252_semicolon_decimal_comma(tmp_path):
    accented = next(c for c in PERIMETER if "é" in NAMES[c])
    rows = csv_rows("tonnes_encombrants", {PERIMETER[0]: "1\u00a0234,5", PERIMETER[1]: "1 075", accented: "12,75"},
                    partenaire="Métropole Aix-Marseille-Provence — propreté urbaine".replace("—", "-"))
    path = tmp_path / "encombrants.csv"
    path.write_bytes(csv_bytes(rows, encoding="cp1252"))
    assert "é".encode("cp1252") in path.read_bytes() and "é".encode() not in path.read_bytes()
    report = validate_file(path)
    assert report.ok, report.text()
    assert report.encoding == "Windows-1252" and report.separator == ";"
    by_code = {r["code_qpv"]: r for r in report.rows}
    assert by_code[PERIMETER[0]]["valeur"] == 1234.5 and by_code[PERIMETER[1]]["valeur"] == 1075
    assert by_code[accented]["valeur"] == 12.75 and by_code[accented]["nom_qpv"] == NAMES[accented]
    assert report.partenaire == "Métropole Aix-Marseille-Provence - propreté urbaine"


def test_comma_separated_csv_with_quoted_decimal_commas(tmp_path):
    path = tmp_path / "f.csv"
    path.write_bytes(csv_bytes(csv_rows("taux_vacance_locaux", default="12,5"), sep=",", encoding="utf-8"))
    report = validate_file(path)
    assert report.ok and report.separator == "," and {r["valeur"] for r in report.rows} == {12.5}


def test_percent_formatted_cell_reads_as_a_percentage(tmp_path):
    tpl = write_template("taux_vacance_locaux", "xlsx", tmp_path)

    def percent(ws):
        ws["E3"].value = 0.125
        ws["E3"].number_format = "0.0%"

    report = validate_file(fill_xlsx(tpl, tmp_path / "v.xlsx", edit=percent))
    assert report.ok and report.rows[0]["valeur"] == 12.5
    assert "cellule au format pourcentage : lue comme 12,5" in report.text()


# -- validation: every bad input, its French message, nothing loaded -----------------------------------

def _edit(cell, value):
    def edit(ws):
        ws[cell].value = value
    return edit


XLSX_CASES = [
    # (id, edit, expected message, where)
    ("unknown_qpv", _edit("B6", "QN01399M"), "code QPV inconnu « QN01399M »", "ligne 6, colonne « code_qpv » (B)"),
    ("qpv_2015", _edit("B7", "QP013042"), "géographie prioritaire 2015", "ligne 7, colonne « code_qpv » (B)"),
    ("duplicate_qpv", _edit("B8", PERIMETER[0]), f"QPV « {PERIMETER[0]} » en double (déjà ligne 3)",
     "ligne 8, colonne « code_qpv » (B)"),
    ("not_a_number", _edit("E9", "environ 12"), "« environ 12 » n'est pas un nombre", "ligne 9, colonne « valeur » (E)"),
    ("out_of_range", _edit("E10", 1500), "valeur 1 500 hors de la plage plausible de l'indicateur (0 à 1 000",
     "ligne 10, colonne « valeur » (E)"),
    ("millesime_out_of_range", _edit("D11", 2023), "millésime 2023 hors de la période acceptée",
     "ligne 11, colonne « millesime » (D)"),
    ("millesime_not_a_year", _edit("D12", "2025-26"), "millésime « 2025-26 » invalide",
     "ligne 12, colonne « millesime » (D)"),
    ("two_millesimes", _edit("D13", 2024), "plusieurs millésimes dans le même fichier (2025 et 2024)",
     "ligne 13, colonne « millesime » (D)"),
    ("unknown_indicator", _edit("A14", "taux_expulsions"), "indicateur inconnu « taux_expulsions » (vouliez-vous "
     "dire « taux_expulsion » ?)", "ligne 14, colonne « indicateur » (A)"),
    ("open_indicator", _edit("A15", "population"), "« population » n'est pas fourni par les partenaires",
     "ligne 15, colonne « indicateur » (A)"),
    ("two_indicators", _edit("A16", "nb_mediateurs"), "plusieurs indicateurs dans le même fichier",
     "ligne 16, colonne « indicateur » (A)"),
    ("extra_column", _edit("H2", "source"), "colonne en trop « source »", "ligne 2, colonne « source » (H)"),
    ("data_without_header", _edit("I21", "note"), "dans une colonne sans en-tête (I)", "ligne 21, cellule I21"),
    ("missing_column", lambda ws: ws.delete_cols(6), "colonne manquante « commentaire »",
     "ligne 2, colonne « commentaire »"),
    ("formula", _edit("E17", "=E2*2"), "formule « =E2*2 » à la place d'une valeur",
     "ligne 17, colonne « valeur » (E), cellule E17"),
    ("merged_cells", lambda ws: ws.merge_cells("E18:F19"), "cellules fusionnées", "ligne 18, cellule E18:F19"),
    ("no_partner", lambda ws: [setattr(r[6], "value", None) for r in ws.iter_rows(min_row=3)],
     "partenaire non renseigné", "colonne « partenaire » (G)"),
    ("two_partners", _edit("G20", "Préfecture"), "plusieurs partenaires dans le même fichier",
     "colonne « partenaire » (G)"),
    ("missing_millesime", _edit("D22", None), "millésime manquant sur une ligne qui porte une valeur",
     "ligne 22, colonne « millesime » (D)"),
    ("date_as_value", _edit("E23", __import__("datetime").datetime(2025, 3, 1)), "n'est pas un nombre",
     "ligne 23, colonne « valeur » (E)"),
]


@pytest.mark.parametrize("case", XLSX_CASES, ids=[c[0] for c in XLSX_CASES])
def test_each_bad_cell_is_reported_in_french_with_sheet_row_and_column(case, xlsx_template, tmp_path, settings):
    _, edit, message, where = case
    path = fill_xlsx(xlsx_template, tmp_path / "f.xlsx", edit=edit)
    report = validate_file(path)
    assert not report.ok
    text = report.text()
    assert message in text, text
    assert f"Feuille « donnees », {where}" in text, text
    assert "REFUSÉ" in text and "Rien n'a été chargé" in text
    assert message in loaded_nothing(settings, path)


def test_negative_count(tmp_path, settings):
    path = tmp_path / "m.csv"
    path.write_bytes(csv_bytes(csv_rows("nb_mediateurs", {PERIMETER[3]: "-3"}, default="4")))
    text = loaded_nothing(settings, path)
    assert "Fichier CSV, ligne 5, colonne « valeur » : valeur négative (-3) : un effectif ou une quantité ne peut " \
           "pas être négatif" in text


def test_every_problem_is_reported_at_once(xlsx_template, tmp_path):
    def many(ws):
        for case in XLSX_CASES[:6]:
            case[1](ws)

    report = validate_file(fill_xlsx(xlsx_template, tmp_path / "f.xlsx", edit=many))
    text = report.text()
    assert len(report.errors) >= 6
    for case in XLSX_CASES[:6]:
        assert case[2] in text


def test_a_renamed_data_sheet_is_named_in_the_report(xlsx_template, tmp_path):
    report = validate_file(fill_xlsx(xlsx_template, tmp_path / "f.xlsx", edit=lambda ws: setattr(ws, "title", "Feuil1")))
    assert "le classeur n'a pas de feuille « donnees » (feuilles trouvées : « instructions », « Feuil1 »" in \
        report.text()


# -- the file itself: real format, macros, size, zip bombs ------------------------------------------------

def test_file_that_is_not_what_its_extension_says(xlsx_template, tmp_path, settings):
    csv_as_xlsx = tmp_path / "donnees.xlsx"
    csv_as_xlsx.write_bytes(csv_bytes(csv_rows("taux_expulsion")))
    text = loaded_nothing(settings, csv_as_xlsx)
    assert "le fichier porte l'extension « .xlsx » mais son contenu est un fichier texte (CSV)" in text
    xlsx_as_csv = tmp_path / "donnees.csv"
    xlsx_as_csv.write_bytes(fill_xlsx(xlsx_template, tmp_path / "x.xlsx").read_bytes())
    assert "porte l'extension « .csv » mais son contenu est un classeur Excel (.xlsx)" in loaded_nothing(
        settings, xlsx_as_csv)
    pdf = tmp_path / "rapport.csv"
    pdf.write_bytes(b"%PDF-1.7\n%\xe2\xe3\xcf\xd3\n1 0 obj\n")
    assert "son contenu est un document PDF" in loaded_nothing(settings, pdf)
    txt = tmp_path / "donnees.txt"
    txt.write_bytes(csv_bytes(csv_rows("taux_expulsion")))
    assert "extension « .txt » non acceptée" in loaded_nothing(settings, txt)
    binary = tmp_path / "b.csv"
    binary.write_bytes(b"indicateur;code_qpv\x00\x01\x02" * 10)
    assert "son contenu est un fichier binaire" in loaded_nothing(settings, binary)


def test_workbook_with_macros_is_refused_unopened(xlsx_template, tmp_path, settings):
    src = fill_xlsx(xlsx_template, tmp_path / "x.xlsx")
    for name in ("classeur.xlsm", "classeur.xlsx"):
        dest = tmp_path / name
        with zipfile.ZipFile(src) as zin, zipfile.ZipFile(dest, "w", zipfile.ZIP_DEFLATED) as zout:
            for item in zin.infolist():
                zout.writestr(item, zin.read(item.filename))
            zout.writestr("xl/vbaProject.bin", b"\xd0\xcf\x11\xe0 fake VBA project")
        text = loaded_nothing(settings, dest)
        assert "le classeur contient des macros (VBA) : il est refusé sans être ouvert" in text


def test_oversized_file(tmp_path, settings, monkeypatch):
    monkeypatch.setenv("OBSERVATOIRE_PARTENAIRES_MAX_BYTES", "2000")
    apply_env()
    path = tmp_path / "gros.csv"
    path.write_bytes(csv_bytes(csv_rows("taux_expulsion")))
    assert path.stat().st_size > 2000
    assert "fichier trop volumineux (" in loaded_nothing(settings, path)


def test_zip_bomb_is_refused_before_openpyxl(xlsx_template, tmp_path, settings, monkeypatch):
    monkeypatch.setenv("OBSERVATOIRE_PARTENAIRES_MAX_UNZIPPED_BYTES", str(1024 * 1024))
    apply_env()
    src = fill_xlsx(xlsx_template, tmp_path / "x.xlsx")
    bomb = tmp_path / "bombe.xlsx"
    with zipfile.ZipFile(src) as zin, zipfile.ZipFile(bomb, "w", zipfile.ZIP_DEFLATED) as zout:
        for item in zin.infolist():
            zout.writestr(item, zin.read(item.filename))
        zout.writestr("xl/media/padding.bin", b"\0" * (8 * 1024 * 1024))
    assert bomb.stat().st_size < 100_000
    assert "une fois décompressé, le classeur dépasse" in loaded_nothing(settings, bomb)


def test_file_names_are_untrusted(tmp_path, settings):
    report = validate_file(tmp_path / "x", file_name="../../etc/\x1b[31mpasswd.xlsx")
    assert report.file_name == "[31mpasswd.xlsx"
    assert pstore.safe_name("../../Fichier préfecture\t2025 .xlsx") == "Fichier_prefecture2025_.xlsx"
    with pytest.raises(ValueError):
        pstore.process_inbox_file(settings, "../history.sqlite")


# -- import: store, re-import, replacement ----------------------------------------------------------------

def test_import_keeps_the_original_by_sha256_with_provenance_and_reimport_is_a_no_op(xlsx_template, tmp_path,
                                                                                      settings):
    path = fill_xlsx(xlsx_template, tmp_path / "Expulsions 2025 (v2).xlsx", {PERIMETER[0]: None},
                     drop=[PERIMETER[1]])
    result = pstore.import_file(settings, path)
    assert result.status == pstore.IMPORTED, result.text()
    sha = result.report.sha256
    original = settings.data_dir / "partenaires" / "fichiers" / f"{sha}.xlsx"
    assert original.read_bytes() == path.read_bytes() and not os.stat(original).st_mode & stat.S_IWUSR
    row = History(settings.history_db).current_partner_file("taux_expulsion", 2025)
    assert {k: row[k] for k in ("sha256", "partenaire", "nom_fichier", "rows", "valeurs", "status")} == {
        "sha256": sha, "partenaire": PARTNER, "nom_fichier": "Expulsions 2025 (v2).xlsx", "rows": 65,
        "valeurs": 64, "status": "current"}
    assert row["received_at"] and row["stored_path"] == f"partenaires/fichiers/{sha}.xlsx"
    table = pstore.values_table(settings).to_pylist()
    assert len(table) == 65 and {r["_sha256"] for r in table} == {sha}
    first = next(r for r in table if r["code_qpv"] == PERIMETER[0])
    assert first["statut"] == "non_publie" and first["_ligne"] == 3 and first["_feuille"] == "donnees"
    assert first["_nom_fichier"] == "Expulsions 2025 (v2).xlsx" and first["millesime"] == 2025

    before = (History(settings.history_db).partner_files(), os.stat(original).st_mtime_ns)
    again = pstore.import_file(settings, path, file_name="renamed.xlsx")
    assert again.status == pstore.UNCHANGED and again.ok and "rien n'a changé" in again.message
    assert (History(settings.history_db).partner_files(), os.stat(original).st_mtime_ns) == before


def test_a_new_file_for_the_same_indicator_and_millesime_needs_remplacer_and_history_is_kept(
        xlsx_template, tmp_path, settings):
    first = pstore.import_file(settings, fill_xlsx(xlsx_template, tmp_path / "a.xlsx"))
    second_path = fill_xlsx(xlsx_template, tmp_path / "b.xlsx", {PERIMETER[0]: 9.5})
    refused = pstore.import_file(settings, second_path)
    assert refused.status == pstore.REFUSED and not refused.ok
    assert "--remplacer" in refused.message and "« a.xlsx »" in refused.message
    assert [r["sha256"] for r in History(settings.history_db).partner_files()] == [first.report.sha256]
    assert not (pstore.files_dir(settings) / f"{refused.report.sha256}.xlsx").exists()

    replaced = pstore.import_file(settings, second_path, remplacer=True)
    assert replaced.status == pstore.REPLACED and "Remplace « a.xlsx »" in replaced.message
    rows = History(settings.history_db).partner_files()
    assert [(r["sha256"], r["status"]) for r in rows] == [(first.report.sha256, "replaced"),
                                                          (replaced.report.sha256, "current")]
    assert rows[0]["replaced_by"] == replaced.report.sha256 and rows[0]["replaced_at"]
    # both originals kept; the warehouse loads only the current file
    assert (pstore.files_dir(settings) / f"{first.report.sha256}.xlsx").exists()
    values = {r["code_qpv"]: r["valeur"] for r in pstore.values_table(settings).to_pylist()}
    assert values[PERIMETER[0]] == 9.5 and len(values) == 66
    # another millésime of the same indicator is a separate file
    other = pstore.import_file(settings, fill_xlsx(xlsx_template, tmp_path / "c.xlsx", millesime=2024))
    assert other.status == pstore.IMPORTED
    assert len(History(settings.history_db).current_partner_files()) == 2


def test_values_table_is_empty_but_typed_without_any_file(settings):
    table = pstore.values_table(settings)
    assert table.num_rows == 0
    assert table.schema.names == [n for n, _ in pstore.VALUE_COLUMNS]


def test_lost_values_are_rebuilt_from_the_kept_original(xlsx_template, tmp_path, settings):
    result = pstore.import_file(settings, fill_xlsx(xlsx_template, tmp_path / "a.xlsx"))
    (pstore.values_dir(settings) / f"{result.report.sha256}.parquet").unlink()
    assert pstore.values_table(settings).num_rows == 66


def test_import_changes_the_pipeline_fingerprint(xlsx_template, tmp_path, settings):
    from observatoire.run.context import Context
    from observatoire.run.fingerprinting import fingerprint

    ctx = Context.create(settings)
    before = fingerprint(ctx)
    assert fingerprint(ctx) == before
    pstore.import_file(settings, fill_xlsx(xlsx_template, tmp_path / "a.xlsx"))
    assert fingerprint(ctx) != before


def test_cli_valider_and_importer_exit_codes(xlsx_template, tmp_path):
    good = fill_xlsx(xlsx_template, tmp_path / "good.xlsx")
    bad = fill_xlsx(xlsx_template, tmp_path / "bad.xlsx", edit=_edit("E4", "n/a"))
    proc = run_cli("partenaires", "valider", str(bad))
    assert proc.returncode == 1 and "Feuille « donnees », ligne 4, colonne « valeur » (E)" in proc.stdout
    proc = run_cli("partenaires", "valider", str(good))
    assert proc.returncode == 0 and "VALIDE" in proc.stdout
    assert not (Path(os.environ["OBSERVATOIRE_DATA_DIR"]) / "partenaires").exists()  # valider loads nothing
    assert run_cli("partenaires", "importer", str(bad)).returncode == 1
    proc = run_cli("partenaires", "importer", str(good))
    assert proc.returncode == 0 and "Importé" in proc.stdout
    proc = run_cli("partenaires", "importer", str(good))
    assert proc.returncode == 0 and "rien n'a changé" in proc.stdout
    other = fill_xlsx(xlsx_template, tmp_path / "other.xlsx", {PERIMETER[0]: 7})
    assert run_cli("partenaires", "importer", str(other)).returncode == 1
    assert run_cli("partenaires", "importer", "--remplacer", str(other)).returncode == 0
    proc = run_cli("partenaires", "liste", "--historique")
    assert proc.returncode == 0 and "good.xlsx" in proc.stdout and "remplacé le" in proc.stdout


# -- the inbox ------------------------------------------------------------------------------------------

def test_inbox_moves_each_file_out_with_its_report(xlsx_template, tmp_path, settings):
    inbox = pstore.inbox_dir(settings)
    inbox.mkdir(parents=True)
    fill_xlsx(xlsx_template, inbox / "Préfecture 2025.xlsx")
    (inbox / "faux.csv").write_bytes(csv_bytes(csv_rows("taux_expulsion", {PERIMETER[0]: "beaucoup"})))
    (inbox / ".cache").write_text("x")
    (inbox / "~$Préfecture 2025.xlsx").write_text("lock")
    (inbox / "lien.csv").symlink_to(tmp_path / "ailleurs.csv")
    (inbox / "dossier").mkdir()
    names = pstore.inbox_files(settings)
    assert names == ["Préfecture 2025.xlsx", "faux.csv"]
    outcomes = {n: pstore.process_inbox_file(settings, n) for n in names}
    assert outcomes["Préfecture 2025.xlsx"]["status"] == pstore.IMPORTED
    assert outcomes["faux.csv"]["status"] == pstore.REJECTED
    assert pstore.inbox_files(settings) == []
    moved = Path(outcomes["faux.csv"]["moved_to"])
    assert moved.parent == pstore.rejected_dir(settings) and moved.name.endswith("-faux.csv")
    report = Path(outcomes["faux.csv"]["report"]).read_text(encoding="utf-8")
    assert "Fichier CSV, ligne 2, colonne « valeur » : « beaucoup » n'est pas un nombre" in report
    assert Path(outcomes["Préfecture 2025.xlsx"]["moved_to"]).parent == pstore.processed_dir(settings)
    assert pstore.process_inbox_file(settings, "faux.csv")["status"] == "absent"


def test_the_partner_documentation_lists_every_partner_indicator():
    from observatoire.partenaires import partner_indicators
    from tests.conftest import ROOT

    doc = (ROOT / "docs" / "partenaires.md").read_text(encoding="utf-8")
    assert [i for i in partner_indicators() if f"| `{i}` |" not in doc] == []


# -- the gate that remembers: a partner file compared with the indicator's previous file (issue 18) -------------

def test_a_partner_file_whose_values_jump_against_the_previous_one_is_refused(xlsx_template, tmp_path, settings):
    first = pstore.import_file(settings, fill_xlsx(xlsx_template, tmp_path / "2024.xlsx",
                                                   {code: 2.5 for code in PERIMETER}, millesime=2024))
    assert first.status == pstore.IMPORTED
    # the next millésime, sent per 100,000 instead of per 1,000 households: every value ×100
    per_100k = {code: 250 for code in PERIMETER}
    refused = pstore.import_file(settings, fill_xlsx(xlsx_template, tmp_path / "2025.xlsx", per_100k))
    assert refused.status == pstore.REJECTED and not refused.ok
    text = refused.text()
    assert "Écart avec le fichier précédent" in text and "« 2024.xlsx », millésime 2024" in text
    assert "multipliée ou divisée par plus de 2" in text and "2,5 avant, 250 après" in text
    assert "--accepter-rupture" in text
    assert [r["millesime"] for r in History(settings.history_db).partner_files()] == [2024]
    # a deliberate break: accepted, the jump is a warning naming the reason
    accepted = pstore.import_file(settings, fill_xlsx(xlsx_template, tmp_path / "2025.xlsx", per_100k),
                                  rupture="comptage pour 100 000 ménages")
    assert accepted.status == pstore.IMPORTED, accepted.text()
    assert "Rupture de série acceptée : comptage pour 100 000 ménages" in accepted.text()


def test_a_partner_file_that_empties_an_indicator_is_refused(xlsx_template, tmp_path, settings):
    pstore.import_file(settings, fill_xlsx(xlsx_template, tmp_path / "2024.xlsx", millesime=2024))
    half_empty = {code: None for code in PERIMETER[:40]}
    refused = pstore.import_file(settings, fill_xlsx(xlsx_template, tmp_path / "2025.xlsx", half_empty))
    assert refused.status == pstore.REJECTED
    assert "cellules vides ou au secret" in refused.text()


def test_cli_importer_accepter_rupture_needs_a_motif(xlsx_template, tmp_path):
    path = fill_xlsx(xlsx_template, tmp_path / "a.xlsx")
    proc = run_cli("partenaires", "importer", str(path), "--accepter-rupture", " ")
    assert proc.returncode == 2 and "motif" in proc.stderr


def test_an_accepted_partner_break_is_recorded_with_the_file_and_loaded(xlsx_template, tmp_path, settings):
    pstore.import_file(settings, fill_xlsx(xlsx_template, tmp_path / "2024.xlsx",
                                           {code: 2.5 for code in PERIMETER}, millesime=2024))
    accepted = pstore.import_file(settings, fill_xlsx(xlsx_template, tmp_path / "2025.xlsx",
                                                      {code: 250 for code in PERIMETER}),
                                  rupture="comptage pour 100 000 ménages")
    assert accepted.ok
    row = History(settings.history_db).current_partner_file("taux_expulsion", 2025)
    assert row["rupture"] == "comptage pour 100 000 ménages"
    table = pstore.values_table(settings).to_pylist()
    assert {r["_rupture"] for r in table if r["millesime"] == 2025} == {"comptage pour 100 000 ménages"}
    assert {r["_rupture"] for r in table if r["millesime"] == 2024} == {None}


def test_small_partner_counts_moving_by_chance_are_not_a_jump(tmp_path, settings):
    """A count of 1 to 9 per QPV (saisines du Défenseur des droits) moves by more than ×2 by chance alone: those
    QPV are not compared; the same file ×10 is still refused."""
    (tmp_path / "modele").mkdir()
    tpl = write_template("nb_saisines_defenseur_droits", "xlsx", tmp_path / "modele")
    first = {code: 1 + i % 4 for i, code in enumerate(PERIMETER)}
    again = {code: 1 + (i * 7) % 9 for i, code in enumerate(PERIMETER)}
    assert pstore.import_file(settings, fill_xlsx(tpl, tmp_path / "a.xlsx", first, millesime=2024)).ok
    noisy = pstore.import_file(settings, fill_xlsx(tpl, tmp_path / "b.xlsx", again))
    assert noisy.ok, noisy.text()
    tenfold = pstore.import_file(settings, fill_xlsx(tpl, tmp_path / "c.xlsx", {c: v * 10 for c, v in again.items()},
                                                     millesime=2026))
    assert not tenfold.ok and "multipliée ou divisée" in tenfold.text()


def test_a_header_without_rows_names_the_first_data_line(tmp_path):
    from observatoire.partenaires.validation import COLUMNS, validate_file

    path = tmp_path / "vide.csv"
    path.write_text(";".join(COLUMNS) + "\n", encoding="utf-8")
    report = validate_file(path)
    assert not report.ok
    message = next(p.message for p in report.errors if "aucune ligne de données" in p.message)
    assert message.endswith("à partir de la ligne 2") and "{" not in message


def test_a_file_longer_than_any_template_is_refused_at_the_line_past_the_limit(tmp_path):
    from observatoire.partenaires.rules import MAX_ROWS
    from observatoire.partenaires.validation import COLUMNS, validate_file

    path = tmp_path / "long.csv"
    row = ";".join(["taux_expulsion", "QN01306M", "x", "2025", "1", "", "p"])
    path.write_text(";".join(COLUMNS) + "\n" + (row + "\n") * (MAX_ROWS + 5), encoding="utf-8")
    report = validate_file(path)
    (problem,) = [p for p in report.errors if "lignes de données" in p.message]
    assert problem.message.startswith(f"plus de {MAX_ROWS} lignes de données") and problem.row == MAX_ROWS + 3


def test_the_inbox_summary_counts_loaded_and_unchanged_and_fails_on_a_rejected_file():
    from observatoire.partenaires.store import InboxRejected, summarise_inbox

    ok = [{"file": "a.csv", "status": "importe", "ok": True, "message": "chargé"},
          {"file": "b.xlsx", "status": "remplace", "ok": True, "message": "remplacé"},
          {"file": "c.csv", "status": "deja_importe", "ok": True, "message": "déjà chargé"},
          {"file": "d.csv", "status": "absent", "ok": True, "message": "déjà traité"},
          None]  # a file whose task failed: its own task says why
    assert summarise_inbox(ok) == {"files": 4, "loaded": 2, "unchanged": 1, "rejected": []}
    assert summarise_inbox([]) == {"files": 0, "loaded": 0, "unchanged": 0, "rejected": []}
    bad = {"file": "e.csv", "status": "rejete", "ok": False, "message": "2 erreurs", "report": "/r/e.rapport.txt"}
    with pytest.raises(InboxRejected) as err:
        summarise_inbox([*ok, bad])
    assert str(err.value).startswith("1 partner file(s) not loaded; send the reports back to the partners:")
    assert "- e.csv (rejete): 2 erreurs — rapport : /r/e.rapport.txt" in str(err.value)
