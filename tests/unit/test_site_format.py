"""The site's French formatting (observatoire.site.fmt), with known answers."""

from __future__ import annotations

from datetime import date

import pytest

from observatoire.site import fmt

NNBSP, NBSP, MINUS = "\u202f", "\u00a0", "\u2212"


@pytest.mark.parametrize("value, decimals, expected", [
    (1234567.891, 2, f"1{NNBSP}234{NNBSP}567,89"),
    (312529, 0, f"312{NNBSP}529"),
    (999, 0, "999"),
    (1000, 0, f"1{NNBSP}000"),
    (2.5, 0, "3"),            # half away from zero, not Python's banker's rounding (round(2.5) == 2)
    (0.125, 2, "0,13"),       # the decimal written, not the binary float below it
    (-1234.55, 1, f"{MINUS}1{NNBSP}234,6"),
    (-0.04, 1, "0,0"),        # no « −0,0 »
    (16.3348, 1, "16,3"),
    (0, 1, "0,0"),
    (None, 1, ""),
    (float("nan"), 1, ""),
])
def test_fmt_number(value, decimals, expected):
    assert fmt.fmt_number(value, decimals) == expected


def test_fmt_number_signed():
    assert fmt.fmt_number(3, 1, signed=True) == "+3,0"
    assert fmt.fmt_number(-3, 1, signed=True) == f"{MINUS}3,0"
    assert fmt.fmt_number(0, 1, signed=True) == "0,0"


@pytest.mark.parametrize("value, unite, decimales, expected", [
    (12.345, "pourcentage", None, f"12,3{NNBSP}%"),          # 1 decimal for a percentage by default
    (312529.0, "habitants", None, f"312{NNBSP}529{NBSP}habitants"),  # 0 for a count
    (254.0, "nombre", None, "254"),
    (18420.4, "euros", None, f"18{NNBSP}420{NNBSP}€"),
    (1.3456, "indice", None, "1,35"),
    (1.3456, "indice", 1, "1,3"),                            # the catalogue's decimales win
    (12.345, "pourcentage", 0, f"12{NNBSP}%"),
    (0.4, "pour_1000_habitants", None, f"0,4{NBSP}pour 1 000 habitants"),
    (2.0, "points", 1, f"2,0{NBSP}points"),
    (None, "pourcentage", None, ""),
])
def test_fmt_value(value, unite, decimales, expected):
    assert fmt.fmt_value(value, unite, decimales) == expected


def test_decimals_for():
    assert fmt.decimals_for("pourcentage") == 1
    assert fmt.decimals_for("nombre") == 0
    assert fmt.decimals_for("habitants") == 0
    assert fmt.decimals_for("pourcentage", 2) == 2
    assert fmt.decimals_for("unite_inconnue") == 1


def test_fmt_evolution():
    assert fmt.fmt_evolution(3, "pourcentage") == f"+3,0{NBSP}points"
    assert fmt.fmt_evolution(1.5, "pourcentage") == f"+1,5{NBSP}point"
    assert fmt.fmt_evolution(-10, "habitants") == f"{MINUS}10{NBSP}habitants"
    assert fmt.fmt_evolution(None, "habitants") == ""


def test_dates_in_french():
    assert fmt.fmt_date("2024-08-28") == "28 août 2024"
    assert fmt.fmt_date(date(2025, 1, 1)) == "1er janvier 2025"
    assert fmt.fmt_date("2026-12") == "décembre 2026"
    assert fmt.fmt_date("2027") == "2027"
    assert fmt.fmt_datetime("2026-12-07T06:55:07+00:00") == "7 décembre 2026 à 7 h 55"  # Paris time (UTC+1)
    assert fmt.fmt_datetime("2026-07-01T10:05:00+00:00") == "1er juillet 2026 à 12 h 05"  # summer time


def test_statuts_in_french():
    assert fmt.statut_label("secret_statistique") == "Secret statistique"
    assert fmt.statut_label("attendu_partenaire") == "Attendu d'un partenaire"
    assert fmt.statut_label("nouveau_statut") == "Nouveau statut"
    assert fmt.statut_label(None) == "Non disponible"
    assert fmt.motif_text("secret_statistique", None)  # never blank
    assert fmt.motif_text("non_publie", " Source à venir. ") == "Source à venir."
