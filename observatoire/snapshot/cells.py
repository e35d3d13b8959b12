"""Values for spreadsheets: formula neutralisation, rounding, French labels, units and number formats, the catalogue's columns."""

from __future__ import annotations

import re
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass
from datetime import date, datetime
from decimal import Decimal
from typing import Any

from observatoire.nombres import rounded
from observatoire.snapshot.base import FORMULA_TRIGGERS, _dicts
from observatoire.unites import UNITES

# -- formatting for spreadsheets --------------------------------------------------------------------------


def neutralise(text: str) -> str:
    """A text cell a spreadsheet would read as a formula gets a leading apostrophe (shown, never evaluated)."""
    return "'" + text if text.startswith(FORMULA_TRIGGERS) else text


def _plain(d: Decimal) -> str:
    """A Decimal without exponent nor trailing zeros: ``1E-7`` → ``0.0000001``, ``12.50`` → ``12.5``."""
    text = format(d, "f")
    if "." in text:
        text = text.rstrip("0").rstrip(".")
    return "0" if text in ("-0", "") else text


def csv_cell(value: Any, decimals: int | None = None) -> str:
    """One value in the French spreadsheet convention: decimal comma, no exponent, ISO dates, NULL empty; a
    number rounded to ``decimals`` when given (the publisher's precision), else at 12 significant digits (no
    floating-point noise: ``10.200000000000003`` → ``10,2``); a binary value (WKB geometry) in hexadecimal."""
    if value is None:
        return ""
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, int):
        return str(value)
    if isinstance(value, float | Decimal):
        d = rounded(value, decimals)
        return "" if d is None else _plain(d).replace(".", ",")
    if isinstance(value, bytes | bytearray | memoryview):
        return bytes(value).hex().upper()
    if isinstance(value, datetime):
        return value.isoformat(sep=" ")
    if isinstance(value, date):
        return value.isoformat()
    return neutralise(str(value))


def xlsx_number(value: float | Decimal, decimals: int | None = None) -> float | None:
    """A number for a workbook cell: the value of :func:`csv_cell` (the same rounding), as a float."""
    d = rounded(value, decimals)
    return None if d is None else float(d)


# -- labels, units and number formats (the workbook; the CSV rounding) -------------------------------------

