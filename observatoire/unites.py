"""The units of the catalogue (``dim_indicateur.unite``, ``ref_chiffre_cle.unite``), written once: how each is
shown after a number and as a title on the site, after a label and with how many decimals in the snapshots'
workbook, and what a partner is told to write. Adding a unit is a row here (``tests/unit/test_unites.py`` fails
when the catalogue uses a unit this table lacks)."""

from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True)
class Unite:
    suffixe: str  # after a number on the site: « 26,3 % », « 12 pour 1 000 habitants »
    decimales_site: int  # the site's default decimals
    titre: str  # a column or axis title on the site: « en % »
    libelle: str  # after a label in the workbook: « Taux de pauvreté (%) »
    decimales: int  # the workbook's display decimals when the catalogue gives none
    consigne: str | None = None  # what a partner writes in this unit (None: no partner indicator uses it)


UNITES: dict[str, Unite] = {
    "pourcentage": Unite("%", 1, "en %", "%", 1, "pourcentage, de 0 à 100 (écrire 12,5 pour 12,5 %)"),
    "points": Unite("points", 1, "en points", "points", 1),
    "habitants": Unite("habitants", 0, "en habitants", "habitants", 0),
    "nombre": Unite("", 0, "en nombre", "nombre", 0, "nombre (effectif)"),
    "euros": Unite("€", 0, "en euros", "€", 0, "euros"),
    "indice": Unite("", 2, "indice", "indice", 2),
    "rapport": Unite("", 2, "rapport", "rapport", 2),
    "metres": Unite("m", 0, "en mètres", "m", 0),
    "tonnes": Unite("t", 0, "en tonnes", "tonnes", 1, "tonnes"),
    "m2_par_habitant": Unite("m² par habitant", 1, "en m² par habitant", "m² par habitant", 1),
    "pour_1000_habitants": Unite("pour 1 000 habitants", 1, "pour 1 000 habitants", "pour 1 000 habitants", 1),
    "pour_1000_menages": Unite("pour 1 000 ménages", 1, "pour 1 000 ménages", "pour 1 000 ménages", 1,
                               "pour 1 000 ménages"),
    "pour_1000_logements": Unite("pour 1 000 logements", 1, "pour 1 000 logements", "pour 1 000 logements", 1,
                                 "pour 1 000 logements"),
    "pour_100_logements": Unite("pour 100 logements", 1, "pour 100 logements", "pour 100 logements", 1,
                                "pour 100 logements"),
}
