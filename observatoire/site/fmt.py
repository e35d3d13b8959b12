"""French formatting of the site's figures: numbers, units, statuts, dates.

* thousands separated by a narrow no-break space (U+202F), decimal comma, minus sign U+2212;
* rounded half away from zero (``Decimal``, never Python's banker's rounding of binary floats) to the
  catalogue's ``dim_indicateur.decimales`` when the publication has it, else to the unit's default (1 decimal
  for a percentage, 0 for a count);
* the unit after the number (``12,3 %``, ``312 529 habitants``, ``18 420 €``).

The site and its tests format through these functions only, so a value found on a page can be compared with
the warehouse's value formatted the same way.
"""

from __future__ import annotations

import math
from datetime import date, datetime
from decimal import Decimal, InvalidOperation

from observatoire.nombres import rounded
from observatoire.unites import UNITES

NNBSP = "\u202f"  # espace fine insécable: thousands, before %, €
NBSP = "\u00a0"  # espace insécable: before a word unit
MINUS = "\u2212"

#: unit code (dim_indicateur.unite) → (text after the number, default decimals): observatoire/unites.py
UNITS: dict[str, tuple[str, int]] = {code: (u.suffixe, u.decimales_site) for code, u in UNITES.items()}
#: units whose sign is glued with a narrow no-break space (symbols), the others with a no-break space (words)
SYMBOLS = {"%", "€", "m", "t"}

#: the unit as a column or axis title
UNIT_TITLES = {code: u.titre for code, u in UNITES.items()}

STATUTS = {
    "disponible": "Disponible",
    "secret_statistique": "Secret statistique",
    "non_publie": "Non publié",
    "attendu_partenaire": "Attendu d'un partenaire",
    "non_calculable": "Non calculable",
}
#: what a missing value says when the warehouse gives no motif (never happens in a sound publication)
STATUT_MOTIFS = {
    "secret_statistique": "Valeur couverte par le secret statistique.",
    "non_publie": "Source non publiée pour ce millésime.",
    "attendu_partenaire": "Donnée attendue d'un partenaire du contrat.",
    "non_calculable": "Valeur non calculable.",
}
MISSING = "Non disponible"

MONTHS = ("janvier", "février", "mars", "avril", "mai", "juin", "juillet", "août", "septembre", "octobre",
          "novembre", "décembre")


def decimals_for(unite: str | None, decimales: int | None = None) -> int:
    """The decimals to show: the catalogue's when given, else the unit's default (1 for an unknown unit)."""
    if decimales is not None and not (isinstance(decimales, float) and math.isnan(decimales)):
        return max(0, int(decimales))
    return UNITS.get(unite or "", ("", 1))[1]


def _is_missing(value) -> bool:
    return value is None or (isinstance(value, float) and (math.isnan(value) or math.isinf(value)))


def fmt_number(value, decimals: int = 0, *, signed: bool = False) -> str:
    """``1234567.891, 2`` → ``1 234 567,89`` (U+202F between thousands, decimal comma, U+2212 for minus);
    ``signed``: a ``+`` before a positive number. Rounded like the edition's CSV and workbook
    (:func:`observatoire.nombres.rounded`: half away from zero, binary noise ignored). ``None`` → ``""``."""
    if _is_missing(value):
        return ""
    try:
        d = rounded(value if isinstance(value, float | Decimal | int) else float(value), max(0, decimals))
    except (InvalidOperation, ValueError, TypeError):
        return str(value)
    negative = d < 0
    if d == 0:
        negative = False
    text = f"{abs(d):.{decimals}f}"
    whole, _, frac = text.partition(".")
    groups = []
    while len(whole) > 3:
        groups.insert(0, whole[-3:])
        whole = whole[:-3]
    groups.insert(0, whole)
    out = NNBSP.join(groups) + ("," + frac if frac else "")
    if negative:
        return MINUS + out
    if signed and d > 0:
        return "+" + out
    return out


def unit_suffix(unite: str | None) -> str:
    """The text after a number of this unit, with its leading space (``" %"``), or ``""``."""
    text = UNITS.get(unite or "", (unite or "", 0))[0] if unite in UNITS else (unite or "").replace("_", " ")
    if not text:
        return ""
    return (NNBSP if text in SYMBOLS else NBSP) + text


def fmt_value(value, unite: str | None = None, decimales: int | None = None, *, signed: bool = False) -> str:
    """A value with its unit, French style: ``fmt_value(12.345, "pourcentage")`` → ``12,3 %``. ``""`` when
    the value is missing (the caller shows the statut instead)."""
    if _is_missing(value):
        return ""
    return fmt_number(value, decimals_for(unite, decimales), signed=signed) + unit_suffix(unite)


def fmt_evolution(value, unite: str | None = None, decimales: int | None = None) -> str:
    """A change since the baseline, signed, in the indicator's unit; a percentage changes by points."""
    if _is_missing(value):
        return ""
    decimals = decimals_for(unite, decimales)
    if unite == "pourcentage":
        text = fmt_number(value, decimals, signed=True)
        rounded = abs(float(text.lstrip("+" + MINUS).replace(NNBSP, "").replace(",", ".")))
        return text + NBSP + ("points" if rounded >= 2 else "point")
    return fmt_value(value, unite, decimales, signed=True)


def unit_title(unite: str | None) -> str:
    return UNIT_TITLES.get(unite or "", (unite or "").replace("_", " "))


def statut_label(statut: str | None) -> str:
    if not statut:
        return MISSING
    return STATUTS.get(statut, statut.replace("_", " ").capitalize())


def motif_text(statut: str | None, motif: str | None) -> str:
    motif = (motif or "").strip()
    return motif or STATUT_MOTIFS.get(statut or "", "Aucune valeur publiée.")


def fmt_date(value) -> str:
    """``2026-12-07`` or a datetime → ``7 décembre 2026``; a ``YYYY-MM`` → ``décembre 2026``; other text
    unchanged."""
    if value is None or value == "":
        return ""
    if isinstance(value, datetime):
        value = value.date()
    if isinstance(value, date):
        day = "1er" if value.day == 1 else str(value.day)
        return f"{day} {MONTHS[value.month - 1]} {value.year}"
    text = str(value).strip()
    try:
        if len(text) >= 10 and text[4] == "-" and text[7] == "-":
            return fmt_date(date.fromisoformat(text[:10]))
        if len(text) == 7 and text[4] == "-":
            return f"{MONTHS[int(text[5:7]) - 1]} {text[:4]}"
    except (ValueError, IndexError):
        pass
    return text


def fmt_datetime(value, tz: str = "Europe/Paris") -> str:
    """An ISO timestamp → ``7 décembre 2026 à 7 h 55`` in Paris time (``(UTC)`` when the zone is unknown)."""
    if value is None or value == "":
        return ""
    if isinstance(value, datetime):
        dt = value
    else:
        try:
            dt = datetime.fromisoformat(str(value).replace("Z", "+00:00"))
        except ValueError:
            return str(value)
    suffix = ""
    if dt.tzinfo is not None:
        try:
            from zoneinfo import ZoneInfo

            dt = dt.astimezone(ZoneInfo(tz))
        except Exception:  # noqa: BLE001 - no time zone data on this machine: say UTC
            suffix = " (UTC)"
    return f"{fmt_date(dt.date())} à {dt.hour} h {dt.minute:02d}{suffix}"
