"""The edition's workbook and CSV as the evaluators read them (issue 19): French labels with units, number
formats by unit, the défis in the contract's order, the latest values, a dictionary, a statut beside every
empty value, and figures rounded to the publisher's precision (Parquet and DuckDB keep every digit)."""

from __future__ import annotations

import json
import re
import shutil

import duckdb
import openpyxl
import pandas as pd
import pytest

from observatoire.config import load_settings
from observatoire.snapshot import (
    DICTIONARY_SHEET,
    EVALUATION_TABLE,
    LATEST_SHEET,
    Catalogue,
    create,
    defi_sheet_name,
    number_format,
    unit_label,
    verify,
)

#: the sheets holding figures: every empty value cell there needs a statut in its row
DATA_SHEETS_FIXED = (LATEST_SHEET, "chiffres_cles", "fiches_qpv", "evaluation")


@pytest.fixture(scope="module")
def edition(published_demo, tmp_path_factory):
    data = tmp_path_factory.mktemp("workbook") / "data"
    shutil.copytree(published_demo, data, symlinks=True)
    settings = load_settings({"OBSERVATOIRE_DATA_DIR": str(data)})
    snap = create(settings, 2025)
    con = duckdb.connect(str(snap.path / "observatoire_2025.duckdb"), read_only=True)
    wb = openpyxl.load_workbook(snap.path / "observatoire_2025.xlsx")
    try:
        yield settings, snap, con, wb
    finally:
        wb.close()
        con.close()


def _ids(ws) -> list[str]:
    return [c.value for c in ws[1]]


def _labels(ws) -> list[str]:
    return [c.value for c in ws[2]]


def _catalogue(con) -> dict[str, dict]:
    cols = {r[0] for r in con.execute("describe dim_indicateur").fetchall()}
    dec = "decimales" if "decimales" in cols else "NULL AS decimales"
    return {r[0]: {"libelle": r[1], "unite": r[2], "decimales": r[3], "defi": r[4]} for r in con.execute(
        f"select indicateur, libelle, unite, {dec}, defi from dim_indicateur").fetchall()}


def _defi_sheets(con) -> list[tuple[str, str]]:
    return [(defi, defi_sheet_name(n, lib, defi)) for defi, n, lib in con.execute(
        "select defi, numero_defi, libelle_defi from dim_defi order by numero_defi").fetchall()]


def _match(column: str, catalogue: dict) -> tuple[str, str] | None:
    for ind in sorted(catalogue, key=len, reverse=True):
        if column == ind:
            return ind, ""
        if column.startswith(ind + "_"):
            return ind, column[len(ind) + 1:]
    return None


def test_defi_sheets_come_in_the_contracts_order(edition):
    _, _, con, wb = edition
    defis = _defi_sheets(con)
    assert len(defis) == 10
    names = [name for _, name in defis]
    assert wb.sheetnames[0] == "notes" and wb.sheetnames[1:11] == names  # numero_defi 1..10, never alphabetical
    assert names[0] == "1 Transition écologique" and names[9].startswith("10 ")
    assert all(len(n) <= 31 for n in names)
    assert wb.sheetnames[11] == LATEST_SHEET and wb.sheetnames[-1] == DICTIONARY_SHEET
    assert {"chiffres_cles", "fiches_qpv", "evaluation", "indicateurs", "qpv"} <= set(wb.sheetnames)


