"""A unit of the catalogue is written in three places (the site, the snapshots' workbook and CSV rounding, the
partner templates and reports): every unit the catalogue or the key figures use must be known to each, so a new
unit cannot silently fall back to its raw code (« pour_1000_menages ») in what analysts and partners read."""

from __future__ import annotations

import pytest

from observatoire.catalogue import indicateurs, seeds_dir


def _units(partner_only: bool = False) -> set[str]:
    units = {i["unite"] for i in indicateurs().values()
             if not partner_only or i.get("type_source") == "partner"}
    if not partner_only:
        import csv

        with open(seeds_dir() / "ref_chiffre_cle.csv", encoding="utf-8", newline="") as fh:
            units |= {row["unite"] for row in csv.DictReader(fh)}
    return units


@pytest.mark.parametrize("table", ["site.UNITS", "site.UNIT_TITLES", "snapshot.UNIT_LABELS",
                                   "snapshot.DISPLAY_DECIMALS"])
def test_every_unit_of_the_catalogue_has_its_labels(table):
    from observatoire.site import fmt
    from observatoire.snapshot import cells

    known = {"site.UNITS": fmt.UNITS, "site.UNIT_TITLES": fmt.UNIT_TITLES, "snapshot.UNIT_LABELS": cells.UNIT_LABELS,
             "snapshot.DISPLAY_DECIMALS": cells.DISPLAY_DECIMALS}[table]
    missing = sorted(_units() - set(known))
    assert not missing, f"units of the catalogue without a label in {table}: {missing}"


def test_every_partner_unit_has_its_instructions():
    from observatoire.partenaires.rules import UNIT_LABELS

    missing = sorted(_units(partner_only=True) - set(UNIT_LABELS))
    assert not missing, f"partner units without instructions in observatoire/partenaires/rules.py: {missing}"
