"""The numbers of the evaluators' CSV and workbook: the publisher's precision, never floating-point noise."""

from __future__ import annotations

from decimal import Decimal

import duckdb
import pytest

from observatoire.snapshot import (
    Catalogue,
    csv_cell,
    defi_sheet_name,
    number_format,
    rounded,
    unit_label,
    write_csv,
    xlsx_number,
)

CATALOGUE = Catalogue({
    "taux_pauvrete": {"libelle": "Taux de pauvreté", "unite": "pourcentage", "decimales": 1},
    "taux": {"libelle": "Un taux plus court", "unite": "pourcentage", "decimales": 2},
    "population": {"libelle": "Population", "unite": "habitants", "decimales": 0},
    "revenu_median": {"libelle": "Revenu médian", "unite": "euros", "decimales": 0},
    "indice_jeunesse": {"libelle": "Indice de jeunesse", "unite": "indice", "decimales": None},
})


@pytest.mark.parametrize(("value", "decimals", "expected"), [
    (10.200000000000003, None, "10,2"),        # binary noise never shows
    (0.1 + 0.2, None, "0,3"),
    (26.31578947, 1, "26,3"),                  # a percentage the publisher gives with one decimal
    (26.35, 1, "26,4"),                        # half away from zero, on the decimal value (not 26,3 by binary)
    (-26.35, 1, "-26,4"),
    (2.675, 2, "2,68"),
    (2.4499999999999997, 1, "2,5"),            # read as 2.45 first: the noise does not decide the rounding
    (15350.4, 0, "15350"),
    (12.0, 1, "12"),                           # no trailing zero: the same number as the Parquet's to the digit
    (12.04, 1, "12"),
    (-3.25, None, "-3,25"),                    # negative numbers stay numbers
    (-0.04, 1, "0"),                           # never « -0 »
    (-1e-13, None, "-0,0000000000001"),
    (1e-7, None, "0,0000001"),                 # no exponent
    (1e-7, 1, "0"),
    (1.5e-9, None, "0,0000000015"),
    (1234.0, None, "1234"),
    (1234.0, 1, "1234"),
    (1e20, None, "100000000000000000000"),
    (123456789012345.0, None, "123456789012345"),  # a whole amount keeps every digit
    (1 / 3, None, "0,333333333333"),           # 12 significant digits without a known precision
    (7, None, "7"),
    (7, 2, "7"),
    (-42, None, "-42"),
    (Decimal("1.50"), None, "1,5"),
    (Decimal("26.315"), 2, "26,32"),
    (None, None, ""),
    (None, 1, ""),
    (float("nan"), 1, ""),
    (float("inf"), None, ""),
])
def test_csv_cell_rounds_to_the_publishers_precision(value, decimals, expected):
    assert csv_cell(value, decimals) == expected


def test_other_cells_keep_their_conventions():
    assert csv_cell(True) == "true" and csv_cell(False, 1) == "false"
    assert csv_cell("=1+1") == "'=1+1" and csv_cell("-x") == "'-x" and csv_cell("13055") == "13055"
    assert csv_cell(b"\x01\x01\x00\x00\x00") == "0101000000"  # a WKB geometry: hexadecimal
    assert csv_cell(bytearray(b"\xab")) == "AB"


def test_workbook_numbers_are_rounded_like_the_csv():
    assert xlsx_number(26.31578947, 1) == 26.3
    assert xlsx_number(10.200000000000003) == 10.2
    assert xlsx_number(float("nan")) is None and xlsx_number(None) is None
    assert rounded(-0.0) == 0 and str(rounded(-0.04, 1)) == "0"


def test_number_formats_by_unit():
    assert number_format("pourcentage", 1) == '0.0" %"'       # values 0–100: not Excel's ×100 percent
    assert number_format("pourcentage", None) == '0.0" %"'
    assert number_format("pourcentage", 2) == '0.00" %"'
    assert number_format("habitants", 0) == "#,##0"
    assert number_format("nombre", None) == "#,##0"
    assert number_format("euros", 0) == '#,##0" €"'
    assert number_format("points", 1, signed=True) == "+0.0;-0.0;0.0"
    assert number_format("inconnue", None) is None
    assert unit_label("pourcentage") == "%" and unit_label("euros") == "€"
    assert unit_label("pour_1000_menages") == "pour 1 000 ménages" and unit_label("une_unite") == "une unite"


def test_wide_columns_take_the_longest_indicator_id():
    assert CATALOGUE.match("taux_pauvrete") == ("taux_pauvrete", "")
    assert CATALOGUE.match("taux_pauvrete_ecart_perimetre") == ("taux_pauvrete", "ecart_perimetre")
    assert CATALOGUE.match("taux_valeur_commune") == ("taux", "valeur_commune")
    assert CATALOGUE.match("code_qpv") is None