def test_defi_sheets_have_ids_hidden_and_french_labels_with_units(edition):
    _, snap, con, wb = edition
    catalogue = _catalogue(con)
    for defi, name in _defi_sheets(con):
        ws = wb[name]
        mart = pd.read_parquet(snap.path / "parquet" / f"mart_defi_{defi}.parquet")
        assert _ids(ws) == list(mart.columns) and ws.max_row == len(mart) + 2
        assert ws.row_dimensions[1].hidden and not ws.row_dimensions[2].hidden
        assert ws.freeze_panes == "C3" and ws.auto_filter.ref.startswith("A2:")
        labels = dict(zip(_ids(ws), _labels(ws), strict=True))
        assert labels["code_qpv"] == "Code QPV" and labels["millesime"] == "Millésime"
        mine = [i for i, v in catalogue.items() if v["defi"] == defi]
        assert mine
        for ind in mine:
            lib, unit = catalogue[ind]["libelle"], unit_label(catalogue[ind]["unite"])
            assert labels[ind] == f"{lib} ({unit})", labels[ind]
            assert labels[f"{ind}_statut"] == f"{lib} — statut"
            assert labels[f"{ind}_valeur_commune"] == f"{lib} — commune ({unit})"
            gap = "points" if catalogue[ind]["unite"] == "pourcentage" else unit
            assert labels[f"{ind}_ecart_perimetre"] == f"{lib} — écart à la Métropole ({gap})"
            if f"{ind}_motif" in labels:
                assert labels[f"{ind}_motif"] == f"{lib} — motif"
        assert all(label and label != col for col, label in labels.items() if col != "millesime"), labels
        assert {ws.column_dimensions[c].width for c in ("A", "B", "F")} - {None, 13}  # widths set


def test_number_formats_follow_the_unit(edition):
    _, _, con, wb = edition
    catalogue = _catalogue(con)
    ws = wb["fiches_qpv"]
    ids = _ids(ws)

    def formats(ind):
        j = ids.index(ind)
        got = {row[j].number_format for row in ws.iter_rows(min_row=3) if isinstance(row[j].value, float | int)}
        assert got, ind
        return got

    decimals = {i: catalogue[i]["decimales"] for i in ("taux_pauvrete", "population", "revenu_median")}
    assert formats("taux_pauvrete") == {number_format("pourcentage", decimals["taux_pauvrete"])}
    if decimals["taux_pauvrete"] in (1, None):
        assert formats("taux_pauvrete") == {'0.0" %"'}  # 0–100 values, one decimal, not Excel's ×100 percent
    assert formats("population") == {"#,##0"}
    assert formats("revenu_median") == {'#,##0" €"'}
    # a défi sheet: a percentage baromètre, its gap in points with a sign
    ws = wb["1 Transition écologique"]
    ids = _ids(ws)
    j = ids.index("part_dpe_f_g")
    cells = [row[j] for row in ws.iter_rows(min_row=3) if row[j].value is not None]
    assert cells and {c.number_format for c in cells} == {number_format("pourcentage",
                                                                         catalogue["part_dpe_f_g"]["decimales"])}
    # the latest values: the format of each row's indicator
    ws = wb[LATEST_SHEET]
    ids = _ids(ws)
    ind, val = ids.index("indicateur"), ids.index("valeur")
    seen = {}
    for row in ws.iter_rows(min_row=3):
        if row[val].value is not None:
            seen.setdefault(row[ind].value, set()).add(row[val].number_format)
    assert seen["population"] == {"#,##0"} and seen["revenu_median"] == {'#,##0" €"'}
    assert seen["taux_pauvrete"] == {number_format("pourcentage", catalogue["taux_pauvrete"]["decimales"])}


def test_values_are_rounded_to_the_publishers_decimals(edition):
    _, snap, con, wb = edition
    catalogue = _catalogue(con)
    if all(v["decimales"] is None for v in catalogue.values()):
        pytest.skip("dim_indicateur has no decimales in this publication")
    ws = wb["fiches_qpv"]
    ids = _ids(ws)
    checked = 0
    for j, col in enumerate(ids):
        m = _match(col, catalogue)
        if not m or m[1] == "statut" or m[1] == "motif":
            continue
        d = catalogue[m[0]]["decimales"]
        for row in ws.iter_rows(min_row=3):
            v = row[j].value
            if isinstance(v, float):
                assert round(v, d) == v, (col, v, d)
                checked += 1
    assert checked > 100


