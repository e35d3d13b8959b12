"""The evaluators' annual editions: immutable, verifiable snapshots of the published warehouse.

``observatoire snapshot create --edition 2025`` freezes the published warehouse into
``$OBSERVATOIRE_DATA_DIR/snapshots/2025/``::

    README.md                     for evaluators, in French
    manifest.json                 edition, version, provenance of the frozen publication (its run, the validations
                                  it rests on, the source files it was built from, tools), every file's sha256,
                                  whether it is signed and with which key (``signature``)
    manifest.json.sig             when OBSERVATOIRE_SIGNING_KEY names a private key: the Ed25519 signature of
                                  manifest.json's exact bytes, base64 on one line (it covers every file, since
                                  manifest.json lists every file's sha256)
    SHA256SUMS                    the same hashes in `sha256sum -c` format (manifest.json and its .sig included;
                                  not signed itself: it detects accidents, the signature proves origin)
    observatoire_2025.xlsx        a workbook for humans: notes, one sheet per défi, key figures, fiches, evaluation
    observatoire_2025.duckdb      a standalone DuckDB file (storage readable by DuckDB 1.4+)
    parquet/<table>.parquet       every mart, the référentiel dimensions and the evaluation table
    csv/<table>.csv               the same for French Excel and R's read.csv2: UTF-8 BOM, `;`, decimal comma

An edition is never rewritten: creating one that exists is refused. A correction
(``--correction "motif"``) writes ``2025.1`` (then ``2025.2``…) next to it, recording why and what changed.
A demo publication (the project's recordings: synthetic values) is refused unless asked for (``--demo``); its
edition then says « données de démonstration, valeurs synthétiques » in its README, manifest.json, workbook
notes and DuckDB file.
Everything is written into a temporary directory and renamed into place when complete, under the data
directory's writer lock, so a snapshot is either absent or whole.

Signatures: ``observatoire snapshot keygen DIR`` writes an Ed25519 key pair (``snapshot.key``, private, mode 600;
``snapshot.pub``, for the evaluators). With ``OBSERVATOIRE_SIGNING_KEY`` naming the private key, every edition and
correction is signed; ``observatoire snapshot verify VERSION --public-key snapshot.pub`` then detects an edited file
even when its manifest.json and SHA256SUMS were updated to match. A key is identified by its fingerprint: the
first 16 hex digits of the sha256 of the raw 32-byte public key.
"""

from __future__ import annotations

import base64
import binascii
import csv
import difflib
import hashlib
import json
import math
import os
import platform
import re
import shutil
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass
from datetime import UTC, date, datetime
from decimal import ROUND_HALF_UP, Context, Decimal
from importlib import metadata
from pathlib import Path
from typing import Any

from extract.landing import file_sha256 as sha256_file
from observatoire.config import DEMO_NOTICE, Settings
from observatoire.warehouse import _lit, _q, copy_comments  # shared with the publication

#: the evaluation table: each indicator per QPV at its baseline millésime and at the latest
EVALUATION_TABLE = "evaluation_indicateur_qpv"
#: text cells starting with one of these would be evaluated by a spreadsheet (OWASP "CSV injection")
FORMULA_TRIGGERS = ("=", "+", "-", "@", "\t", "\r")
MANIFEST = "manifest.json"
SUMS = "SHA256SUMS"
README = "README.md"
#: the signature of manifest.json (base64 of the raw 64-byte Ed25519 signature, one line)
SIGNATURE = "manifest.json.sig"
SIGNATURE_ALGORITHM = "Ed25519"
#: the private key that signs the editions (a file path); unset: editions are unsigned
SIGNING_KEY_ENV = "OBSERVATOIRE_SIGNING_KEY"
PRIVATE_KEY_FILE = "snapshot.key"
PUBLIC_KEY_FILE = "snapshot.pub"
_VERSION_RE = re.compile(r"^(?P<edition>\d{4})(?:\.(?P<correction>[1-9]\d*))?$")
_TOOLS = ("observatoire-quartiers", "duckdb", "dbt-core", "dbt-duckdb", "great-expectations", "apache-airflow",
          "pyarrow", "openpyxl", "pandas")
_STATUTS = {
    "disponible": "valeur publiée",
    "secret_statistique": "valeur retenue par l'éditeur (petits effectifs, secret fiscal) : la valeur est vide, "
                          "ce n'est pas un zéro",
    "non_publie": "l'éditeur n'a pas (encore) publié la valeur pour ce quartier et ce millésime",
    "attendu_partenaire": "baromètre fourni chaque année par un signataire, pas encore reçu",
    "non_calculable": "baromètre calculé dont le calcul n'est pas possible pour ce millésime",
}


class SnapshotError(RuntimeError):
    """A snapshot that cannot be created, read or verified; the message says which and why."""


class SnapshotExists(SnapshotError):
    pass


class SnapshotDemoRefused(SnapshotError):
    """An edition of a demo publication without ``--demo`` (or ``--demo`` on a live one): a usage error, refused
    before anything is written."""


class SigningKeyError(SnapshotError):
    """A key that cannot be used (``OBSERVATOIRE_SIGNING_KEY``, ``--public-key``): a usage error, refused before
    anything is written or checked; the message names the variable or option, the file and why."""


class KeyExists(SnapshotError):
    """``keygen`` into a directory that already holds a key: a key is never overwritten."""


@dataclass(frozen=True)
class Snapshot:
    version: str
    path: Path
    manifest: dict

    @property
    def edition(self) -> int:
        return int(self.manifest["edition"])


# -- paths and versions ------------------------------------------------------------------------------------


def snapshots_dir(settings: Settings) -> Path:
    return settings.data_dir / "snapshots"


def parse_version(text: str) -> tuple[int, int]:
    """``"2025"`` → (2025, 0), ``"2025.2"`` → (2025, 2); anything else is a clear error."""
    m = _VERSION_RE.match(str(text).strip())
    if not m:
        raise SnapshotError(f"{text!r} is not a snapshot version: expected an edition year (2025) or a "
                            "correction (2025.1)")
    return int(m["edition"]), int(m["correction"] or 0)


def versions(settings: Settings) -> list[str]:
    """Every complete snapshot version, oldest edition first, corrections in order."""
    root = snapshots_dir(settings)
    if not root.is_dir():
        return []
    found = [p.name for p in root.iterdir() if p.is_dir() and _VERSION_RE.match(p.name)
             and (p / MANIFEST).is_file()]
    return sorted(found, key=parse_version)


def open_snapshot(settings: Settings, version: str) -> Snapshot:
    parse_version(version)
    path = snapshots_dir(settings) / str(version).strip()
    manifest = path / MANIFEST
    if not manifest.is_file():
        known = ", ".join(versions(settings)) or "none"
        if path.is_dir():
            raise SnapshotError(f"{path} has no {MANIFEST}: the snapshot is incomplete or was altered, and cannot "
                                f"be checked (complete snapshots: {known})")
        raise SnapshotError(f"no snapshot {version} in {snapshots_dir(settings)} (known: {known})")
    try:
        doc = json.loads(manifest.read_text(encoding="utf-8"))
    except ValueError as err:
        raise SnapshotError(f"not valid JSON ({err}); the snapshot was altered: {manifest}") from None
    return Snapshot(version=path.name, path=path, manifest=doc)


# -- formatting for spreadsheets --------------------------------------------------------------------------


def neutralise(text: str) -> str:
    """A text cell a spreadsheet would read as a formula gets a leading apostrophe (shown, never evaluated)."""
    return "'" + text if text.startswith(FORMULA_TRIGGERS) else text


#: significant digits a float keeps where no precision is known: enough for any published figure, and the
#: binary noise of a computation (10.200000000000003) never shows
SIGNIFICANT_DIGITS = 12
#: more digits than any value needs: Decimal arithmetic here never rounds by accident
_DECIMAL_CONTEXT = Context(prec=60, rounding=ROUND_HALF_UP)


def rounded(value: float | Decimal, decimals: int | None = None) -> Decimal | None:
    """``value`` as the publisher writes it: rounded half away from zero to ``decimals`` (e.g. the catalogue's
    ``dim_indicateur.decimales``), or without a known precision to its shortest form at 12 significant digits
    (a whole number below 10^15 keeps every digit); None for NULL, NaN and infinities. The value is first read at 12 significant digits, so that binary noise
    never decides a rounding (2.4499999999999997 is 2.45, which rounds to 2.5)."""
    if value is None:
        return None
    if isinstance(value, float):
        if math.isnan(value) or math.isinf(value):
            return None
        if value.is_integer() and abs(value) < 1e15:  # a count or an amount: every digit, exactly
            d = Decimal(int(value))
        else:
            d = Decimal(f"{value:.{SIGNIFICANT_DIGITS}g}")
    elif isinstance(value, Decimal):
        if not value.is_finite():
            return None
        d = value
    else:
        d = Decimal(value)
    if decimals is not None:
        d = d.quantize(Decimal(1).scaleb(-int(decimals)), context=_DECIMAL_CONTEXT)
    if d.is_zero():
        return Decimal(0)  # never "-0"
    return d


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
UNIT_LABELS = {
    "pourcentage": "%",
    "points": "points",
    "euros": "€",
    "habitants": "habitants",
    "nombre": "nombre",
    "indice": "indice",
    "rapport": "rapport",
    "metres": "m",
    "m2_par_habitant": "m² par habitant",
    "tonnes": "tonnes",
    "pour_1000_habitants": "pour 1 000 habitants",
    "pour_1000_menages": "pour 1 000 ménages",
    "pour_1000_logements": "pour 1 000 logements",
    "pour_100_logements": "pour 100 logements",
}
#: decimals shown for a unit when the catalogue gives none (display only: the values are not rounded to these)
DISPLAY_DECIMALS = {
    "pourcentage": 1, "points": 1, "euros": 0, "habitants": 0, "nombre": 0, "indice": 2, "rapport": 2,
    "metres": 0, "m2_par_habitant": 1, "tonnes": 1, "pour_1000_habitants": 1, "pour_1000_menages": 1,
    "pour_1000_logements": 1, "pour_100_logements": 1,
}
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


# -- writers ----------------------------------------------------------------------------------------------


def write_csv(con, sql: str, path: Path, *, table: str | None = None, catalogue: Catalogue | None = None) -> int:
    """Write a query's result as a French CSV (UTF-8 BOM, ``;``, decimal comma, CRLF); returns the row count.

    With ``catalogue``, the values of an indicator are rounded to the decimals its publisher uses
    (:meth:`Catalogue.columns` for ``table``); every other float to 12 significant digits (:func:`csv_cell`)."""
    n = 0
    with open(path, "w", encoding="utf-8-sig", newline="") as fh:
        writer = csv.writer(fh, delimiter=";", quoting=csv.QUOTE_MINIMAL, lineterminator="\r\n")
        cur = con.execute(sql)
        cols = (catalogue or Catalogue({})).columns(table or "", cur.description)
        writer.writerow([c.name for c in cols])
        rounding = [(i, c) for i, c in enumerate(cols) if c.decimals is not None or c.decimals_of_row is not None]
        while rows := cur.fetchmany(10_000):
            for row in rows:
                cells = [csv_cell(v) for v in row]
                for i, c in rounding:
                    cells[i] = csv_cell(row[i], c.decimals_for(row))
                writer.writerow(cells)
            n += len(rows)
    return n


def _xlsx_value(value: Any, decimals: int | None = None) -> Any:
    from openpyxl.cell.cell import ILLEGAL_CHARACTERS_RE

    if isinstance(value, bool):
        return value
    if isinstance(value, float | Decimal):
        return xlsx_number(value, decimals)
    if isinstance(value, str):
        return neutralise(ILLEGAL_CHARACTERS_RE.sub("", value))
    return value


