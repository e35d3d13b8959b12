"""A unit of the catalogue is written once (``observatoire/unites.py``) and read by the site, the snapshots'
workbook and the partner templates: every unit the catalogue or the key figures use must be in that table, and a
partner indicator's unit must tell the partner what to write, so a new unit cannot silently fall back to its raw
code (« pour_1000_menages ») in what analysts and partners read."""

from __future__ import annotations

import csv

from observatoire.catalogue import indicateurs, seeds_dir
from observatoire.unites import UNITES


def test_every_unit_of_the_catalogue_and_the_key_figures_is_written_once():
    units = {i["unite"] for i in indicateurs().values()}
    with open(seeds_dir() / "ref_chiffre_cle.csv", encoding="utf-8", newline="") as fh:
        units |= {row["unite"] for row in csv.DictReader(fh)}
    missing = sorted(units - set(UNITES))
    assert not missing, f"units without their labels in observatoire/unites.py: {missing}"


def test_every_partner_unit_tells_the_partner_what_to_write():
    units = {i["unite"] for i in indicateurs().values() if i.get("type_source") == "partner"}
    missing = sorted(u for u in units if not (UNITES.get(u) and UNITES[u].consigne))
    assert not missing, f"partner units without a `consigne` in observatoire/unites.py: {missing}"


def test_the_site_the_workbook_and_the_partners_read_the_same_table():
    from observatoire.partenaires.rules import UNIT_LABELS as consignes
    from observatoire.site.fmt import UNIT_TITLES, UNITS
    from observatoire.snapshot.cells import DISPLAY_DECIMALS, UNIT_LABELS

    assert set(UNITS) == set(UNIT_TITLES) == set(UNIT_LABELS) == set(DISPLAY_DECIMALS) == set(UNITES)
    assert UNITS["pourcentage"] == ("%", 1) and UNIT_LABELS["pour_1000_habitants"] == "pour 1 000 habitants"
    assert set(consignes) == {code for code, u in UNITES.items() if u.consigne}