def test_latest_values_sheet_is_the_mart_one_row_per_qpv_and_indicator(edition):
    _, snap, con, wb = edition
    ws = wb[LATEST_SHEET]
    tables = {r[0] for r in con.execute("select table_name from duckdb_tables() where schema_name = 'main'").fetchall()}
    rows = list(ws.iter_rows(min_row=3, values_only=True))
    ids = _ids(ws)
    assert {"code_qpv", "indicateur", "millesime", "valeur", "statut", "motif", "millesime_reference",
            "valeur_reference", "evolution_reference"} <= set(ids)
    if "mart_derniere_valeur" in tables:
        mart_cols = [r[0] for r in con.execute("describe mart_derniere_valeur").fetchall()]
        assert ids == mart_cols
        n = con.execute("select count(*) from mart_derniere_valeur").fetchone()[0]
        pairs = con.execute("select count(distinct code_qpv) * count(distinct indicateur) "
                            "from mart_derniere_valeur").fetchone()[0]
        assert len(rows) == n == pairs
    qpv, indicators = (con.execute(f"select count(*) from {t}").fetchone()[0] for t in ("dim_qpv", "dim_indicateur"))
    assert qpv == 66 and len(rows) == qpv * indicators
    assert len({(r[ids.index("code_qpv")], r[ids.index("indicateur")]) for r in rows}) == len(rows)
    labels = dict(zip(ids, _labels(ws), strict=True))
    assert labels["valeur"] == "Dernière valeur" and labels["valeur_reference"] == "Valeur au millésime de référence"
    assert ws.freeze_panes == "C3" and ws.row_dimensions[1].hidden


def test_dictionary_describes_every_indicator_and_every_column(edition):
    _, snap, con, wb = edition
    ws = wb[DICTIONARY_SHEET]
    rows = [list(r) for r in ws.iter_rows(values_only=True)]
    head = rows[1]
    assert head[:14] == ["Indicateur (identifiant)", "Libellé", "Définition", "Unité (catalogue)",
                         "Unité dans les en-têtes", "Décimales publiées", "N° du défi", "Défi", "Source",
                         "Adresse de la source", "Date de référence", "Sens favorable",
                         "Millésimes publiés (au moins une valeur)", "Millésimes dans les tables"]
    end = rows.index([None] * len(rows[0]), 2)
    indicators = {r[0]: r for r in rows[2:end]}
    catalogue = _catalogue(con)
    assert set(indicators) == set(catalogue)
    published = dict(con.execute(
        "select indicateur, string_agg(distinct millesime::varchar, ', ' order by millesime::varchar) "
        "from fct_indicateur_qpv where statut = 'disponible' group by 1").fetchall())
    for ind, r in indicators.items():
        assert r[1] == catalogue[ind]["libelle"] and r[3] == catalogue[ind]["unite"]
        assert r[4] == unit_label(catalogue[ind]["unite"])
        assert r[12] == published.get(ind), ind
    cols = {r[0] for r in con.execute("describe dim_indicateur").fetchall()}
    if "definition" in cols:
        defs = dict(con.execute("select indicateur, definition from dim_indicateur").fetchall())
        urls = dict(con.execute("select indicateur, url_source from dim_indicateur").fetchall())
        assert all(indicators[i][2] == defs[i] and indicators[i][9] == urls[i] for i in defs)
    # then every column of every data sheet, with its label as shown in row 2
    header = rows.index(["Feuille", "Colonne (identifiant, ligne 1 masquée)", "Libellé (ligne 2)", "Indicateur",
                         "Unité", "Format des nombres", "Statut qui explique une cellule vide"]
                        + [None] * (len(rows[0]) - 7))
    listed = {(r[0], r[1]): r[2] for r in rows[header + 1:]}
    expected = {}
    for name in wb.sheetnames:
        if name in ("notes", DICTIONARY_SHEET):
            continue
        expected |= {(name, i): label for i, label in zip(_ids(wb[name]), _labels(wb[name]), strict=True)}
    assert listed == expected
    assert not any(c == "geometrie_wkb" for _, c in listed)  # binary columns stay out of the workbook


#: units whose gap to a territory has no meaning (a count): the notes say such an ecart is empty
_COUNT_UNITS = ("habitants", "nombre", "euros", "tonnes", "metres")