#: how a unit of the catalogue (``dim_indicateur.unite``) is written after a label: « Taux de pauvreté (%) »
UNIT_LABELS = {code: u.libelle for code, u in UNITES.items()}
#: decimals shown for a unit when the catalogue gives none (display only: the values are not rounded to these)
DISPLAY_DECIMALS = {code: u.decimales for code, u in UNITES.items()}
#: units whose values are small (no thousands separator needed)
_SMALL_UNITS = ("pourcentage", "points", "indice", "rapport")
#: the plain columns of every table, in French (indicator columns of the wide marts are labelled from the
#: catalogue: see :meth:`Catalogue.columns`)
COLUMN_LABELS = {
    "code_qpv": "Code QPV",
    "libelle_qpv": "Quartier prioritaire",
    "code_commune": "Code commune",
    "libelle_commune": "Commune",
    "codes_communes": "Codes des communes",
    "nombre_communes": "Nombre de communes",
    "code_departement": "Code département",
    "code_epci": "Code EPCI",
    "type_evolution_2024": "Évolution du contour en 2024",
    "zonage_ars_medecins": "Zonage ARS (médecins)",
    "role_commune": "Rôle de la commune",
    "nombre_qpv": "Nombre de QPV",
    "est_commune_principale": "Commune principale du QPV",
    "millesime": "Millésime",
    "defi": "Défi (identifiant)",
    "numero_defi": "N° du défi",
    "libelle_defi": "Défi",
    "nombre_barometres": "Nombre de baromètres",
    "orientation": "Orientation (identifiant)",
    "numero_orientation": "N° de l'orientation",
    "libelle_orientation": "Orientation",
    "figure_parcours_de_vie": "Figure du parcours de vie",
    "indicateur": "Indicateur (identifiant)",
    "libelle": "Libellé",
    "libelle_indicateur": "Indicateur",
    "categorie": "Catégorie",
    "definition": "Définition",
    "unite": "Unité",
    "decimales": "Décimales publiées",
    "type_source": "Type de source",
    "famille_source": "Famille de source",
    "source": "Source",
    "url_source": "Adresse de la source",
    "date_reference": "Date de référence",
    "sens": "Sens favorable",
    "valeur_min": "Valeur minimale plausible",
    "valeur_max": "Valeur maximale plausible",
    "agregation": "Règle d'agrégation",
    "seuil_secret": "Seuil du secret statistique",
    "comparateurs": "Comparateurs",
    "motif_indisponibilite": "Motif d'indisponibilité",
    "valeur": "Valeur",
    "numerateur": "Numérateur",
    "denominateur": "Dénominateur",
    "statut": "Statut",
    "motif": "Motif",
    "valeur_commune": "Valeur de la commune",
    "valeur_commune_hors_qpv": "Valeur de la commune hors QPV",
    "valeur_perimetre": "Valeur {du_perimetre}",
    "valeur_france": "Valeur de la France",
    "ecart_commune": "Écart à la commune",
    "ecart_commune_hors_qpv": "Écart à la commune hors QPV",
    "ecart_perimetre": "Écart {au_perimetre}",
    "ecart_france": "Écart à la France",
    "millesime_reference": "Millésime de référence",
    "valeur_reference": "Valeur au millésime de référence",
    "statut_reference": "Statut au millésime de référence",
    "motif_reference": "Motif au millésime de référence",
    "evolution_reference": "Évolution depuis le millésime de référence",
    "evolution_precedent": "Évolution depuis le millésime précédent",
    "millesime_dernier": "Dernier millésime",
    "valeur_dernier": "Valeur au dernier millésime",
    "statut_dernier": "Statut au dernier millésime",
    "evolution": "Évolution (dernier millésime − référence)",
    "evolution_pct": "Évolution relative (%)",
    "comparabilite": "Comparabilité",
    "rupture_serie": "Rupture de série",
    "note_rupture": "Note sur la rupture de série",
    "date_publication": "Date de publication",
    "date_chargement": "Date de chargement",
    "prochaine_publication": "Prochaine publication",
    "chiffre": "Chiffre clé (identifiant)",
    "ordre": "Ordre",
    "valeur_contrat": "Valeur du contrat",
    "libelle_contrat": "Formulation du contrat",
    "ecart_contrat": "Écart au contrat",
    "methode": "Méthode",
    "qpv_renseignes": "QPV renseignés",
    "territoire": "Territoire (identifiant)",
    "libelle_territoire": "Territoire",
    "geographie": "Géographie",
    "codes_qp_2015": "Codes des QP 2015",
    "description": "Description",
    "geometrie_wkb": "Contour (WKB)",
    "millesime_contour": "Millésime du contour",
}
#: labels that differ in one table
_TABLE_LABELS = {
    "mart_derniere_valeur": {"millesime": "Dernier millésime", "valeur": "Dernière valeur",
                             "statut": "Statut (dernier millésime)", "motif": "Motif (dernier millésime)"},
}
#: a wide mart's comparators: ``<indicateur>_valeur_<territoire>``, ``<indicateur>_ecart_<territoire>``
_TERRITORIES = {"commune": ("la commune", "à la commune"),
                "commune_hors_qpv": ("la commune hors QPV", "à la commune hors QPV"),
                "perimetre": ("{le_perimetre}", "{au_perimetre}"),
                "france": ("la France", "à la France")}
_FLOAT_TYPES = ("DOUBLE", "FLOAT", "REAL", "DECIMAL")
_INTEGER_TYPES = ("TINYINT", "SMALLINT", "INTEGER", "BIGINT", "HUGEINT", "UTINYINT", "USMALLINT", "UINTEGER",
                  "UBIGINT", "UHUGEINT")
