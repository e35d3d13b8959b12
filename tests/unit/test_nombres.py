"""One rounding for every output: the site, the edition's CSV and its workbook show the same figure for the same
value (observatoire/nombres.py), binary noise never deciding a rounding."""

from __future__ import annotations

from decimal import Decimal

import pytest

from observatoire.nombres import rounded
from observatoire.site.fmt import MINUS, NNBSP, fmt_number
from observatoire.snapshot.cells import csv_cell, xlsx_number

VALUES = [2.4499999999999997, 2.45, 0.15, 1.005, 10.200000000000003, -2.5, -0.04, 1234567.891, 0.0, 12, 7.35,
          99.95, 33.333333333333336, -1e-9]


def _site(text: str) -> Decimal:
    return Decimal(text.replace(NNBSP, "").replace(MINUS, "-").replace(",", "."))


@pytest.mark.parametrize("decimals", [0, 1, 2])
@pytest.mark.parametrize("value", VALUES)
def test_the_site_the_csv_and_the_workbook_show_the_same_figure(value, decimals):
    expected = rounded(value, decimals)
    assert _site(fmt_number(value, decimals)) == expected
    assert Decimal(csv_cell(float(value), decimals).replace(",", ".")) == expected
    assert Decimal(repr(xlsx_number(float(value), decimals))) == expected


def test_noise_never_decides_a_rounding():
    assert fmt_number(2.4499999999999997, 1) == "2,5" == csv_cell(2.4499999999999997, 1)
    assert fmt_number(-2.5, 0) == MINUS + "3" and csv_cell(-2.5, 0) == "-3"
    assert fmt_number(-0.04, 1) == "0,0"  # never « −0,0 »