def _unexplained(name: str, ids: list[str], rows: list[tuple], catalogue: dict) -> list[str]:
    """Every empty value cell with no explanation in its row, each value column checked against ITS statut:
    ``valeur`` → ``statut``, ``valeur_reference`` → ``statut_reference`` (or no reference millésime at all),
    ``valeur_dernier`` → ``statut_dernier``, a wide mart's ``<ind>`` → ``<ind>_statut``: the statut must be
    filled and not ``disponible``. A comparator, gap or change (``valeur_<territoire>``, ``ecart_*``,
    ``evolution*``, and their ``<ind>_…`` forms) is explained by a statut that is not ``disponible``; when it is
    ``disponible``, only what the notes sheet claims is checked: an empty gap has an empty comparator beside it
    (« le territoire de comparaison n'a pas de valeur publiée ») or is a count's (« l'écart n'a pas de sens »);
    an empty comparator or change still needs its statut cell filled (the notes say why it may be empty)."""
    pos = {c: i for i, c in enumerate(ids)}
    unite = {i: v["unite"] for i, v in catalogue.items()}
    checks = []  # (column, statut column, kind, indicator or None, comparator column or None)
    for col in ids:
        m = _match(col, catalogue)
        if m is not None:
            ind, suffix = m
            if suffix == "":
                checks.append((col, f"{ind}_statut", "valeur", ind, None))
            elif suffix.startswith("ecart_"):
                checks.append((col, f"{ind}_statut", "ecart", ind, f"{ind}_valeur_{suffix[len('ecart_'):]}"))
            elif suffix.startswith(("valeur_", "evolution_")):
                checks.append((col, f"{ind}_statut", "comparateur", ind, None))
            continue
        if col in ("valeur", "valeur_reference", "valeur_dernier"):
            statut = {"valeur": "statut", "valeur_reference": "statut_reference",
                      "valeur_dernier": "statut_dernier"}[col]
            if statut in pos:
                checks.append((col, statut, "valeur", None, None))
        elif col.startswith("ecart_") and col != "ecart_contrat" and "statut" in pos:
            checks.append((col, "statut", "ecart", None, "valeur_" + col[len("ecart_"):]))
        elif col.startswith(("valeur_", "evolution")) and col not in ("valeur_min", "valeur_max", "valeur_contrat"):
            statut = ("comparabilite" if col in ("evolution", "evolution_pct") and "comparabilite" in pos
                      else "statut_reference" if col == "evolution_reference" and "statut_reference" in pos
                      and "statut" not in pos else "statut")
            if statut in pos:
                checks.append((col, statut, "comparateur", None, None))
    assert all(s in pos for _, s, _, _, _ in checks), (name, checks)
    problems = []
    for r, row in enumerate(rows, start=3):
        for col, statut, kind, ind, comparator in checks:
            if row[pos[col]] is not None:
                continue
            why = row[pos[statut]]
            where = f"{name}!{col} row {r}"
            if kind == "valeur":
                no_reference = col == "valeur_reference" and row[pos["millesime_reference"]] is None
                if why in (None, "", "disponible") and not (no_reference and why in (None, "")):
                    problems.append(f"{where}: statut {why!r}")
            elif why in (None, ""):
                problems.append(f"{where}: no statut")
            elif why == "disponible" and kind == "ecart":
                row_ind = ind or (row[pos["indicateur"]] if "indicateur" in pos else None)
                empty_comparator = comparator in pos and row[pos[comparator]] is None
                if not empty_comparator and unite.get(row_ind) not in _COUNT_UNITS:
                    problems.append(f"{where}: statut disponible, comparator {comparator} filled")
    return problems


def test_no_empty_value_without_its_statut_on_any_data_sheet(edition):
    _, _, con, wb = edition
    catalogue = _catalogue(con)
    sheets = [name for _, name in _defi_sheets(con)] + list(DATA_SHEETS_FIXED)
    problems = []
    for name in sheets:
        ws = wb[name]
        rows = list(ws.iter_rows(min_row=3, values_only=True))
        problems += _unexplained(name, _ids(ws), rows, catalogue)
    assert not problems, f"{len(problems)} empty values without a statut, e.g. {problems[:10]}"