#: the long tables (one row per indicator) whose value columns take the precision of the row's indicator
_VALUE_COLUMN_RE = re.compile(r"^(valeur|valeur_(?!min$|max$).+|ecart_.+|evolution|evolution_(reference|precedent)"
                              r"|valeur_reference|valeur_dernier)$")


def unit_label(unite: str | None) -> str:
    """``pourcentage`` → ``%``, ``euros`` → ``€``, ``pour_1000_menages`` → ``pour 1 000 ménages``."""
    if not unite:
        return ""
    return UNIT_LABELS.get(unite, unite.replace("_", " "))


def gap_unit(unite: str | None) -> str | None:
    """The unit of a difference of two values: points for a rate, the value's unit otherwise."""
    return "points" if unite == "pourcentage" else unite


def number_format(unite: str | None, decimals: int | None, *, signed: bool = False) -> str | None:
    """An Excel number format for a value of ``unite``: ``0.0" %"`` for a percentage (the values are 0–100, not
    Excel's ×100 percent), ``#,##0`` for a count (Excel shows the thousands separator of its language),
    ``#,##0" €"`` for euros; ``decimals`` from the catalogue, else the unit's usual ones; ``signed`` (gaps,
    changes): an explicit + or −. None when the unit is unknown (General)."""
    if decimals is None:
        decimals = DISPLAY_DECIMALS.get(unite or "")
    if decimals is None:
        return None
    decimals = max(0, int(decimals))
    base = ("0" if unite in _SMALL_UNITS else "#,##0") + ("." + "0" * decimals if decimals else "")
    suffix = {"pourcentage": '" %"', "euros": '" €"'}.get(unite or "", "")
    text = base + suffix
    if signed:
        return f"+{text};-{text};{text}"
    return text


@dataclass
class Column:
    """How one column of a table is labelled, rounded and shown (one per column of a query's result)."""

    name: str
    type: str
    label: str
    #: the indicator whose precision and unit the column takes, when fixed (a wide mart's ``<indicateur>_…``)
    indicateur: str | None = None
    #: the unit of the column's values, when fixed
    unite: str | None = None
    #: ``valeur`` (a value), ``ecart`` (a gap or change: signed), ``statut``, ``motif``, ``texte``
    role: str = "texte"
    #: decimals for every row (fixed), or a function of the row (long tables: the row's indicator)
    decimals: int | None = None
    decimals_of_row: Callable[[tuple], int | None] | None = None
    #: number format for every row, or a function of the row
    fmt: str | None = None
    fmt_of_row: Callable[[tuple], str | None] | None = None
    #: the ``statut`` column explaining an empty value of this one, when there is one
    statut: str | None = None

    @property
    def blob(self) -> bool:
        return self.type == "BLOB"

    @property
    def is_float(self) -> bool:
        return self.type.startswith(_FLOAT_TYPES)

    @property
    def is_number(self) -> bool:
        return self.is_float or self.type in _INTEGER_TYPES

    def decimals_for(self, row: tuple) -> int | None:
        return self.decimals_of_row(row) if self.decimals_of_row is not None else self.decimals

    def format_for(self, row: tuple) -> str | None:
        return self.fmt_of_row(row) if self.fmt_of_row is not None else self.fmt