def test_labels_with_units():
    con = duckdb.connect()
    cur = con.execute("SELECT 'QN01301M' AS code_qpv, 2021 AS millesime, 1.0 AS taux_pauvrete, "
                      "'disponible' AS taux_pauvrete_statut, '' AS taux_pauvrete_motif, 1.0 AS taux_pauvrete_valeur_commune, "
                      "1.0 AS taux_pauvrete_ecart_perimetre, 1.0 AS population, 1.0 AS revenu_median, "
                      "1.0 AS revenu_median_ecart_commune")
    cols = {c.name: c for c in CATALOGUE.columns("mart_defi_x", cur.description)}
    cur.fetchall()
    assert cols["code_qpv"].label == "Code QPV" and cols["millesime"].label == "Millésime"
    assert cols["taux_pauvrete"].label == "Taux de pauvreté (%)"
    assert cols["taux_pauvrete_statut"].label == "Taux de pauvreté — statut"
    assert cols["taux_pauvrete_motif"].label == "Taux de pauvreté — motif"
    assert cols["taux_pauvrete_valeur_commune"].label == "Taux de pauvreté — commune (%)"
    assert cols["taux_pauvrete_ecart_perimetre"].label == "Taux de pauvreté — écart à la Métropole (points)"
    assert cols["population"].label == "Population (habitants)" and cols["population"].fmt == "#,##0"
    assert cols["revenu_median"].label == "Revenu médian (€)" and cols["revenu_median"].fmt == '#,##0" €"'
    assert cols["revenu_median_ecart_commune"].fmt == '+#,##0" €";-#,##0" €";#,##0" €"'
    assert cols["taux_pauvrete"].statut == cols["taux_pauvrete_valeur_commune"].statut == "taux_pauvrete_statut"
    other = Catalogue(CATALOGUE.indicators, "departement:13")
    cur = con.execute("SELECT 1.0 AS taux_pauvrete_ecart_perimetre")
    assert other.columns("mart_defi_x", cur.description)[0].label == \
        "Taux de pauvreté — écart au périmètre (points)"
    cur.fetchall()


def test_write_csv_rounds_wide_and_long_tables(tmp_path):
    con = duckdb.connect()
    con.execute("CREATE TABLE wide AS SELECT 'QN01301M' AS code_qpv, 26.31578947::DOUBLE AS taux_pauvrete, "
                "10.200000000000003::DOUBLE AS taux_pauvrete_valeur_commune, "
                "-3.349999999::DOUBLE AS taux_pauvrete_ecart_commune, 1122.0::DOUBLE AS population, "
                "0.30000000000000004::DOUBLE AS autre, NULL::DOUBLE AS indice_jeunesse, "
                "'secret_statistique' AS indice_jeunesse_statut, '\\x01\\x02'::BLOB AS geometrie_wkb")
    write_csv(con, "SELECT * FROM wide", tmp_path / "wide.csv", table="mart_defi_x", catalogue=CATALOGUE)
    lines = (tmp_path / "wide.csv").read_text(encoding="utf-8-sig").splitlines()
    assert lines[1] == "QN01301M;26,3;10,2;-3,3;1122;0,3;;secret_statistique;0102"
    con.execute("CREATE TABLE fct AS SELECT * FROM (VALUES ('taux_pauvrete', 26.31578947, 4.44444444), "
                "('population', 1122.4, -12.5), ('indice_jeunesse', 1.23456789, 0.1), ('inconnu', 0.1 + 0.2, NULL)) "
                "AS t(indicateur, valeur, ecart_commune)")
    write_csv(con, "SELECT *, valeur AS numerateur FROM fct", tmp_path / "fct.csv", table="fct_indicateur_qpv",
              catalogue=CATALOGUE)
    lines = (tmp_path / "fct.csv").read_text(encoding="utf-8-sig").splitlines()
    assert lines[1:] == ["taux_pauvrete;26,3;4,4;26,31578947", "population;1122;-13;1122,4",
                         "indice_jeunesse;1,23456789;0,1;1,23456789", "inconnu;0,3;;0,3"]


def test_defi_sheet_names_are_readable_and_fit():
    names = [defi_sheet_name(1, "Le défi de la transition écologique", "transition_ecologique"),
             defi_sheet_name(2, "Le défi du logement", "logement"),
             defi_sheet_name(6, "Le défi de l'attractivité", "attractivite"),
             defi_sheet_name(8, "Le défi de la lutte contre les discriminations", "discriminations"),
             defi_sheet_name(10, "Le défi de la coopération euro-méditerranéenne", "cooperation_euromediterraneenne"),
             defi_sheet_name(3, None, "tranquillite_publique"),
             defi_sheet_name(4, "Le défi : " + "très " * 20 + "long", "x")]
    assert names[:6] == ["1 Transition écologique", "2 Logement", "6 Attractivité",
                         "8 Lutte contre discriminations", "10 Coop. euro-méditerranéenne", "3 Tranquillite publique"]
    assert all(len(n) <= 31 and not set(n) & set("[]:*?/\\") for n in names), names