def test_the_statut_checker_catches_an_unexplained_empty_value(edition):
    """The checker above can fail: a blanked statut, a statut saying « disponible » beside an empty value, an
    empty baseline whose statut_reference is gone, are each flagged (on copies of the sheets' rows)."""
    _, _, con, wb = edition
    catalogue = _catalogue(con)
    ws = wb[LATEST_SHEET]
    ids, rows = _ids(ws), [list(r) for r in ws.iter_rows(min_row=3, values_only=True)]
    assert not _unexplained(LATEST_SHEET, ids, rows, catalogue)
    v, st = ids.index("valeur"), ids.index("statut")
    vr, sr = ids.index("valeur_reference"), ids.index("statut_reference")
    empty = next(i for i, r in enumerate(rows) if r[v] is None)
    for statut in (None, "disponible"):
        bad = [list(r) for r in rows]
        bad[empty][st] = statut
        flagged = _unexplained(LATEST_SHEET, ids, bad, catalogue)
        assert f"{LATEST_SHEET}!valeur row {empty + 3}: statut {statut!r}" in flagged
        assert all(f" row {empty + 3}:" in f for f in flagged), flagged  # that row only
    # the baseline is checked against statut_reference, not against the latest value's statut
    empty_ref = next(i for i, r in enumerate(rows) if r[vr] is None and r[sr] not in (None, "disponible")
                     and r[st] not in (None, "disponible"))
    bad = [list(r) for r in rows]
    bad[empty_ref][sr] = None
    assert _unexplained(LATEST_SHEET, ids, bad, catalogue) == [
        f"{LATEST_SHEET}!valeur_reference row {empty_ref + 3}: statut None"]
    # a wide mart: <ind> against <ind>_statut, whatever the other indicators' statuts
    name = "1 Transition écologique"
    ws = wb[name]
    ids, rows = _ids(ws), [list(r) for r in ws.iter_rows(min_row=3, values_only=True)]
    j, s = ids.index("part_dpe_f_g"), ids.index("part_dpe_f_g_statut")
    target = next(i for i, r in enumerate(rows) if r[j] is None)
    rows[target][s] = "disponible"
    assert f"{name}!part_dpe_f_g row {target + 3}: statut 'disponible'" in _unexplained(name, ids, rows, catalogue)


def test_indicators_come_socle_first_then_the_defis_in_the_contracts_order(edition):
    """The catalogue's order: the socle, then défis 1 to 10 (dim_indicateur keeps no order column: within each,
    by identifier), in the indicateurs, Dernières valeurs and Dictionnaire sheets; never alphabetical by défi."""
    _, _, con, wb = edition
    numero = {i: n or 0 for i, n in con.execute(
        "select i.indicateur, d.numero_defi from dim_indicateur i left join dim_defi d using (defi)").fetchall()}
    expected = sorted(numero, key=lambda i: (numero[i], i))
    ws = wb["indicateurs"]
    got = [r[_ids(ws).index("indicateur")] for r in ws.iter_rows(min_row=3, values_only=True)]
    assert got == expected
    assert numero[got[0]] == 0 and [numero[i] for i in got] == sorted(numero[i] for i in got)
    ws = wb[LATEST_SHEET]
    ids = _ids(ws)
    first_qpv = [r[ids.index("indicateur")] for r in ws.iter_rows(min_row=3, values_only=True)
                 if r[0] == ws.cell(row=3, column=1).value]
    assert first_qpv == expected
    rows = [list(r) for r in wb[DICTIONARY_SHEET].iter_rows(min_row=3, values_only=True)]
    listed = [r[0] for r in rows[:rows.index([None] * len(rows[0]))]]
    assert listed == expected