class Catalogue:
    """The catalogue of indicators (``dim_indicateur``) as the writers need it: label, unit and the decimals
    the publisher uses (``decimales``, when the catalogue has them) of each indicator, and the French label
    of every column of every table (:meth:`columns`)."""

    def __init__(self, indicators: Mapping[str, Mapping[str, Any]], perimetre: str | None = None) -> None:
        from observatoire.config import DEFAULT_PERIMETRE

        self.indicators = {k: dict(v) for k, v in indicators.items()}
        #: longest first: a wide column takes the longest indicator id it starts with
        self._ids = sorted(self.indicators, key=len, reverse=True)
        metropole = not perimetre or perimetre == DEFAULT_PERIMETRE
        self.words = ({"du_perimetre": "de la Métropole", "au_perimetre": "à la Métropole",
                       "le_perimetre": "la Métropole", "perimetre": "Métropole"} if metropole else
                      {"du_perimetre": "du périmètre", "au_perimetre": "au périmètre",
                       "le_perimetre": "le périmètre", "perimetre": "périmètre"})

    @classmethod
    def from_db(cls, con, schema: str, perimetre: str | None = None) -> Catalogue:
        """Read ``<schema>.dim_indicateur`` (a schema of an attached database, e.g. ``snap.main``)."""
        database, _, name = schema.rpartition(".")
        cols = {r[0] for r in con.execute(
            "SELECT column_name FROM duckdb_columns() WHERE schema_name = ? AND table_name = 'dim_indicateur'"
            + (" AND database_name = ?" if database else ""), [name, database] if database else [name]).fetchall()}
        if not {"indicateur", "libelle", "unite"} <= cols:
            return cls({}, perimetre)
        wanted = [c for c in ("indicateur", "libelle", "unite", "decimales", "defi") if c in cols]
        rows = _dicts(con, f"SELECT {', '.join(wanted)} FROM {schema}.dim_indicateur")
        return cls({r["indicateur"]: r for r in rows}, perimetre)

    def label(self, indicateur: str) -> str:
        return (self.indicators.get(indicateur) or {}).get("libelle") or indicateur

    def unite(self, indicateur: str | None) -> str | None:
        return (self.indicators.get(indicateur) or {}).get("unite") if indicateur else None

    def decimals(self, indicateur: str | None) -> int | None:
        """The decimals the publisher uses for ``indicateur`` (``dim_indicateur.decimales``), or None."""
        d = (self.indicators.get(indicateur) or {}).get("decimales") if indicateur else None
        return None if d is None else int(d)

    def match(self, column: str) -> tuple[str, str] | None:
        """``(indicateur, suffix)`` for a wide mart's column (the longest indicator id it starts with):
        ``taux_pauvrete_ecart_perimetre`` → ``("taux_pauvrete", "ecart_perimetre")``; None for a plain one."""
        for ind in self._ids:
            if column == ind:
                return ind, ""
            if column.startswith(ind + "_"):
                return ind, column[len(ind) + 1:]
        return None

    def plain_label(self, table: str, name: str) -> str:
        text = _TABLE_LABELS.get(table, {}).get(name) or COLUMN_LABELS.get(name)
        if text is None:
            text = name.replace("_", " ")
            text = text[:1].upper() + text[1:]
        return text.format(**self.words)

    def with_unit(self, text: str, unite: str | None) -> str:
        unit = unit_label(unite)
        return f"{text} ({unit})" if unit else text

    def _wide_column(self, name: str, typ: str, ind: str, suffix: str) -> Column:
        lib, unite = self.label(ind), self.unite(ind)
        decimals = self.decimals(ind)
        statut = f"{ind}_statut"
        if suffix == "":
            return Column(name, typ, self.with_unit(lib, unite), ind, unite, "valeur", decimals,
                          fmt=number_format(unite, decimals), statut=statut)
        if suffix in ("statut", "motif"):
            return Column(name, typ, f"{lib} — {suffix}", ind, None, suffix, statut=statut)
        if suffix.startswith("valeur_"):
            where = _TERRITORIES.get(suffix[len("valeur_"):])
            what = where[0].format(**self.words).split(" ", 1)[-1] if where else suffix[len("valeur_"):]
            return Column(name, typ, self.with_unit(f"{lib} — {what}", unite), ind, unite, "valeur", decimals,
                          fmt=number_format(unite, decimals), statut=statut)
        if suffix.startswith(("ecart_", "evolution_")):
            gap = gap_unit(unite)
            if suffix.startswith("ecart_"):
                where = _TERRITORIES.get(suffix[len("ecart_"):])
                what = "écart " + (where[1].format(**self.words) if where else suffix[len("ecart_"):])
            else:
                what = {"evolution_reference": "évolution depuis le millésime de référence",
                        "evolution_precedent": "évolution depuis le millésime précédent"}.get(
                            suffix, suffix.replace("_", " "))
            return Column(name, typ, self.with_unit(f"{lib} — {what}", gap), ind, gap, "ecart", decimals,
                          fmt=number_format(gap, decimals, signed=True), statut=statut)
        other = (COLUMN_LABELS.get(suffix) or suffix.replace("_", " ")).format(**self.words)
        return Column(name, typ, f"{lib} — {other[:1].lower() + other[1:]}", ind, None, "texte", statut=statut)

    def columns(self, table: str, description: Iterable[tuple]) -> list[Column]:
        """How each column of ``table`` (a query's ``cursor.description``) is labelled, rounded and shown.

        A wide mart's ``<indicateur>`` and ``<indicateur>_…`` columns (the longest indicator id the name starts
        with) take the indicator's label, unit and decimals; in a long table (a column ``indicateur``:
        ``fct_indicateur_qpv``, ``mart_derniere_valeur``, the evaluation table) the value columns take those
        of each row's indicator; ``mart_chiffres_cles`` those of each row's ``unite``. Every other float
        keeps 12 significant digits."""
        described = [(d[0], str(d[1])) for d in description]
        names = [n for n, _ in described]
        position = {n: i for i, n in enumerate(names)}
        reference = table.startswith("dim_")
        row_indicator = position.get("indicateur") if not reference else None
        row_unit = position.get("unite") if table == "mart_chiffres_cles" else None
        out = []
        for name, typ in described:
            matched = None if (reference or row_indicator is not None or row_unit is not None) \
                else self.match(name)
            if matched is not None:
                out.append(self._wide_column(name, typ, *matched))
                continue
            col = Column(name, typ, self.plain_label(table, name))
            if name in ("statut", "motif") or name.startswith(("statut_", "motif_")):
                col.role = "statut" if name.startswith("statut") else "motif"
            numeric = typ.startswith(_FLOAT_TYPES)
            if numeric and row_indicator is not None and _VALUE_COLUMN_RE.match(name):
                signed = name.startswith(("ecart_", "evolution"))
                col.role = "ecart" if signed else "valeur"
                col.decimals_of_row = self._row_decimals(row_indicator)
                col.fmt_of_row = self._row_format(row_indicator, signed)
            elif numeric and row_unit is not None and name in ("valeur", "valeur_contrat", "ecart_contrat"):
                signed = name.startswith("ecart_")
                col.role = "ecart" if signed else "valeur"
                col.decimals_of_row = lambda row, i=row_unit: DISPLAY_DECIMALS.get(row[i] or "")
                col.fmt_of_row = (lambda row, i=row_unit, s=signed:
                                  number_format(gap_unit(row[i]) if s else row[i], None, signed=s))
            elif numeric and name == "evolution_pct":
                col.fmt = number_format("pourcentage", 1, signed=True)
            elif numeric or typ in _INTEGER_TYPES:
                col.role = "nombre"
            out.append(col)
        # which statut explains an empty value: the row's own (long tables), or per end of the evaluation
        for col in out:
            if col.statut is None and col.role in ("valeur", "ecart"):
                if col.name.endswith("_reference") and "statut_reference" in position:
                    col.statut = "statut_reference"
                elif col.name.endswith("_dernier") and "statut_dernier" in position:
                    col.statut = "statut_dernier"
                elif col.name.startswith("evolution") and "comparabilite" in position:
                    col.statut = "comparabilite"
                elif "statut" in position:
                    col.statut = "statut"
        return out

    def _row_decimals(self, i: int) -> Callable[[tuple], int | None]:
        cache: dict[Any, int | None] = {}

        def of(row: tuple) -> int | None:
            ind = row[i]
            if ind not in cache:
                cache[ind] = self.decimals(ind)
            return cache[ind]
        return of

    def _row_format(self, i: int, signed: bool) -> Callable[[tuple], str | None]:
        cache: dict[Any, str | None] = {}

        def of(row: tuple) -> str | None:
            ind = row[i]
            if ind not in cache:
                unite = self.unite(ind)
                cache[ind] = number_format(gap_unit(unite) if signed else unite, self.decimals(ind), signed=signed)
            return cache[ind]
        return of