def defi_sheet_name(numero: int | None, libelle: str | None, defi: str) -> str:
    """A défi's sheet: « 1 Transition écologique », at most 31 characters (Excel's limit): the contract's
    « Le défi de la … » dropped, then small words, then long words abbreviated, then cut."""
    text = re.sub(r"^(le\s+)?défi\s+(de\s+la|de\s+l'|de\s+l’|du|des|de)\s*", "", (libelle or "").strip(),
                  flags=re.IGNORECASE) or defi.replace("_", " ")
    text = re.sub(r"[\[\]:*?/\\]", " ", text)
    text = text[:1].upper() + text[1:]
    prefix = f"{numero} " if numero is not None else ""
    words = text.split()
    if len(prefix + " ".join(words)) > 31:
        words = [w for w in words if w.lower() not in ("la", "le", "les", "de", "des", "du", "d'", "l'")]
    for i, w in enumerate(words):
        if len(prefix + " ".join(words)) <= 31:
            break
        if len(w) > 8:
            words[i] = w[:4].rstrip("-") + "."
    name = prefix + " ".join(words)
    return name if len(name) <= 31 else name[:30] + "…"


class _Workbook:
    """An openpyxl workbook, every text cell neutralised. Not write-only: that mode records no sheet
    dimensions, and some readers then report empty sheets.

    A data sheet (:meth:`sheet_from_query`) has the column ids in row 1 (hidden: ``pandas.read_excel(f,
    sheet, header=0, skiprows=[1])`` reads them), French labels with their unit in row 2 (filters, frozen
    with the first columns), the data from row 3; numbers rounded like the CSV and shown with their unit's
    format. Every column is listed in :attr:`columns` for the ``Dictionnaire`` sheet."""

    ID_ROW, LABEL_ROW, FIRST_ROW = 1, 2, 3

    def __init__(self) -> None:
        from openpyxl import Workbook
        from openpyxl.styles import Alignment, Font, PatternFill

        self.wb = Workbook()
        self.wb.remove(self.wb.active)
        self.bold = Font(bold=True)
        self.header_fill = PatternFill("solid", fgColor="DDEBF7")
        self.wrap = Alignment(wrap_text=True, vertical="top")
        #: (sheet, column) for the Dictionnaire
        self.columns: list[tuple[str, Column]] = []

    def _sheet(self, title: str, widths: Iterable[int]):
        from openpyxl.utils import get_column_letter

        ws = self.wb.create_sheet(title=title[:31])
        for i, w in enumerate(widths, start=1):
            ws.column_dimensions[get_column_letter(i)].width = w
        return ws

    def sheet_from_query(self, title: str, con, sql: str, *, table: str, catalogue: Catalogue,
                         freeze: str | None = "B3") -> int:
        from openpyxl.utils import get_column_letter

        cur = con.execute(sql)
        every = catalogue.columns(table, cur.description)
        keep = [i for i, c in enumerate(every) if not c.blob]  # a geometry is no spreadsheet cell
        cols = [every[i] for i in keep]
        ws = self._sheet(title, ())
        ws.append([c.name for c in cols])
        ws.append([c.label for c in cols])
        ws.row_dimensions[self.ID_ROW].hidden = True
        for cell in ws[self.LABEL_ROW]:
            cell.font = self.bold
            cell.fill = self.header_fill
            cell.alignment = self.wrap
        widths = [max(10, min(34, len(c.label) // 2 + 3, max(len(w) for w in c.label.split()) + 2))
                  if c.label else 10 for c in cols]
        texts = [max(8, len(c.label) // 3) for c in cols]
        numbered = [(j, c) for j, c in enumerate(cols) if c.is_number]
        n = 0
        while rows := cur.fetchmany(10_000):
            for row in rows:
                values = [_xlsx_value(row[i], every[i].decimals_for(row) if every[i].is_float else None)
                          for i in keep]
                ws.append(values)
                r = ws.max_row
                for j, c in numbered:
                    fmt = c.format_for(row)
                    if fmt and values[j] is not None:
                        ws.cell(row=r, column=j + 1).number_format = fmt
                if n < 500:
                    for j, v in enumerate(values):
                        if isinstance(v, str):
                            texts[j] = max(texts[j], min(len(v), 60))
                n += 1
        for j, c in enumerate(cols):
            width = max(widths[j], min(texts[j] + 2, 48)) if not c.is_number else widths[j]
            ws.column_dimensions[get_column_letter(j + 1)].width = width
        lines = max((math.ceil(len(c.label) / max(1, w - 1)) for c, w in zip(cols, widths, strict=True)),
                    default=1)
        ws.row_dimensions[self.LABEL_ROW].height = 15 * min(max(lines, 1), 6)
        if freeze:
            ws.freeze_panes = freeze
        last = get_column_letter(max(1, len(cols)))
        ws.auto_filter.ref = f"A{self.LABEL_ROW}:{last}{max(ws.max_row, self.LABEL_ROW)}"
        self.columns += [(ws.title, c) for c in cols]
        return n

    def sheet_from_rows(self, title: str, rows: Iterable[Iterable[Any]], *, widths: Iterable[int] = (),
                        header_rows: Iterable[int] = ()) -> Any:
        ws = self._sheet(title, widths)
        header_rows = set(header_rows)
        for row in rows:
            row = list(row)
            heading = bool(row) and isinstance(row[0], str) and row[0].startswith("#")
            if heading:
                row[0] = row[0].lstrip("# ")
            ws.append([_xlsx_value(v) for v in row])
            if heading or ws.max_row in header_rows:
                for cell in ws[ws.max_row]:
                    cell.font = self.bold
                    if ws.max_row in header_rows:
                        cell.fill = self.header_fill
                        cell.alignment = self.wrap
        return ws

    def save(self, path: Path) -> None:
        self.wb.save(path)


def _tool_versions() -> dict[str, str | None]:
    out: dict[str, str | None] = {"python": platform.python_version()}
    for name in _TOOLS:
        try:
            out[name] = metadata.version(name)
        except metadata.PackageNotFoundError:
            out[name] = None
    return out


# -- signatures -------------------------------------------------------------------------------------------


@dataclass(frozen=True)
class SigningKey:
    """The private key editions are signed with (``OBSERVATOIRE_SIGNING_KEY``)."""

    path: Path
    key: Any  # Ed25519PrivateKey
    fingerprint: str


@dataclass(frozen=True)
class PublicKey:
    """A public key an edition's signature is checked against (``--public-key``)."""

    path: Path | None
    key: Any  # Ed25519PublicKey
    fingerprint: str


def key_fingerprint(public_key) -> str:
    """A key's fingerprint: the first 16 hex digits of the sha256 of the raw 32-byte Ed25519 public key (with
    OpenSSL: ``openssl pkey -pubin -in snapshot.pub -outform DER | tail -c 32 | sha256sum | cut -c1-16``)."""
    from cryptography.hazmat.primitives.serialization import Encoding, PublicFormat

    return hashlib.sha256(public_key.public_bytes(Encoding.Raw, PublicFormat.Raw)).hexdigest()[:16]


def _write_new(path: Path, data: bytes, mode: int) -> None:
    """Create ``path`` with ``mode``; never replaces a file (O_EXCL: refused even if it appears meanwhile)."""
    fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, mode)
    try:
        os.fchmod(fd, mode)  # whatever the umask
        os.write(fd, data)
        os.fsync(fd)
    finally:
        os.close(fd)


def keygen(directory: Path | str) -> tuple[Path, Path, str]:
    """Write a new Ed25519 key pair: ``directory/snapshot.key`` (private, PEM PKCS8, mode 600) and
    ``directory/snapshot.pub`` (public, PEM SubjectPublicKeyInfo); returns both paths and the fingerprint.

    :class:`KeyExists` if either file exists: a key is never overwritten (the editions signed with it could no
    longer be checked against a key one still has)."""
    from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey
    from cryptography.hazmat.primitives.serialization import (
        Encoding,
        NoEncryption,
        PrivateFormat,
        PublicFormat,
    )

    directory = Path(directory).expanduser().absolute()
    if directory.exists() and not directory.is_dir():
        raise SnapshotError(f"{directory} is a file: expected a directory for the key pair")
    private, public = directory / PRIVATE_KEY_FILE, directory / PUBLIC_KEY_FILE
    existing = [p for p in (private, public) if p.exists() or p.is_symlink()]
    if existing:
        raise KeyExists(
            f"{' and '.join(map(str, existing))} already {'exist' if len(existing) > 1 else 'exists'}: "
            "a key is never overwritten (the editions signed "
            "with it could no longer be checked, and evaluators hold its public key). Nothing was written. To "
            "rotate, generate the new pair in another directory and keep the old public key (docs/runbook.md, "
            "« Snapshot signatures: keys and rotation »)")
    directory.mkdir(mode=0o700, parents=True, exist_ok=True)
    key = Ed25519PrivateKey.generate()
    _write_new(private, key.private_bytes(Encoding.PEM, PrivateFormat.PKCS8, NoEncryption()), 0o600)
    try:
        _write_new(public, key.public_key().public_bytes(Encoding.PEM, PublicFormat.SubjectPublicKeyInfo), 0o644)
    except BaseException:
        private.unlink()
        raise
    return private, public, key_fingerprint(key.public_key())


def load_signing_key(value: str | os.PathLike, *, name: str = SIGNING_KEY_ENV) -> SigningKey:
    """The Ed25519 private key in file ``value`` (named by ``name`` in messages), checked: it exists, is readable
    by its owner only (like ssh, a key group or others can read is refused) and is an unencrypted PEM Ed25519
    private key. :class:`SigningKeyError` otherwise."""
    from cryptography.exceptions import UnsupportedAlgorithm
    from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey
    from cryptography.hazmat.primitives.serialization import load_pem_private_key

    path = Path(value).expanduser()
    where = f"{name}={str(value)!r}"
    keygen_hint = f"generate a key pair with `observatoire snapshot keygen DIR` and set {name}=DIR/{PRIVATE_KEY_FILE}"
    if not path.exists():
        raise SigningKeyError(f"{where}: no such file; expected the private key that signs the editions "
                              f"({keygen_hint}). Nothing was written")
    if not path.is_file():
        raise SigningKeyError(f"{where}: not a file; expected the private key that signs the editions "
                              f"({keygen_hint}). Nothing was written")
    try:
        data = path.read_bytes()
    except OSError as err:
        raise SigningKeyError(f"{where}: cannot read it ({err.strerror}). Nothing was written") from None
    try:
        key = load_pem_private_key(data, password=None)
    except TypeError:
        raise SigningKeyError(
            f"{where}: the private key is protected by a passphrase; editions are signed unattended (the "
            "Airflow worker), so the key must be unencrypted and protected as a secret file (mode 600). "
            "Nothing was written") from None
    except (ValueError, UnsupportedAlgorithm):
        what = ("a public key (the variable names the private half, snapshot.key)" if b"PUBLIC KEY-----" in data
                else "not a PEM private key")
        raise SigningKeyError(f"{where}: {what}; {keygen_hint}. Nothing was written") from None
    if not isinstance(key, Ed25519PrivateKey):
        raise SigningKeyError(f"{where}: a {type(key).__name__.lstrip('_')} key, not an Ed25519 one; "
                              f"{keygen_hint}. Nothing was written")
    mode = path.stat().st_mode & 0o777
    if mode & 0o077:
        raise SigningKeyError(
            f"{where}: the private key is accessible to group or others (mode {mode:03o}): anyone who can read it "
            f"can sign editions in the observatory's name, so it is refused (like ssh does). Run "
            f"`chmod 600 {path}` (and consider whether someone could have copied it: then rotate the key, "
            "docs/runbook.md). Nothing was written")
    return SigningKey(path=path.absolute(), key=key, fingerprint=key_fingerprint(key.public_key()))


def signing_key_from_env(environ: Mapping[str, str] | None = None) -> SigningKey | None:
    """The key named by ``OBSERVATOIRE_SIGNING_KEY`` (checked: :class:`SigningKeyError`), or None when unset."""
    raw = ((os.environ if environ is None else environ).get(SIGNING_KEY_ENV) or "").strip()
    return load_signing_key(raw) if raw else None


def load_public_key(value: str | os.PathLike, *, name: str = "--public-key") -> PublicKey:
    """The Ed25519 public key in PEM file ``value``; :class:`SigningKeyError` naming ``name`` otherwise."""
    from cryptography.exceptions import UnsupportedAlgorithm
    from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PublicKey
    from cryptography.hazmat.primitives.serialization import load_pem_public_key

    path = Path(value).expanduser()
    where = f"{name} {str(value)!r}"
    if not path.is_file():
        raise SigningKeyError(f"{where}: no such file; expected the observatory's public key ({PUBLIC_KEY_FILE})")
    try:
        data = path.read_bytes()
        key = load_pem_public_key(data)
    except OSError as err:
        raise SigningKeyError(f"{where}: cannot read it ({err.strerror})") from None
    except (ValueError, UnsupportedAlgorithm):
        what = ("a private key: give the public half (snapshot.pub); the private key never leaves the machine "
                "that signs" if b"PRIVATE KEY-----" in data else "not a PEM public key")
        raise SigningKeyError(f"{where}: {what}") from None
    if not isinstance(key, Ed25519PublicKey):
        raise SigningKeyError(f"{where}: a {type(key).__name__.lstrip('_')} key, not an Ed25519 one")
    return PublicKey(path=path.absolute(), key=key, fingerprint=key_fingerprint(key))


def signature_info(manifest: dict) -> dict:
    """The manifest's ``signature`` block; editions made before signatures existed have none: unsigned."""
    info = manifest.get("signature") if isinstance(manifest, dict) else None
    if not isinstance(info, dict):
        return {"signed": False, "algorithm": None, "key_fingerprint": None, "file": None}
    return info


def _signature_block(signing: SigningKey | None) -> dict:
    if signing is None:
        return {"signed": False, "algorithm": None, "key_fingerprint": None, "file": None}
    return {"signed": True, "algorithm": SIGNATURE_ALGORITHM, "key_fingerprint": signing.fingerprint,
            "file": SIGNATURE}


def _read_signature(path: Path) -> bytes | None:
    """The raw 64-byte signature in a ``manifest.json.sig`` (base64), or None if it is not one."""
    try:
        raw = base64.b64decode(path.read_bytes().strip(), validate=True)
    except (binascii.Error, ValueError):
        return None
    return raw if len(raw) == 64 else None


def _inside(path: Path, directory: Path) -> bool:
    try:
        path.resolve().relative_to(directory.resolve())
    except ValueError:
        return False
    return True


# -- create -----------------------------------------------------------------------------------------------


def next_version(settings: Settings, edition: int, correction: str | None) -> tuple[str, str | None]:
    """The version to write and, for a correction, the version it corrects."""
    existing = [v for v in versions(settings) if parse_version(v)[0] == edition]
    if correction is None:
        if existing or (snapshots_dir(settings) / str(edition)).exists():
            raise SnapshotExists(
                f"edition {edition} already exists ({', '.join(existing) or snapshots_dir(settings) / str(edition)}); "
                f"a snapshot is never rewritten: to correct it, run `observatoire snapshot create --edition {edition} "
                "--correction \"motif\"`")
        return str(edition), None
    if not existing:
        raise SnapshotError(f"edition {edition} does not exist: there is nothing to correct (create it first, "
                            f"without --correction)")
    last = max(existing, key=parse_version)
    return f"{edition}.{parse_version(last)[1] + 1}", last


def create(settings: Settings, edition: int, correction: str | None = None, *, demo: bool | None = None,
           log: Callable[[str], None] = lambda msg: None, environ: Mapping[str, str] | None = None) -> Snapshot:
    """Freeze the published warehouse as ``edition`` (or a correction of it); returns the new snapshot.

    ``demo``: False (the CLI without ``--demo``, the annual DAG by default) refuses a demo publication, True (``--demo``)
    requires one, None (library callers) accepts either; :class:`SnapshotDemoRefused` otherwise. The edition of a
    demo publication is marked as such in every file that can say it, whatever ``demo`` is.

    Signed when ``OBSERVATOIRE_SIGNING_KEY`` (read from ``environ``, default the process environment) names a
    private key: checked first, :class:`SigningKeyError` before anything is written."""
    from observatoire.locking import writer_lock

    if not 2000 <= int(edition) <= 2100:
        raise SnapshotError(f"--edition {edition}: expected a year (e.g. 2025)")
    if correction is not None and not correction.strip():
        raise SnapshotError("--correction needs a reason (motif), e.g. --correction \"révision Filosofi 2021\"")
    signing = signing_key_from_env(environ)
    if signing is not None and _inside(signing.path, settings.data_dir):
        log(f"warning: the signing key {signing.path} lies inside the data directory {settings.data_dir}: keep it "
            "outside, where only the account that signs can read it (docs/runbook.md, « Snapshot signatures »)")
    if not settings.published_db.exists():
        raise SnapshotError(f"nothing published yet in {settings.data_dir}: run `observatoire run` first")
    root = snapshots_dir(settings)
    with writer_lock(settings.lock_path, f"snapshot create --edition {edition}"):
        if demo is not None:
            check_demo_acknowledged(settings, demo)
        version, corrects = next_version(settings, int(edition), correction)
        if corrects is not None and signing is None \
                and signature_info(open_snapshot(settings, corrects).manifest).get("signed"):
            log(f"warning: {corrects} is signed but {SIGNING_KEY_ENV} is not set: the correction {version} will be "
                "unsigned")
        root.mkdir(parents=True, exist_ok=True)
        for stale in root.glob(".tmp-*"):  # a snapshot that died half-way (we hold the lock: nobody else writes)
            shutil.rmtree(stale, ignore_errors=True)
        tmp = root / f".tmp-{version}-{os.getpid()}"
        tmp.mkdir()
        try:
            manifest = _write_snapshot(settings, tmp, int(edition), version, correction, corrects, log,
                                       signing)
            for path in tmp.rglob("*"):
                if path.is_file():
                    path.chmod(0o444)
            os.rename(tmp, root / version)  # atomic; fails if the version appeared meanwhile
        except BaseException:
            shutil.rmtree(tmp, ignore_errors=True)
            raise
    log(f"snapshot {version} written to {root / version}, "
        + (f"signed with key {signing.fingerprint}" if signing else f"unsigned ({SIGNING_KEY_ENV} not set)"))
    return Snapshot(version=version, path=root / version, manifest=manifest)


def demo_publication(publication: dict, landings: list[dict]) -> str | None:
    """Why a publication holds demo data (its mode, or source files landed from the project's recordings), or None
    for live data. The recordings are checked too: a directory from before demo and live were kept apart may hold
    recordings under a publication made in live mode."""
    if publication.get("mode") == "demo" or publication.get("donnees_synthetiques"):
        return f"its meta.publication says mode demo (run {publication.get('run_id')})"
    recordings = [f"{r['source_id']}/{r['millesime']}" for r in landings if r.get("url_origin") == "recording"]
    if recordings:
        return (f"{len(recordings)} of the source files it was built from are the project's recordings "
                f"(url_origin 'recording': {', '.join(recordings[:5])}{' …' if len(recordings) > 5 else ''}), "
                f"although it was published in mode {publication.get('mode')}")
    return None


def published_demo_reason(settings: Settings) -> str | None:
    """:func:`demo_publication` of the published warehouse (read-only)."""
    import duckdb

    con = duckdb.connect()
    try:
        con.execute(f"ATTACH {_lit(str(settings.published_db))} AS pub (READ_ONLY)")
        has_publication = con.execute(
            "SELECT count(*) FROM duckdb_tables() WHERE database_name = 'pub' AND schema_name = 'meta' "
            "AND table_name = 'publication'").fetchone()[0]
        publication = _one_dict(con, "SELECT * FROM pub.meta.publication") if has_publication else {}
        return demo_publication(publication, _landings_in_use(con))
    finally:
        con.close()


def check_demo_acknowledged(settings: Settings, demo: bool) -> None:
    """Refuse an edition of demo data without ``--demo``, and ``--demo`` on live data (:class:`SnapshotDemoRefused`)."""
    reason = published_demo_reason(settings)
    if reason and not demo:
        raise SnapshotDemoRefused(
            f"the published warehouse {settings.published_db} holds demo data: {reason}. These are the project's "
            "recordings (real formats, synthetic values): an edition made from them would present invented figures "
            "as the observatory's. Nothing was written. To freeze it anyway as a demonstration edition, marked "
            f"« {DEMO_NOTICE} » in its README.md, manifest.json, workbook notes and DuckDB file, add --demo "
            "(DAG observatoire_snapshot_annuel: param demo). For a real edition, publish live data in a live data "
            "directory (OBSERVATOIRE_MODE=live, OBSERVATOIRE_DATA_DIR=./data) and create the edition there")
    if demo and not reason:
        raise SnapshotDemoRefused(
            f"--demo: the published warehouse {settings.published_db} holds live data (the publishers' files), "
            "not demo data: its edition is not a demonstration and must not be marked as one. Run it without --demo")


def _check_same_territory(settings: Settings, edition: int, publication: dict) -> None:
    """A correction of an edition describes the territory the edition describes: refuse to freeze a publication
    made for another perimeter (it would be another observatory under the edition's name)."""
    from observatoire.config import DEFAULT_PERIMETRE

    published = publication.get("perimetre") or DEFAULT_PERIMETRE
    # the edition's perimeter is the one its first version (the edition itself) was made for
    first = min((v for v in versions(settings) if parse_version(v)[0] == edition), key=parse_version)
    expected = (open_snapshot(settings, first).manifest.get("publication") or {}).get("perimetre") \
        or DEFAULT_PERIMETRE
    if published != expected:
        raise SnapshotError(
            f"edition {edition} describes the perimeter {expected} (version {first}), but the published warehouse "
            f"(run {publication.get('run_id')}) was built for the perimeter {published}: a correction of edition "
            f"{edition} must stay on the same territory. Publish {expected} again first "
            f"(OBSERVATOIRE_PERIMETRE={expected} observatoire run), or keep each territory in its own data "
            "directory")


def _write_snapshot(settings: Settings, out: Path, edition: int, version: str, correction: str | None,
                    corrects: str | None, log: Callable[[str], None], signing: SigningKey | None = None) -> dict:
    import duckdb

    from observatoire.warehouse import STORAGE_VERSION

    created_at = datetime.now(UTC).isoformat(timespec="seconds")
    db_name = f"observatoire_{version}.duckdb"
    (out / "parquet").mkdir()
    (out / "csv").mkdir()
    con = duckdb.connect()
    try:
        con.execute(f"ATTACH {_lit(str(settings.published_db))} AS pub (READ_ONLY)")
        con.execute(f"ATTACH {_lit(str(out / db_name))} AS snap (STORAGE_VERSION {_lit(STORAGE_VERSION)})")
        tables = [r[0] for r in con.execute(
            "SELECT table_name FROM duckdb_tables() WHERE database_name = 'pub' AND schema_name = 'main' "
            "ORDER BY table_name").fetchall()]
        if "fct_indicateur_qpv" not in tables:
            raise SnapshotError(f"{settings.published_db} holds no fct_indicateur_qpv: not an observatoire warehouse")
        publication = _one_dict(con, "SELECT * FROM pub.meta.publication")
        if corrects is not None:
            _check_same_territory(settings, edition, publication)
        # the provenance of this publication only: the data directory's history also holds other runs,
        # quarantined, superseded and purged files, and the validations that judged them
        landings = _landings_in_use(con)
        demo_reason = demo_publication(publication, landings)
        log(f"freezing publication {publication.get('run_id')} ({len(tables)} tables) as {version}"
            + (f" — {DEMO_NOTICE}: {demo_reason}" if demo_reason else ""))
        for t in tables:
            con.execute(f"CREATE TABLE snap.main.{_q(t)} AS SELECT * FROM pub.main.{_q(t)} ORDER BY ALL")
            # the French descriptions (dbt persist_docs), which CREATE TABLE … AS does not keep
            copy_comments(con, ("pub", "main", t), ("snap", "main", t))
        con.execute(f"CREATE TABLE snap.main.{EVALUATION_TABLE} AS {_evaluation_sql('snap.main')}")
        _comment_evaluation(con, "snap.main")
        tables.append(EVALUATION_TABLE)
        tables.sort()
        # labels, units and the publisher's decimals of every indicator: the CSV and the workbook round with them
        catalogue = Catalogue.from_db(con, "snap.main", publication.get("perimetre"))
        validations = _validations_in_scope(con, publication.get("run_id"), landings)
        _copy_meta(con, publication.get("run_id"), landings, validations)
        sources = _sources(landings)
        table_info = {}
        for t in tables:
            cols = [r[0] for r in con.execute(
                "SELECT column_name FROM duckdb_columns() WHERE database_name = 'snap' AND schema_name = 'main' "
                "AND table_name = ? ORDER BY column_index", [t]).fetchall()]
            rows = con.execute(f"SELECT count(*) FROM snap.main.{_q(t)}").fetchone()[0]
            table_info[t] = {"rows": rows, "columns": cols}
            select = f"SELECT * FROM snap.main.{_q(t)} ORDER BY ALL"
            con.execute(f"COPY ({select}) TO {_lit(str(out / 'parquet' / f'{t}.parquet'))} "
                        "(FORMAT parquet, COMPRESSION zstd)")
            write_csv(con, select, out / "csv" / f"{t}.csv", table=t, catalogue=catalogue)
        log("parquet and csv written")
        changes = _changes(settings, corrects, out) if corrects else None
        doc: dict[str, Any] = {
            "edition": edition,
            "version": version,
            "created_at": created_at,
            "correction": None if corrects is None else {
                "motif": correction.strip(), "corrige": corrects, "changements": changes},
            "run_id": publication.get("run_id"),
            "donnees_demonstration": demo_reason is not None,
            "avertissement": _demo_warning() if demo_reason else None,
            "publication": {k: publication.get(k) for k in (
                "run_id", "mode", "donnees_synthetiques", "perimetre", "published_at", "git_commit", "fingerprint")}
            | ({"donnees_synthetiques": True} if demo_reason else {}),
            "validations": validations,
            "validations_reussies": all(bool(v["success"]) for v in validations) if validations else None,
            "sources": sources,
            "fichiers_partenaires": _partner_files(con),
            "tools": _tool_versions(),
            "git_commit": publication.get("git_commit"),
            # written before signing: the signature covers the key's fingerprint too
            "signature": _signature_block(signing),
            "tables": table_info,
        }
        con.execute("CREATE TABLE snap.meta.snapshot AS SELECT ? AS edition, ? AS version, ? AS created_at, "
                    "? AS correction, ? AS corrige, ? AS donnees_demonstration, ? AS avertissement",
                    [edition, version, created_at, correction, corrects, doc["donnees_demonstration"],
                     doc["avertissement"]])
        con.execute("DETACH snap")
        con.execute(f"ATTACH {_lit(str(out / db_name))} AS snap (READ_ONLY)")
        _write_workbook(con, "snap.main", set(tables), catalogue, doc, out / f"observatoire_{version}.xlsx")
        log("xlsx written")
    finally:
        con.close()
    # the static site of the publication, frozen with the edition (listed with its sha256 like every file)
    from observatoire import site as site_module
    from observatoire.site import build_site

    try:
        # its messages name the final folder, not the temporary one renamed into place at the end
        site = build_site(settings.published_db, out / SITE_DIR,
                          log=lambda msg: log(str(msg).replace(str(out), str(out.parent / version))))
    except getattr(site_module, "SiteError", SnapshotError) as err:  # a site that cannot be built: no edition
        raise SnapshotError(f"snapshot {version} not written: the static site could not be built from "
                            f"{settings.published_db}: {err}") from err
    doc["site"] = _site_summary(out / SITE_DIR, site)
    log(f"site written ({doc['site']['fichiers']} files)")
    (out / README).write_text(_readme(doc, db_name), encoding="utf-8")
    doc["files"] = [{"path": p.relative_to(out).as_posix(), "sha256": sha256_file(p), "bytes": p.stat().st_size}
                    for p in sorted(out.rglob("*")) if p.is_file()]
    manifest = (json.dumps(doc, ensure_ascii=False, indent=2, default=str) + "\n").encode("utf-8")
    (out / MANIFEST).write_bytes(manifest)
    sums = [(f["sha256"], f["path"]) for f in doc["files"]] + [(hashlib.sha256(manifest).hexdigest(), MANIFEST)]
    if signing is not None:  # the signature of manifest.json's exact bytes, which list every file's sha256
        (out / SIGNATURE).write_bytes(base64.b64encode(signing.key.sign(manifest)) + b"\n")
        sums.append((sha256_file(out / SIGNATURE), SIGNATURE))
    (out / SUMS).write_text("".join(f"{h}  {p}\n" for h, p in sorted(sums, key=lambda x: x[1])), encoding="utf-8")
    return doc


def _dicts(con, sql: str, params: list | None = None) -> list[dict]:
    cur = con.execute(sql, params or [])
    names = [d[0] for d in cur.description]
    return [dict(zip(names, row, strict=True)) for row in cur.fetchall()]


def _one_dict(con, sql: str) -> dict:
    rows = _dicts(con, sql)
    return rows[0] if rows else {}


def _meta_columns(con, table: str) -> set[str]:
    return {r[0] for r in con.execute(
        "SELECT column_name FROM duckdb_columns() WHERE database_name = 'pub' AND schema_name = 'meta' "
        "AND table_name = ?", [table]).fetchall()}


def _landings_in_use(con) -> list[dict]:
    """The landed files the publication was built from: for each source and millésime, the accepted file seen
    most recently when it was published (what ``History.current_landings`` gave the run that loaded the
    warehouse; ``meta.manifest`` is the landing manifest as it stood at publication, in its row order).
    Quarantined, superseded and purged files are not among them."""
    if not {"source_id", "millesime", "sha256", "status", "last_seen_at"} <= _meta_columns(con, "manifest"):
        return []
    return _dicts(con, """
        SELECT * EXCLUDE (_rn, _row) FROM (
            SELECT *, row_number() OVER (PARTITION BY source_id, millesime
                                         ORDER BY last_seen_at DESC, _row DESC) AS _rn
            FROM (SELECT *, rowid AS _row FROM pub.meta.manifest) WHERE status = 'accepted')
        WHERE _rn = 1 ORDER BY source_id, millesime""")


def _validations_in_scope(con, run_id: str | None, landings: list[dict]) -> list[dict]:
    """The validations the publication rests on: every suite of the run that published it (its raw gate for
    the files it landed, its mart gate) and, for each file in use, the raw gate that accepted it, in whichever
    run that was (a file accepted earlier and unchanged since is not validated again). One entry per suite and
    run, each with its ``run_id`` and, for a raw gate, the sha256 of the file it judged."""
    if not {"run_id", "suite", "target", "success"} <= _meta_columns(con, "validations"):
        return []
    rows = _dicts(con, "SELECT *, rowid AS _row FROM pub.meta.validations ORDER BY rowid")
    for r in rows:
        try:
            summary = json.loads(r.get("summary") or "{}")
        except ValueError:
            summary = {}
        r["sha256"] = summary.get("sha256") if isinstance(summary, dict) else None
    kept = {(r["run_id"], r["suite"]): r for r in rows if run_id is not None and r["run_id"] == run_id}
    for landing in landings:
        suite = f"raw_{landing['source_id']}_{landing['millesime']}"
        try:
            accepted_by = json.loads(landing.get("validation") or "{}")
        except ValueError:
            accepted_by = {}
        accepted_by = accepted_by if isinstance(accepted_by, dict) else {}
        judged = [r for r in rows if r["suite"] == suite and r["sha256"] in (landing["sha256"], None)]
        # the validation the manifest row points at (its details file is per run and suite), else the latest
        # successful one of this very file
        found = ([r for r in judged if accepted_by.get("details_path")
                  and r.get("details_path") == accepted_by["details_path"]]
                 or [r for r in judged if r["sha256"] == landing["sha256"] and r["success"]])
        if found:
            r = max(found, key=lambda r: (str(r.get("created_at") or ""), r["_row"]))
            kept[(r["run_id"], r["suite"])] = {**r, "sha256": landing["sha256"]}
        else:  # no record of the gate's run left: what the landing manifest says of its acceptance
            kept[(None, suite)] = {"run_id": None, "suite": suite, "target": f"raw:{landing['source_id']}",
                                   "success": accepted_by.get("success"), "evaluated": accepted_by.get("evaluated"),
                                   "failed": accepted_by.get("failed"), "errors": accepted_by.get("errors"),
                                   "sha256": landing["sha256"]}
    keys = ("suite", "target", "success", "evaluated", "failed", "errors", "run_id", "sha256")
    return sorted(({k: r.get(k) for k in keys} for r in kept.values()),
                  key=lambda v: (v["suite"], v["target"] or "", v["run_id"] or ""))


def _copy_meta(con, run_id: str | None, landings: list[dict], validations: list[dict]) -> None:
    """The ``meta`` schema of the snapshot's DuckDB file: the publication, and the same scope as manifest.json
    (the files in use, the validations in scope, the runs that ran them, the partner files in force)."""
    con.execute("CREATE SCHEMA snap.meta")
    keys = {"_in_use": ("source_id VARCHAR, millesime BIGINT, sha256 VARCHAR",
                        [[r["source_id"], r["millesime"], r["sha256"]] for r in landings]),
            "_validated": ("run_id VARCHAR, suite VARCHAR",
                           [[v["run_id"], v["suite"]] for v in validations if v["run_id"] is not None])}
    for name, (columns, rows) in keys.items():
        con.execute(f"CREATE TEMP TABLE {name} ({columns})")
        if rows:
            con.executemany(f"INSERT INTO {name} VALUES ({', '.join('?' * len(rows[0]))})", rows)
    con.execute("CREATE TEMP TABLE _runs AS SELECT run_id FROM _validated UNION SELECT ?", [run_id])
    scope = {
        "publication": ("true", set()),
        "manifest": ("EXISTS (SELECT 1 FROM _in_use AS i WHERE i.source_id = t.source_id "
                     "AND i.millesime = t.millesime AND i.sha256 = t.sha256)", {"source_id", "millesime", "sha256"}),
        "validations": ("EXISTS (SELECT 1 FROM _validated AS v WHERE v.run_id = t.run_id AND v.suite = t.suite)",
                        {"run_id", "suite"}),
        "runs": ("t.run_id IN (SELECT run_id FROM _runs)", {"run_id"}),
        "partenaires_fichiers": ("t.status = 'current'", {"status"}),
    }
    for table, (keep, needs) in scope.items():
        cols = _meta_columns(con, table)
        if not cols:
            continue
        if not needs <= cols:  # an empty table (written without columns): nothing to filter
            keep = "false"
        con.execute(f"CREATE TABLE snap.meta.{_q(table)} AS SELECT t.* FROM pub.meta.{_q(table)} AS t "
                    f"WHERE {keep} ORDER BY t.rowid")
    for tmp in ("_in_use", "_validated", "_runs"):
        con.execute(f"DROP TABLE {tmp}")


def _sources(landings: list[dict]) -> list[dict]:
    """Every input file the published warehouse was built from, with its URL, licence and sha256."""
    from extract.registry import load_registry

    registry = load_registry()
    out = []
    for row in landings:
        src = registry.get(row["source_id"])
        out.append({
            "source_id": row["source_id"],
            "millesime": row["millesime"],
            "editeur": getattr(src, "publisher", None),
            "licence": getattr(src, "licence", None),
            "url": row["url"],
            "sha256": row["sha256"],
            "bytes": row["bytes"],
            "fetched_at": row["fetched_at"],
        })
    return out


def _partner_files(con) -> list[dict]:
    """The partner files in force when the warehouse was published (indicator, millésime, partner, sha256)."""
    cols = {r[0] for r in con.execute(
        "SELECT column_name FROM duckdb_columns() WHERE database_name = 'pub' AND schema_name = 'meta' "
        "AND table_name = 'partenaires_fichiers'").fetchall()}
    if not {"sha256", "indicateur", "millesime", "partenaire", "status"} <= cols:
        return []
    return _dicts(con, "SELECT indicateur, millesime, partenaire, nom_fichier, sha256, bytes, received_at, rows "
                       "FROM pub.meta.partenaires_fichiers WHERE status = 'current' ORDER BY indicateur, millesime")


def _evaluation_sql(schema: str) -> str:
    """Each indicator per QPV at its baseline millésime and at its latest, both statuts, and the change
    (only between two published values with no break in the series)."""
    return f"""
    with f as (select * from {schema}.fct_indicateur_qpv),
    bornes as (
        select code_qpv, indicateur, min(millesime_reference) as millesime_reference, max(millesime) as millesime_dernier
        from f group by all
    )
    select
        b.code_qpv,
        q.libelle_qpv,
        q.code_commune,
        i.defi,
        b.indicateur,
        i.libelle as libelle_indicateur,
        i.unite,
        i.sens,
        b.millesime_reference,
        r.valeur as valeur_reference,
        r.statut as statut_reference,
        b.millesime_dernier,
        d.valeur as valeur_dernier,
        d.statut as statut_dernier,
        case when b.millesime_dernier > b.millesime_reference
             and r.statut = 'disponible' and d.statut = 'disponible' then d.evolution_reference end as evolution,
        case when b.millesime_dernier > b.millesime_reference
             and r.statut = 'disponible' and d.statut = 'disponible' and r.valeur <> 0
             then round(100 * d.evolution_reference / abs(r.valeur), 2) end as evolution_pct,
        case
            when b.millesime_dernier = b.millesime_reference then 'un_seul_millesime'
            when r.statut <> 'disponible' or d.statut <> 'disponible' then 'non_comparable'
            when d.evolution_reference is null then 'rupture_de_serie'
            else 'comparable'
        end as comparabilite,
        d.rupture_serie,
        d.note_rupture,
        coalesce(d.source, r.source) as source
    from bornes as b
    join f as r on r.code_qpv = b.code_qpv and r.indicateur = b.indicateur and r.millesime = b.millesime_reference
    join f as d on d.code_qpv = b.code_qpv and d.indicateur = b.indicateur and d.millesime = b.millesime_dernier
    left join {schema}.dim_qpv as q on q.code_qpv = b.code_qpv
    left join {schema}.dim_indicateur as i on i.indicateur = b.indicateur
    order by b.code_qpv, i.defi, b.indicateur
    """


#: the French descriptions of the evaluation table and its columns (COMMENT ON in the edition's DuckDB file)
EVALUATION_COMMENTS = {
    "": "Table de l'évaluation du contrat, propre à l'édition : pour chaque QPV et chaque indicateur, la valeur au "
        "millésime de référence (le premier sur la géographie 2024) et au dernier millésime, avec leurs statuts, et "
        "l'évolution entre les deux seulement quand les deux valeurs sont disponibles et comparables "
        "(colonne comparabilite). Calculée à partir de fct_indicateur_qpv lors de la création de l'édition.",
    "code_qpv": "Code du quartier prioritaire (QPV 2024).",
    "libelle_qpv": "Nom du quartier prioritaire.",
    "code_commune": "Code Insee de la commune principale du quartier.",
    "defi": "Défi du contrat auquel appartient le baromètre (vide pour un indicateur du socle).",
    "indicateur": "Identifiant de l'indicateur (dim_indicateur).",
    "libelle_indicateur": "Libellé de l'indicateur.",
    "unite": "Unité des valeurs (dim_indicateur.unite).",
    "sens": "Sens favorable de l'indicateur : hausse_favorable, baisse_favorable ou neutre.",
    "millesime_reference": "Millésime de référence : le premier millésime de l'indicateur sur la géographie 2024.",
    "valeur_reference": "Valeur au millésime de référence (vide si elle n'était pas disponible : voir "
                        "statut_reference).",
    "statut_reference": "Statut de la valeur au millésime de référence (disponible, secret_statistique, "
                        "non_publie, attendu_partenaire, non_calculable) : dit pourquoi valeur_reference est vide.",
    "millesime_dernier": "Dernier millésime de l'indicateur pour ce quartier.",
    "valeur_dernier": "Valeur au dernier millésime (vide si elle n'est pas disponible : voir statut_dernier).",
    "statut_dernier": "Statut de la valeur au dernier millésime : dit pourquoi valeur_dernier est vide.",
    "evolution": "Évolution entre le millésime de référence et le dernier (valeur_dernier moins "
                 "valeur_reference, en points pour un taux) ; vide si elle n'est pas comparable (comparabilite).",
    "evolution_pct": "Évolution relative, en % de la valeur de référence (vide si la référence est nulle ou "
                     "l'évolution non comparable).",
    "comparabilite": "Comparabilité des deux valeurs : comparable, un_seul_millesime, non_comparable (une valeur "
                     "manque) ou rupture_de_serie ; dit pourquoi evolution est vide.",
    "rupture_serie": "Vrai si la série a une rupture entre le millésime de référence et le dernier.",
    "note_rupture": "Nature de la rupture de série, en français.",
    "source": "Source de la valeur (identifiant de la source ou du partenaire).",
}


def _comment_evaluation(con, schema: str) -> None:
    """COMMENT ON the evaluation table and each of its columns (French), like the dbt models' descriptions."""
    table = f"{schema}.{EVALUATION_TABLE}"
    columns = set(_table_columns(con, schema, EVALUATION_TABLE))
    for column, text in EVALUATION_COMMENTS.items():
        if not column:
            con.execute(f"COMMENT ON TABLE {table} IS {_lit(text)}")
        elif column in columns:
            con.execute(f"COMMENT ON COLUMN {table}.{_q(column)} IS {_lit(text)}")


#: the sheet of each QPV × indicator's latest value (``mart_derniere_valeur``)
LATEST_SHEET = "Dernières valeurs"
DICTIONARY_SHEET = "Dictionnaire"
LATEST_TABLE = "mart_derniere_valeur"
#: the edition's static site (``observatoire.site.build_site``)
SITE_DIR = "site"


def _table_columns(con, schema: str, table: str) -> list[str]:
    database, _, name = schema.rpartition(".")
    return [r[0] for r in con.execute(
        "SELECT column_name FROM duckdb_columns() WHERE database_name = ? AND schema_name = ? AND table_name = ? "
        "ORDER BY column_index", [database, name, table]).fetchall()]


def _catalogue_order(con, schema: str, alias: str = "i") -> str:
    """The ORDER BY terms that list indicators as the catalogue does, given ``alias`` for ``dim_indicateur`` and
    ``d`` for ``dim_defi``: the socle first (no défi: 0), then the défis 1 to 10 in the contract's order, then,
    within each, the catalogue's ``ordre`` when ``dim_indicateur`` has one; it has none today (the order of the
    rows of ref_indicateur.csv is not kept by the warehouse): the indicator id then."""
    ordre = f"{alias}.ordre, " if "ordre" in _table_columns(con, schema, "dim_indicateur") else ""
    return f"coalesce(d.numero_defi, 0), {ordre}{alias}.indicateur"


def _latest_sql(con, schema: str, tables: set[str]) -> str:
    """Each QPV × indicator's latest value: ``mart_derniere_valeur``; for a publication made before that mart,
    the same columns from ``fct_indicateur_qpv`` (the latest millésime with a value, else the latest). In the
    catalogue's order within each QPV (:func:`_catalogue_order`)."""
    order = _catalogue_order(con, schema)
    if LATEST_TABLE in tables:
        return (f"SELECT m.* FROM {schema}.{LATEST_TABLE} AS m "
                f"LEFT JOIN {schema}.dim_indicateur AS i ON i.indicateur = m.indicateur "
                f"LEFT JOIN {schema}.dim_defi AS d ON d.defi = i.defi ORDER BY m.code_qpv, {order}")
    return f"""
    with f as (select * from {schema}.fct_indicateur_qpv),
    l as (select *, row_number() over (partition by code_qpv, indicateur
                                       order by statut = 'disponible' desc, millesime desc) as _rn from f)
    select l.code_qpv, q.libelle_qpv, q.code_commune, q.libelle_commune, i.defi, d.numero_defi, l.indicateur,
           i.libelle, i.unite, i.sens, l.millesime, l.valeur, l.statut, l.motif, l.millesime_reference,
           r.valeur as valeur_reference, r.statut as statut_reference, r.motif as motif_reference,
           l.evolution_reference, l.valeur_commune, l.valeur_commune_hors_qpv,
           l.valeur_perimetre, l.valeur_france, l.ecart_commune, l.ecart_commune_hors_qpv, l.ecart_perimetre,
           l.ecart_france, l.source, l.rupture_serie, l.note_rupture, l.date_publication, l.prochaine_publication
    from l
    left join f as r on r.code_qpv = l.code_qpv and r.indicateur = l.indicateur and r.millesime = l.millesime_reference
    left join {schema}.dim_qpv as q on q.code_qpv = l.code_qpv
    left join {schema}.dim_indicateur as i on i.indicateur = l.indicateur
    left join {schema}.dim_defi as d on d.defi = i.defi
    where l._rn = 1
    order by l.code_qpv, {order}"""


#: the indicator block of the Dictionnaire: (column of the query, French header)
_DICTIONARY_INDICATORS = (
    ("indicateur", "Indicateur (identifiant)"),
    ("libelle", "Libellé"),
    ("definition", "Définition"),
    ("unite", "Unité (catalogue)"),
    ("unite_affichee", "Unité dans les en-têtes"),
    ("decimales", "Décimales publiées"),
    ("numero_defi", "N° du défi"),
    ("libelle_defi", "Défi"),
    ("source", "Source"),
    ("url_source", "Adresse de la source"),
    ("date_reference", "Date de référence"),
    ("sens", "Sens favorable"),
    ("millesimes_publies", "Millésimes publiés (au moins une valeur)"),
    ("millesimes", "Millésimes dans les tables"),
)
#: the column block of the Dictionnaire
_DICTIONARY_COLUMNS = ("Feuille", "Colonne (identifiant, ligne 1 masquée)", "Libellé (ligne 2)", "Indicateur",
                       "Unité", "Format des nombres", "Statut qui explique une cellule vide")


def _dictionary(con, schema: str, catalogue: Catalogue, sheets: list[tuple[str, Column]]) -> tuple[list, int, int]:
    """The Dictionnaire's rows: each indicator (label, definition, unit, decimals, défi, source, its URL, sens,
    the millésimes available, computed from ``fct_indicateur_qpv``), then every column of every data sheet
    (id, label, indicator, unit, number format, the statut column that explains an empty cell). Returns the
    rows and the row numbers (1-based) of the two header rows."""
    have = set(_table_columns(con, schema, "dim_indicateur"))
    select = ", ".join(f"i.{_q(c)}" if c in have else f"NULL AS {_q(c)}"
                       for c, _ in _DICTIONARY_INDICATORS
                       if c not in ("unite_affichee", "numero_defi", "libelle_defi", "millesimes_publies",
                                    "millesimes"))
    rows = _dicts(con, f"""
        with m as (
            select indicateur,
                   array_to_string(list_sort(list_distinct(list(millesime) filter (where statut = 'disponible'))),
                                   ', ') as millesimes_publies,
                   array_to_string(list_sort(list_distinct(list(millesime))), ', ') as millesimes
            from {schema}.fct_indicateur_qpv group by indicateur)
        select {select}, d.numero_defi, d.libelle_defi, m.millesimes_publies, m.millesimes
        from {schema}.dim_indicateur as i
        left join {schema}.dim_defi as d on d.defi = i.defi
        left join m on m.indicateur = i.indicateur
        order by {_catalogue_order(con, schema)}""")
    out: list[list[Any]] = [["# Indicateurs : définition, unité, précision, source et millésimes disponibles"]]
    out.append([h for _, h in _DICTIONARY_INDICATORS])
    first_header = len(out)
    for r in rows:
        r["unite_affichee"] = unit_label(r.get("unite"))
        out.append([r.get(c) for c, _ in _DICTIONARY_INDICATORS])
    out += [[], ["# Colonnes de chaque feuille : identifiant (ligne 1, masquée ; celui des fichiers CSV et Parquet) "
                 "et libellé (ligne 2)"], list(_DICTIONARY_COLUMNS)]
    second_header = len(out)
    for sheet, c in sheets:
        fmt = c.fmt or ("selon l'unité de l'indicateur de la ligne" if c.fmt_of_row is not None else None)
        out.append([sheet, c.name, c.label, c.indicateur, unit_label(c.unite) or None, fmt, c.statut])
    return out, first_header, second_header


def _write_workbook(con, schema: str, tables: set[str], catalogue: Catalogue, doc: dict, path: Path) -> None:
    """The edition's workbook: notes, one sheet per défi in the contract's order, the latest values, key figures,
    fiches, evaluation, indicators, QPV and the Dictionnaire (see :class:`_Workbook` for the layout)."""
    wb = _Workbook()
    wb.sheet_from_rows("notes", _notes_rows(doc), widths=(28, 110, 14, 22, 70, 66))
    defis = con.execute(f"SELECT defi, numero_defi, libelle_defi FROM {schema}.dim_defi "
                        "ORDER BY numero_defi NULLS LAST, defi").fetchall()
    for defi, numero, libelle in defis:
        mart = f"mart_defi_{defi}"
        if mart in tables:
            wb.sheet_from_query(defi_sheet_name(numero, libelle, defi), con,
                                f"SELECT * FROM {schema}.{_q(mart)} ORDER BY code_qpv, millesime", table=mart,
                                catalogue=catalogue, freeze="C3")
    order = _catalogue_order(con, schema)
    wb.sheet_from_query(LATEST_SHEET, con, _latest_sql(con, schema, tables), table=LATEST_TABLE,
                        catalogue=catalogue, freeze="C3")
    wb.sheet_from_query("chiffres_cles", con, f"SELECT * FROM {schema}.mart_chiffres_cles ORDER BY ordre, millesime",
                        table="mart_chiffres_cles", catalogue=catalogue, freeze="B3")
    wb.sheet_from_query("fiches_qpv", con, f"SELECT * FROM {schema}.mart_qpv_fiche ORDER BY code_qpv, millesime",
                        table="mart_qpv_fiche", catalogue=catalogue, freeze="C3")
    wb.sheet_from_query("evaluation", con, f"SELECT e.* FROM {schema}.{EVALUATION_TABLE} AS e "
                        f"LEFT JOIN {schema}.dim_indicateur AS i ON i.indicateur = e.indicateur "
                        f"LEFT JOIN {schema}.dim_defi AS d ON d.defi = i.defi ORDER BY e.code_qpv, {order}",
                        table=EVALUATION_TABLE, catalogue=catalogue, freeze="C3")
    # the catalogue: the socle, then the défis in the contract's order (never alphabetical)
    wb.sheet_from_query("indicateurs", con, f"SELECT i.* FROM {schema}.dim_indicateur AS i "
                        f"LEFT JOIN {schema}.dim_defi AS d ON d.defi = i.defi ORDER BY {order}",
                        table="dim_indicateur", catalogue=catalogue, freeze="B3")
    wb.sheet_from_query("qpv", con, f"SELECT * FROM {schema}.dim_qpv ORDER BY code_qpv", table="dim_qpv",
                        catalogue=catalogue, freeze="B3")
    rows, first, second = _dictionary(con, schema, catalogue, wb.columns)
    ws = wb.sheet_from_rows(DICTIONARY_SHEET, rows, widths=(30, 44, 60, 34, 18, 22, 34, 40, 40, 40, 16, 12, 26, 26),
                            header_rows=(first, second))
    ws.freeze_panes = f"B{first + 1}"
    ws.auto_filter.ref = f"A{second}:G{ws.max_row}"
    wb.save(path)


def _site_summary(root: Path, result: Any) -> dict:
    """What manifest.json records of the site (``site``): its folder, entry page, file count and size, and
    what ``build_site`` returned (version, mode, pages…) but its paths."""
    files = [p for p in root.rglob("*") if p.is_file()] if root.is_dir() else []
    out: dict[str, Any] = {"dossier": SITE_DIR, "index": f"{SITE_DIR}/index.html"
                           if (root / "index.html").is_file() else None, "fichiers": len(files),
                           "octets": sum(p.stat().st_size for p in files)}
    if isinstance(result, Mapping):  # its paths are those of the temporary directory: left out
        out["build_site"] = {str(k): v for k, v in result.items() if k not in ("path", "index")
                             and (isinstance(v, str | int | float | bool) or v is None)
                             and not (isinstance(v, str) and v.startswith(str(root.parent)))}
    return out


def _changes(settings: Settings, previous: str, out: Path) -> dict:
    """What a correction changes compared with the version it corrects."""
    import duckdb

    prev = snapshots_dir(settings) / previous
    old_tables = json.loads((prev / MANIFEST).read_text(encoding="utf-8")).get("tables", {})
    con = duckdb.connect()
    try:
        tables = {}
        for p in sorted((out / "parquet").glob("*.parquet")):
            t = p.stem
            old = prev / "parquet" / p.name
            if not old.exists():
                tables[t] = "ajoutee"
                continue
            same = con.execute(
                f"SELECT (SELECT count(*) FROM (SELECT * FROM read_parquet({_lit(str(p))}) EXCEPT ALL "
                f"SELECT * FROM read_parquet({_lit(str(old))}))) + (SELECT count(*) FROM (SELECT * FROM "
                f"read_parquet({_lit(str(old))}) EXCEPT ALL SELECT * FROM read_parquet({_lit(str(p))})))"
            ).fetchone()[0] == 0 if _same_columns(con, p, old) else False
            if not same:
                tables[t] = "modifiee"
        for t in old_tables:
            if not (out / "parquet" / f"{t}.parquet").exists():
                tables[t] = "retiree"
    finally:
        con.close()
    moves = _diff_fct(prev / "parquet" / "fct_indicateur_qpv.parquet", out / "parquet" / "fct_indicateur_qpv.parquet",
                      revisions_only=False)
    return {"tables": tables, "valeurs_modifiees": len(moves), "detail": moves[:500],
            "resume": ("aucune donnée modifiée" if not tables else
                       f"{len(tables)} table(s) modifiée(s), {len(moves)} valeur(s) d'indicateur modifiée(s)")}


def _same_columns(con, a: Path, b: Path) -> bool:
    cols = [con.execute(f"SELECT name, type FROM parquet_schema({_lit(str(p))})").fetchall() for p in (a, b)]
    return cols[0] == cols[1]


def _territoire(perimetre: str | None, *, de: bool = False) -> str:
    """What the edition describes: the contract's Métropole, or the perimeter it was built for."""
    from observatoire.config import DEFAULT_PERIMETRE

    if not perimetre or perimetre == DEFAULT_PERIMETRE:
        text = "Contrat de ville métropolitain Aix-Marseille-Provence 2024-2030"
        return ("du " + text) if de else text
    kind, _, code = perimetre.partition(":")
    text = {"epci": f"EPCI {code}", "departement": f"département {code}"}.get(kind, "France entière")
    return (f"du périmètre {text}" if de else f"périmètre {text}") + " (cadre « Quartiers 2030 »)"


def _territoire_short(perimetre: str | None) -> str:
    """« de la Métropole » (the contract's perimeter) or « du périmètre »."""
    from observatoire.config import DEFAULT_PERIMETRE

    return "de la Métropole" if not perimetre or perimetre == DEFAULT_PERIMETRE else "du périmètre"


def _is_demo(doc: dict) -> bool:
    return bool(doc.get("donnees_demonstration") or (doc.get("publication") or {}).get("donnees_synthetiques"))


def _demo_warning() -> str:
    return (f"Attention : {DEMO_NOTICE}. Édition de démonstration, faite à partir des enregistrements du projet "
            "(formats réels, valeurs inventées) : ces chiffres ne décrivent pas les quartiers réels ; ne pas les "
            "diffuser ni les citer.")


def _notes_rows(doc: dict) -> list[list[Any]]:
    pub = doc["publication"]
    rows: list[list[Any]] = [
        ["# Observatoire des quartiers — " + _territoire(pub.get("perimetre"))],
        ["Édition", doc["edition"]],
        ["Version", doc["version"]],
        ["Créée le", doc["created_at"]],
        ["Publication d'origine", f"run {pub.get('run_id')}, publiée le {pub.get('published_at')}"],
        ["Périmètre", pub.get("perimetre")],
        ["Mode", pub.get("mode")],
    ]
    if _is_demo(doc):
        rows.insert(1, ["ATTENTION", _demo_warning()])
    if doc.get("correction"):
        c = doc["correction"]
        rows += [["Correction de", c["corrige"]], ["Motif", c["motif"]],
                 ["Changements", (c.get("changements") or {}).get("resume")]]
    rows += [
        ["Validations", ("toutes réussies" if doc.get("validations_reussies") else "voir manifest.json")
         + " (celles du run de publication et, pour chaque fichier source, celle qui l'a accepté, chacune avec "
           "son run : rubrique validations de manifest.json)"],
        [],
        ["# Statuts"],
        *[[k, v] for k, v in _STATUTS.items()],
        [],
        ["# Règles"],
        ["Secret statistique", "une valeur retenue par l'éditeur est vide avec le statut secret_statistique, jamais 0 ; "
                               "aucun taux n'est publié s'il est calculé sur des effectifs sous le seuil de diffusion "
                               "de l'éditeur (colonne seuil_secret de la feuille indicateurs)."],
        ["Évolutions", "la feuille evaluation compare le millésime de référence (le premier sur la géographie 2024) "
                       "au dernier ; l'évolution n'est calculée qu'entre deux valeurs disponibles, sans rupture de "
                       "série (colonne comparabilite)."],
        ["Écarts", "ecart_* = valeur du quartier moins celle du territoire de comparaison (points pour un taux) ; "
                   "vide pour un effectif."],
        ["Feuilles", "une feuille par défi, dans l'ordre du contrat (« 1 Transition écologique » … « 10 … ») : une "
                     "ligne par QPV et millésime, pour chaque baromètre sa valeur, son statut, son motif, les "
                     "comparateurs et les écarts ; « Dernières valeurs » : pour chaque QPV et chaque indicateur, la "
                     "dernière valeur, celle du millésime de référence et l'évolution, avec statut et motif ; "
                     "chiffres_cles, fiches_qpv, evaluation, indicateurs, qpv ; « Dictionnaire » : chaque "
                     "indicateur (définition, unité, source, millésimes disponibles) et chaque colonne."],
        ["En-têtes", "ligne 2 : le libellé de la colonne avec son unité (« … (%) », « … — commune (%) », « … — écart "
                     "à la Métropole (points) », « … — statut ») ; ligne 1, masquée : son identifiant, le même que "
                     "dans les fichiers CSV et Parquet (Python : pandas.read_excel(fichier, sheet_name=feuille, "
                     "skiprows=[1]) lit les identifiants, header=1 les libellés)."],
        ["Cellules vides", "une valeur vide n'est jamais un zéro : sur la même ligne, la colonne « … — statut » de "
                           "l'indicateur (ou « Statut ») dit pourquoi et « … — motif » le précise. Un comparateur ou "
                           "un écart vide quand le statut est disponible : le territoire de comparaison n'a pas de "
                           "valeur publiée, ou l'écart n'a pas de sens (effectif)."],
        ["Arrondis", "les valeurs de ce classeur et des fichiers CSV sont arrondies au nombre de décimales de "
                     "l'éditeur (colonne decimales de la feuille indicateurs ; la moitié s'arrondit en s'éloignant "
                     "de zéro), les chiffres clés selon leur unité (1 décimale pour un pourcentage, 2 pour un "
                     "rapport, aucune pour un effectif), les autres nombres à 12 chiffres significatifs ; les "
                     "fichiers Parquet et DuckDB gardent la précision complète des calculs."],
        ["Cellules texte", "un texte commençant par = + - @ est précédé d'une apostrophe pour qu'aucun tableur ne "
                           "l'évalue comme une formule."],
        ["Intégrité", "manifest.json et SHA256SUMS donnent l'empreinte sha256 de chaque fichier "
                      "(vérification : sha256sum -c SHA256SUMS)."],
        ["Signature", _signature_note(doc)],
        [],
        ["# Sources", "URL", "millésime", "éditeur", "licence", "sha256"],
    ]
    for s in doc["sources"]:
        rows.append([s["source_id"], s["url"], s["millesime"], s["editeur"], s["licence"], s["sha256"]])
    if doc.get("fichiers_partenaires"):
        rows += [[], ["# Fichiers des partenaires", "fichier reçu", "millésime", "partenaire", "reçu le", "sha256"]]
        for f in doc["fichiers_partenaires"]:
            rows.append([f["indicateur"], f["nom_fichier"], f["millesime"], f["partenaire"], f["received_at"],
                         f["sha256"]])
    return rows


def _signature_note(doc: dict) -> str:
    sig = signature_info(doc)
    if sig.get("signed"):
        return (f"version signée ({sig.get('algorithm')}, clé d'empreinte {sig.get('key_fingerprint')}) : "
                f"{SIGNATURE} est la signature de manifest.json ; vérification avec la clé publique de "
                "l'Observatoire, voir README.md.")
    return ("version non signée : les empreintes détectent une altération accidentelle, mais rien ne prouve qui "
            "a produit ces fichiers.")


def _readme_signature(doc: dict) -> str:
    """The README's section on the signature (French): how to check it with our tool and with OpenSSL alone."""
    sig = signature_info(doc)
    v = doc["version"]
    if not sig.get("signed"):
        return """
## Signature

Cette version **n'est pas signée** (`manifest.json`, rubrique `signature` : `"signed": false`). Les empreintes
ci-dessus détectent une corruption accidentelle, mais pas une modification volontaire : quelqu'un qui change un
fichier peut aussi mettre à jour `manifest.json` et `SHA256SUMS`. Rien ne prouve donc qui a produit ces fichiers ;
pour une version signée, demandez-la à l'Observatoire.
"""
    fp = sig.get("key_fingerprint")
    return f"""
## Vérifier la signature

Cette version est **signée** par l'Observatoire ({sig.get('algorithm')}) : `{SIGNATURE}` est la signature de
`manifest.json`, octet pour octet, et `manifest.json` donne l'empreinte sha256 de chaque fichier. Une signature
valide prouve donc que l'ensemble a été produit par le détenteur de la clé et n'a pas changé depuis, même si
quelqu'un avait modifié un fichier en mettant à jour `manifest.json` et `SHA256SUMS`.

Empreinte de la clé de signature : **`{fp}`**.

Procurez-vous la clé publique de l'Observatoire (`snapshot.pub`) par un autre canal que ces fichiers (une clé
jointe à l'édition ne prouverait rien), et vérifiez que son empreinte est bien `{fp}` :

```sh
openssl pkey -pubin -in snapshot.pub -outform DER | tail -c 32 | sha256sum | cut -c1-16
```

(macOS : `shasum -a 256` au lieu de `sha256sum`, ici et plus bas ; l'`openssl` livré avec macOS est souvent
LibreSSL : installez OpenSSL 3, par exemple avec Homebrew.)

Avec l'outil de l'observatoire :

```sh
observatoire snapshot verify {v} --public-key snapshot.pub
```

Sans lui, avec OpenSSL 3.0 ou plus récent (`openssl version`), dans ce dossier :

```sh
openssl base64 -d -A -in {SIGNATURE} -out /tmp/{SIGNATURE}.bin          # la signature brute (64 octets)
openssl pkeyutl -verify -pubin -inkey snapshot.pub -rawin -in manifest.json -sigfile /tmp/{SIGNATURE}.bin
# attendu : « Signature Verified Successfully » ; puis chaque fichier contre manifest.json (signé) :
jq -r '.files[] | "\\(.sha256)  \\(.path)"' manifest.json | sha256sum -c -
# sans jq : python3 -c 'import json; [print(f["sha256"] + "  " + f["path"]) for f in json.load(open("manifest.json"))["files"]]' | sha256sum -c -
```

`SHA256SUMS` n'est pas signé : il sert à repérer une copie abîmée ; la preuve d'origine passe par
`manifest.json` et sa signature. Une version plus ancienne peut être signée avec une clé précédente de
l'Observatoire : vérifiez-la avec la clé publique dont l'empreinte figure ci-dessus.
"""


def _readme(doc: dict, db_name: str) -> str:
    pub = doc["publication"]
    v = doc["version"]
    demo = _is_demo(doc)
    warning = f"\n> **{_demo_warning()}**\n" if demo else ""
    title_demo = f" — {DEMO_NOTICE}" if demo else ""
    correction = ""
    if doc.get("correction"):
        c = doc["correction"]
        correction = (f"\n## Correction\n\nCette version corrige la version {c['corrige']}, qui reste disponible "
                      f"et inchangée.\n\n- Motif : {c['motif']}\n- Changements : {(c.get('changements') or {}).get('resume')}"
                      "\n  (détail dans `manifest.json`, rubrique `correction`).\n")
    sources = "\n".join(f"| {s['source_id']} | {s['millesime']} | {s['editeur'] or ''} | {s['licence'] or ''} |"
                        for s in doc["sources"])
    tables = "\n".join(f"| `{t}` | {i['rows']} |" for t, i in doc["tables"].items())
    site = doc.get("site") or {}
    contours = ("- `dim_qpv_contour.geometrie_wkb` : le contour de chaque QPV en WKB (binaire) dans Parquet et DuckDB,\n"
                "  en hexadécimal dans le CSV (DuckDB spatial : `ST_GeomFromHEXWKB(geometrie_wkb)`) ; il ne figure pas "
                "dans le classeur.\n" if "dim_qpv_contour" in doc["tables"] else "")
    site_files = f" ; {site['fichiers']} fichiers" if site.get("fichiers") else ""
    n_part = len(doc.get("fichiers_partenaires") or [])
    partenaires = (f" ; les {n_part} fichiers transmis par les partenaires (indicateur, millésime, partenaire, "
                   "empreinte) dans la rubrique `fichiers_partenaires`" if n_part else "")
    sig_row = (f"| `{SIGNATURE}` | signature de `manifest.json` par l'Observatoire (Ed25519, base64), clé "
               f"`{signature_info(doc).get('key_fingerprint')}` : voir « Vérifier la signature » |\n"
               if signature_info(doc).get("signed") else "")
    return f"""# Observatoire des quartiers — édition {doc['edition']} (version {v}){title_demo}

Baromètres {_territoire(pub.get("perimetre"), de=True)}, par quartier prioritaire (QPV).
Instantané figé le {doc['created_at']} à partir de la publication `{pub.get('run_id')}`
(périmètre `{pub.get('perimetre')}`). Ces fichiers ne seront jamais modifiés : une correction donne une
nouvelle version (`{doc['edition']}.1`, `{doc['edition']}.2`…) dans un dossier voisin.
{warning}{correction}
## Contenu

| fichier | pour qui |
|---|---|
| `observatoire_{v}.xlsx` | lecture humaine : voir « Le classeur » ci-dessous |
| `{SITE_DIR}/` | le site de l'observatoire tel qu'il était publié, figé avec l'édition : ouvrir `{SITE_DIR}/index.html` dans un navigateur (aucune connexion nécessaire){site_files} |
| `csv/*.csv` | Excel en français (double-clic), R `read.csv2()`, tout tableur : UTF-8 avec BOM, séparateur `;`, virgule décimale, valeurs arrondies à la précision de l'éditeur (voir « Lire les valeurs ») |
| `parquet/*.parquet` | R (`arrow::read_parquet`), Python (`pandas.read_parquet`), DuckDB : précision complète des calculs |
| `{db_name}` | DuckDB 1.4 ou plus récent : toutes les tables (précision complète), et la provenance de la publication dans le schéma `meta` |
| `manifest.json` | provenance : publication d'origine, validations sur lesquelles elle repose (chacune avec son run), fichiers sources dont elle est faite (URL, millésime, licence, sha256), versions des outils, empreinte et taille de chaque fichier |
| `SHA256SUMS` | empreintes au format `sha256sum` |
{sig_row}
Tables :

| table | lignes |
|---|---|
{tables}

## Le classeur

`observatoire_{v}.xlsx`, dans cet ordre :

| feuille | contenu |
|---|---|
| `notes` | l'édition, sa provenance, les statuts, les règles de lecture, les sources |
| `1 Transition écologique` … `10 …` | une feuille par défi, dans l'ordre du contrat : une ligne par QPV et millésime ; pour chaque baromètre sa valeur, son statut, son motif, les valeurs de la commune, de la commune hors QPV, {_territoire_short(pub.get("perimetre"))} et de la France, et les écarts à chacune |
| `{LATEST_SHEET}` | pour chaque QPV et chaque indicateur ({LATEST_TABLE}) : la dernière valeur et son millésime, la valeur du millésime de référence, l'évolution depuis, le statut et le motif, les comparateurs |
| `chiffres_cles` | les chiffres clés du contrat recalculés, à côté de ceux du contrat |
| `fiches_qpv` | la fiche quartier : les indicateurs de cadrage par QPV et millésime |
| `evaluation` | la table `{EVALUATION_TABLE}` (ci-dessous) |
| `indicateurs`, `qpv` | le catalogue des indicateurs et le référentiel des quartiers |
| `{DICTIONARY_SHEET}` | chaque indicateur (identifiant, libellé, définition, unité, décimales, défi, source et son adresse, sens favorable, millésimes disponibles) puis chaque colonne de chaque feuille (identifiant, libellé, unité, format, colonne de statut) |

Dans chaque feuille de données, la ligne 2 donne le libellé de chaque colonne avec son unité (« Taux de
pauvreté … (%) », « … — commune (%) », « … — écart à la Métropole (points) », « … — statut », « … — motif ») ;
la ligne 1, masquée, donne son identifiant, le même que dans les fichiers CSV et Parquet (Python :
`pandas.read_excel("observatoire_{v}.xlsx", sheet_name="{LATEST_SHEET}", skiprows=[1])` lit les identifiants,
`header=1` les libellés). Les nombres restent des nombres, affichés selon leur unité : pourcentages avec une
décimale et le signe % (la valeur est de 0 à 100 : 26,3 s'affiche « 26,3 % »), effectifs avec séparateur de
milliers, euros avec le signe €, écarts et évolutions avec leur signe. Les en-têtes restent visibles au
défilement et portent des filtres. Les colonnes binaires (géométries) ne figurent pas dans le classeur.

`{EVALUATION_TABLE}` donne, pour chaque indicateur et chaque QPV, la valeur au millésime de référence et au
dernier millésime avec leurs statuts, et l'évolution seulement quand les deux valeurs sont disponibles et
comparables (colonne `comparabilite`).

## Lire les valeurs

- Une valeur vide n'est **jamais** un zéro : la colonne `statut` (ou `<indicateur>_statut`) dit pourquoi.
{chr(10).join(f'  - `{k}` : {t}' for k, t in _STATUTS.items())}
- Secret statistique : aucun taux n'est publié s'il repose sur des effectifs sous le seuil de diffusion de
  l'éditeur (`seuil_secret` dans `dim_indicateur`).
- `ecart_*` : valeur du quartier moins celle du territoire de comparaison (commune, commune hors QPV,
  périmètre, France), en points pour un taux. Un comparateur ou un écart vide quand le statut est
  `disponible` : le territoire de comparaison n'a pas de valeur publiée, ou l'écart n'a pas de sens (effectif).
- Arrondis : dans les fichiers CSV et le classeur, les valeurs d'un indicateur (valeur, comparateurs, écarts,
  évolutions) sont arrondies au nombre de décimales qu'utilise son éditeur (`decimales` dans `dim_indicateur` ;
  la moitié s'arrondit en s'éloignant de zéro : 26,31578947 % publié à une décimale donne 26,3), les chiffres
  clés selon leur unité (une décimale pour un pourcentage, deux pour un rapport, aucune pour un effectif), tout
  autre nombre à 12 chiffres significatifs : jamais de bruit de calcul (`10,200000000000003`). Les fichiers
  Parquet et DuckDB gardent la précision complète des calculs : pour recalculer (agréger des QPV, par exemple),
  partez d'eux.
{contours}- Un texte qui commence par `=`, `+`, `-` ou `@` est précédé d'une apostrophe, pour qu'aucun tableur ne
  l'exécute comme une formule ; les nombres (négatifs compris) restent des nombres.

Exemples : R `read.csv2("csv/fct_indicateur_qpv.csv", fileEncoding = "UTF-8-BOM", colClasses = c(code_qpv = "character"))` ;
Python `pandas.read_csv("csv/fct_indicateur_qpv.csv", sep=";", decimal=",", encoding="utf-8-sig", dtype={{"code_qpv": str}})`.

## Vérifier l'intégrité

```sh
sha256sum -c SHA256SUMS                      # Linux ; macOS : shasum -a 256 -c SHA256SUMS
observatoire snapshot verify {v}          # avec l'outil de l'observatoire
```

Sous Windows : `Get-FileHash -Algorithm SHA256 <fichier>` et comparer à `SHA256SUMS`.
{_readme_signature(doc)}
## Citer

Observatoire des quartiers {_territoire(pub.get("perimetre"), de=True)}, édition {doc['edition']},
version {v} ({doc['created_at'][:10]}). Pour retrouver exactement les mêmes chiffres, citer aussi
l'empreinte de `manifest.json` donnée dans `SHA256SUMS`.

## Sources

| source | millésime | éditeur | licence |
|---|---|---|---|
{sources}

Les URL et les empreintes des fichiers sources sont dans `manifest.json`{partenaires}.
"""


# -- list, verify, diff -----------------------------------------------------------------------------------


def list_snapshots(settings: Settings) -> list[dict]:
    out = []
    for v in versions(settings):
        snap = open_snapshot(settings, v)
        m = snap.manifest
        sig = signature_info(m)
        out.append({
            "version": v,
            "edition": m.get("edition"),
            "created_at": m.get("created_at"),
            "run_id": m.get("run_id"),
            "mode": (m.get("publication") or {}).get("mode"),
            "perimetre": (m.get("publication") or {}).get("perimetre"),
            "correction": (m.get("correction") or {}).get("motif"),
            "signed": bool(sig.get("signed")),
            "key_fingerprint": sig.get("key_fingerprint") if sig.get("signed") else None,
            "files": len(m.get("files", [])),
            "bytes": sum(f.get("bytes", 0) for f in m.get("files", [])),
            "path": str(snap.path),
        })
    return out


@dataclass(frozen=True)
class Verification:
    """What ``verify`` found: the problems (empty: intact), and what it can say of the signature."""

    version: str
    problems: list[str]
    #: the manifest says the edition is signed (None: the manifest cannot be read)
    signed: bool | None
    #: the key the manifest says it was signed with
    key_fingerprint: str | None
    #: the public key the signature was checked against (None: not checked)
    public_key: PublicKey | None
    #: the signature verified with ``public_key``
    signature_valid: bool


def verify(settings: Settings, version: str, public_key: PublicKey | str | os.PathLike | None = None) -> list[str]:
    """Recompute every hash (and, given ``public_key``, check the signature); returns the problems (empty when
    the snapshot is intact), each naming a file. See :func:`check`."""
    return check(settings, version, public_key).problems


def check(settings: Settings, version: str, public_key: PublicKey | str | os.PathLike | None = None) -> Verification:
    """Recompute every hash and compare with manifest.json and SHA256SUMS; given ``public_key`` (a file or a
    :class:`PublicKey`), also check ``manifest.json.sig``: an unsigned edition, a signature made with another
    key or a manifest changed after signing is a problem. Hashes alone do not resist an edit that updates
    manifest.json and SHA256SUMS to match; the signature does."""
    if public_key is not None and not isinstance(public_key, PublicKey):
        public_key = load_public_key(public_key)
    try:
        snap = open_snapshot(settings, version)
    except SnapshotError as err:
        if "not valid JSON" not in str(err):
            raise
        problems = [f"{MANIFEST}: {err}"]
        if public_key is not None:
            problems.append(f"{SIGNATURE}: cannot be checked, {MANIFEST} is not readable")
        return Verification(str(version).strip(), problems, None, None, public_key, False)
    problems = []
    listed = {}
    for f in snap.manifest.get("files", []):
        listed[f["path"]] = f
    if not listed:
        problems.append(f"{MANIFEST}: lists no file")
    for rel, f in sorted(listed.items()):
        path = snap.path / rel
        if not path.is_file():
            problems.append(f"{rel}: missing")
            continue
        size = path.stat().st_size
        digest = sha256_file(path)
        if digest != f.get("sha256") or size != f.get("bytes"):
            problems.append(f"{rel}: sha256 {digest[:16]}… ({size} bytes) differs from the manifest's "
                            f"{str(f.get('sha256'))[:16]}… ({f.get('bytes')} bytes)")
    for path in sorted(snap.path.rglob("*")):
        rel = path.relative_to(snap.path).as_posix()
        if path.is_file() and rel not in listed and rel not in (MANIFEST, SUMS, SIGNATURE):
            problems.append(f"{rel}: not in the manifest (file added after the snapshot was made)")
    # the signature file: present exactly when the manifest says the edition is signed
    sig = signature_info(snap.manifest)
    signed = bool(sig.get("signed"))
    fingerprint = sig.get("key_fingerprint") if signed else None
    sig_path = snap.path / SIGNATURE
    raw_signature = None
    if signed:
        if sig.get("algorithm") != SIGNATURE_ALGORITHM:
            problems.append(f"{MANIFEST}: signature algorithm {sig.get('algorithm')!r}, expected "
                            f"{SIGNATURE_ALGORITHM!r}")
        if not sig_path.is_file():
            problems.append(f"{SIGNATURE}: missing, although {MANIFEST} says the snapshot is signed "
                            f"(key {fingerprint})")
        else:
            raw_signature = _read_signature(sig_path)
            if raw_signature is None:
                problems.append(f"{SIGNATURE}: not a signature (expected the base64 of a 64-byte "
                                f"{SIGNATURE_ALGORITHM} signature on one line)")
    elif sig_path.exists():
        problems.append(f"{SIGNATURE}: present although {MANIFEST} says the snapshot is unsigned (file added "
                        "after the snapshot was made)")
    # SHA256SUMS covers manifest.json itself: a changed byte in the manifest is caught here
    sums_path = snap.path / SUMS
    if not sums_path.is_file():
        problems.append(f"{SUMS}: missing")
    else:
        sums: dict[str, str] = {}
        for n, line in enumerate(sums_path.read_text(encoding="utf-8", errors="replace").splitlines(), start=1):
            m = re.fullmatch(r"([0-9a-f]{64})  (.+)", line)
            if not m:
                problems.append(f"{SUMS}: line {n} is not '<sha256>  <path>'")
                continue
            sums[m[2]] = m[1]
        manifest_digest = sha256_file(snap.path / MANIFEST)
        if sums.get(MANIFEST) != manifest_digest:
            problems.append(f"{MANIFEST}: sha256 {manifest_digest[:16]}… differs from the one recorded in {SUMS}")
        if signed and sig_path.is_file() and sums.get(SIGNATURE) != sha256_file(sig_path):
            problems.append(f"{SIGNATURE}: sha256 {sha256_file(sig_path)[:16]}… differs from the one recorded in "
                            f"{SUMS}")
        for rel, f in sorted(listed.items()):
            if sums.get(rel) != f.get("sha256"):
                problems.append(f"{SUMS}: the entry for {rel} disagrees with the manifest")
        for rel in sorted(set(sums) - set(listed) - {MANIFEST} - ({SIGNATURE} if signed else set())):
            problems.append(f"{SUMS}: lists {rel}, which the manifest does not")
    valid = False
    if public_key is not None:
        who = f"the public key {public_key.fingerprint}" + (f" ({public_key.path})" if public_key.path else "")
        if not signed:
            problems.append(f"{SIGNATURE}: snapshot {snap.version} is unsigned ({MANIFEST} records no signature): "
                            f"nothing proves who made it, so it cannot be checked against {who}")
        elif raw_signature is not None:
            from cryptography.exceptions import InvalidSignature

            try:
                public_key.key.verify(raw_signature, (snap.path / MANIFEST).read_bytes())
                valid = True
            except InvalidSignature:
                if fingerprint != public_key.fingerprint:
                    why = (f"{MANIFEST} says it was signed with key {fingerprint}: if that is one of the "
                           "observatory's older keys, check with its public key (an edition keeps the key it was "
                           "signed with); otherwise the snapshot was not signed by the holder of this key")
                else:
                    why = f"{MANIFEST} was changed after it was signed, or the signature was replaced"
                problems.append(f"{SIGNATURE}: signature does not match {MANIFEST} with {who}: {why}")
    return Verification(snap.version, problems, signed, fingerprint, public_key, valid)


def _diff_fct(a: Path, b: Path, *, revisions_only: bool) -> list[dict]:
    import duckdb

    con = duckdb.connect()
    try:
        return _dicts(con, f"""
            with a as (select code_qpv, indicateur, millesime, valeur, statut from read_parquet({_lit(str(a))})),
                 b as (select code_qpv, indicateur, millesime, valeur, statut from read_parquet({_lit(str(b))}))
            select coalesce(a.code_qpv, b.code_qpv) as code_qpv, coalesce(a.indicateur, b.indicateur) as indicateur,
                   coalesce(a.millesime, b.millesime) as millesime,
                   a.valeur as valeur_avant, b.valeur as valeur_apres, a.statut as statut_avant, b.statut as statut_apres,
                   case when a.code_qpv is null then 'ajout' when b.code_qpv is null then 'retrait'
                        else 'revision' end as nature
            from a full join b using (code_qpv, indicateur, millesime)
            where (a.valeur is distinct from b.valeur or a.statut is distinct from b.statut)
              {"and a.code_qpv is not null and b.code_qpv is not null" if revisions_only else ""}
            order by 1, 2, 3""")
    finally:
        con.close()


class UnknownFilter(ValueError):
    """A ``diff`` filter names a QPV or an indicator neither version has."""

    def __init__(self, option: str, message: str) -> None:
        super().__init__(message)
        self.option = option


def diff(settings: Settings, old: str, new: str, *, code_qpv: str | None = None,
         indicateur: str | None = None) -> dict:
    """Indicators that moved between two versions, by QPV (only ``code_qpv``, ``indicateur`` when given:
    :class:`UnknownFilter` if neither version has it).

    ``dernier``: for each QPV and indicator whose latest value differs (a new millésime, a revision or a
    change of statut), both latest values; ``revisions``: values of the same millésime that changed."""
    import duckdb

    a, b = open_snapshot(settings, old), open_snapshot(settings, new)
    con = duckdb.connect()
    try:
        ev = [s.path / "parquet" / f"{EVALUATION_TABLE}.parquet" for s in (a, b)]
        for p in ev:
            if not p.exists():
                raise SnapshotError(f"{p}: missing (run `observatoire snapshot verify`)")
        both = f"read_parquet([{_lit(str(ev[0]))}, {_lit(str(ev[1]))}])"
        for option, column, value in (("--qpv", "code_qpv", code_qpv), ("--indicateur", "indicateur", indicateur)):
            if value is None:
                continue
            known = [r[0] for r in con.execute(f"SELECT DISTINCT {column} FROM {both} ORDER BY 1").fetchall()]
            if value not in known:
                close = difflib.get_close_matches(value, known, n=3)
                raise UnknownFilter(option, f"neither {a.version} nor {b.version} has {column} {value!r}"
                                    + (f"; did you mean {', '.join(close)}?" if close else
                                       f"; they have {len(known)}, e.g. {', '.join(known[:3])}"))
        dernier = _dicts(con, f"""
            with a as (select * from read_parquet({_lit(str(ev[0]))})),
                 b as (select * from read_parquet({_lit(str(ev[1]))}))
            select coalesce(b.code_qpv, a.code_qpv) as code_qpv, coalesce(b.libelle_qpv, a.libelle_qpv) as libelle_qpv,
                   coalesce(b.indicateur, a.indicateur) as indicateur,
                   a.millesime_dernier as millesime_avant, a.valeur_dernier as valeur_avant, a.statut_dernier as statut_avant,
                   b.millesime_dernier as millesime_apres, b.valeur_dernier as valeur_apres, b.statut_dernier as statut_apres,
                   case when a.statut_dernier = 'disponible' and b.statut_dernier = 'disponible'
                        then b.valeur_dernier - a.valeur_dernier end as variation
            from a full join b using (code_qpv, indicateur)
            where a.millesime_dernier is distinct from b.millesime_dernier
               or a.valeur_dernier is distinct from b.valeur_dernier
               or a.statut_dernier is distinct from b.statut_dernier
            order by 1, 3""")
    finally:
        con.close()
    revisions = _diff_fct(a.path / "parquet" / "fct_indicateur_qpv.parquet",
                          b.path / "parquet" / "fct_indicateur_qpv.parquet", revisions_only=True)
    out = {"avant": a.version, "apres": b.version, "dernier": dernier, "revisions": revisions}
    for key in ("dernier", "revisions"):
        out[key] = [r for r in out[key] if (not code_qpv or r["code_qpv"] == code_qpv)
                    and (not indicateur or r["indicateur"] == indicateur)]
    return out