def test_the_editions_duckdb_file_describes_its_tables_and_columns(edition):
    """Plain DuckDB reads the French descriptions: the models' (copied from the published file) and the
    evaluation table's own."""
    _, snap, _, _ = edition
    con = duckdb.connect(str(snap.path / "observatoire_2025.duckdb"), read_only=True)
    try:
        table = dict(con.execute("select table_name, comment from duckdb_tables() where schema_name = 'main'")
                     .fetchall())
        column = {(t, c): x for t, c, x in con.execute(
            "select table_name, column_name, comment from duckdb_columns() where schema_name = 'main'").fetchall()}
    finally:
        con.close()
    assert table["fct_indicateur_qpv"] and "QPV" in table["fct_indicateur_qpv"]
    assert column[("fct_indicateur_qpv", "statut")] and column[("mart_derniere_valeur", "statut_reference")]
    assert "évaluation" in table[EVALUATION_TABLE]
    assert all(column[(EVALUATION_TABLE, c)] for t, c in column if t == EVALUATION_TABLE), "a column undescribed"


def test_csv_is_rounded_and_parquet_keeps_every_digit(edition):
    _, snap, con, _ = edition
    noise = re.compile(r"(^|;)-?\d+,\d*(0{7,}[1-9]|9{7,}\d?)(;|$)")
    for path in sorted((snap.path / "csv").glob("*.csv")):
        for n, line in enumerate(path.read_text(encoding="utf-8-sig").splitlines()):
            assert not noise.search(line), (path.name, n, line[:200])
            assert not re.search(r"(^|;)-?\d+(,\d+)?[eE][-+]?\d+(;|$)", line), (path.name, n)
    catalogue = Catalogue.from_db(con, "main")
    fct = pd.read_parquet(snap.path / "parquet" / "fct_indicateur_qpv.parquet")
    back = pd.read_csv(snap.path / "csv" / "fct_indicateur_qpv.csv", sep=";", decimal=",", encoding="utf-8-sig",
                       dtype={"code_qpv": str, "code_commune": str}, keep_default_na=False,
                       na_values={"valeur": [""], "ecart_commune": [""]})
    assert len(back) == len(fct)
    for (_, a), (_, b) in zip(fct.iterrows(), back.iterrows(), strict=True):
        for col in ("valeur", "ecart_commune"):
            if pd.isna(a[col]):
                assert pd.isna(b[col])
                continue
            d = catalogue.decimals(a["indicateur"])
            tolerance = 0.5 * 10 ** -d + 1e-9 if d is not None else abs(a[col]) * 1e-11
            assert abs(b[col] - a[col]) <= tolerance, (a["indicateur"], col, a[col], b[col])
            if d is not None:
                assert round(b[col], d) == b[col]
    # the key figures: rounded in the CSV, full precision in Parquet and DuckDB
    key = pd.read_parquet(snap.path / "parquet" / "mart_chiffres_cles.parquet")
    full = key[(key.unite == "pourcentage") & key.valeur.notna()].valeur
    assert any(round(v, 1) != v for v in full)  # the Parquet keeps the computation's digits
    text = (snap.path / "csv" / "mart_chiffres_cles.csv").read_text(encoding="utf-8-sig")
    for v in full:
        assert f";{round(v, 1):.1f}".replace(".", ",").rstrip("0").rstrip(",") in text
    assert con.execute("select count(*) from mart_chiffres_cles where valeur <> round(valeur, 1) "
                       "and unite = 'pourcentage'").fetchone()[0] > 0


def test_contours_are_hex_wkb_in_csv_and_stay_out_of_the_workbook(edition):
    _, snap, con, wb = edition
    tables = {r[0] for r in con.execute("select table_name from duckdb_tables() where schema_name = 'main'").fetchall()}
    if "dim_qpv_contour" not in tables:
        pytest.skip("no dim_qpv_contour in this publication")
    parquet = pd.read_parquet(snap.path / "parquet" / "dim_qpv_contour.parquet")
    back = pd.read_csv(snap.path / "csv" / "dim_qpv_contour.csv", sep=";", encoding="utf-8-sig", dtype=str)
    assert len(back) == len(parquet) == 66
    got = dict(zip(back.code_qpv, back.geometrie_wkb, strict=True))
    for code, wkb in zip(parquet.code_qpv, parquet.geometrie_wkb, strict=True):
        assert got[code] == bytes(wkb).hex().upper() and bytes.fromhex(got[code]) == bytes(wkb)
    assert not any("geometrie_wkb" in _ids(wb[n]) for n in wb.sheetnames if n not in ("notes", DICTIONARY_SHEET))


def test_pandas_reads_either_header(edition):
    _, snap, _, _ = edition
    path = snap.path / "observatoire_2025.xlsx"
    mart = pd.read_parquet(snap.path / "parquet" / "mart_qpv_fiche.parquet")
    by_id = pd.read_excel(path, sheet_name="fiches_qpv", skiprows=[1], dtype={"code_qpv": str})
    assert list(by_id.columns) == list(mart.columns) and len(by_id) == len(mart)
    by_label = pd.read_excel(path, sheet_name="fiches_qpv", header=1)
    assert by_label.columns[0] == "Code QPV" and len(by_label) == len(mart)


def test_the_site_is_frozen_with_the_edition_and_listed_in_the_manifest(edition):
    settings, snap, _, _ = edition
    m = json.loads((snap.path / "manifest.json").read_text(encoding="utf-8"))
    site = [f for f in m["files"] if f["path"].startswith("site/")]
    assert site and any(f["path"] == "site/index.html" for f in site)
    assert m["site"]["dossier"] == "site" and m["site"]["fichiers"] == len(site)
    assert verify(settings, "2025") == []
    readme = (snap.path / "README.md").read_text(encoding="utf-8")
    for words in (LATEST_SHEET, DICTIONARY_SHEET, "site/index.html", "précision complète", "26,3", "1 Transition"):
        assert words in readme, words
    notes = {r[0]: r[1] for r in openpyxl.load_workbook(snap.path / "observatoire_2025.xlsx", read_only=True)[
        "notes"].iter_rows(values_only=True) if r and r[0]}
    assert "Arrondis" in notes and "Cellules vides" in notes and "En-têtes" in notes
    assert EVALUATION_TABLE in {t for t in m["tables"]}


def test_the_partner_template_headers_carry_their_french_label_and_unit(tmp_path):
    """The other workbook the project writes: row 1 of its data sheet gives each column's French label (the
    unit on « valeur ») with a note, row 2 the identifiers the import reads; the filled template is accepted."""
    from observatoire.catalogue import indicateurs
    from observatoire.partenaires.template import write_template
    from observatoire.partenaires.validation import COLUMNS, validate_file

    path = write_template("taux_expulsion", "xlsx", tmp_path)
    wb = openpyxl.load_workbook(path)
    ws = wb["donnees"]
    labels = [c.value for c in ws[1]]
    assert [c.value for c in ws[2]] == list(COLUMNS) and not ws.row_dimensions[1].hidden
    info = indicateurs()["taux_expulsion"]
    assert labels[COLUMNS.index("valeur")] == f"{info['libelle']} (pour 1 000 ménages)"
    assert labels[COLUMNS.index("millesime")].startswith("Millésime")
    assert all(c.comment and c.comment.text for c in ws[1]) and ws.freeze_panes == "A3"
    for row in ws.iter_rows(min_row=3):
        row[3].value, row[4].value, row[6].value = 2025, 2.5, "Préfecture"
    wb.save(tmp_path / "rempli.xlsx")
    report = validate_file(tmp_path / "rempli.xlsx")
    assert report.ok and len(report.rows) == 66 and report.rows[0]["ligne"] == 3, report.text()


def test_a_site_that_cannot_be_built_leaves_no_edition(published_demo, tmp_path, monkeypatch):
    import observatoire.site as site_module
    from observatoire.snapshot import SnapshotError

    data = tmp_path / "data"
    shutil.copytree(published_demo, data, symlinks=True)
    settings = load_settings({"OBSERVATOIRE_DATA_DIR": str(data)})
    error = getattr(site_module, "SiteError", SnapshotError)

    def broken(db, out, *, log=None):
        raise error("template missing")

    monkeypatch.setattr(site_module, "build_site", broken)
    with pytest.raises(SnapshotError, match="static site could not be built.*template missing"):
        create(settings, 2025)
    assert not (data / "snapshots" / "2025").exists() and not list((data / "snapshots").glob(".tmp-*"))
