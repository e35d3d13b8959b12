"""What a partner file must respect: its columns, the limits (size, rows, texts), the catalogue's partner
indicators and units, and the French notation of numbers and sizes in messages."""

from __future__ import annotations

import re
import unicodedata

from observatoire.catalogue import indicateurs
from observatoire.config import Settings, current_settings
from observatoire.unites import UNITES

#: the data sheet's columns, in the template's order (the identifiers of the header row: row 1, or row 2 under
#: the XLSX template's row of French labels)
COLUMNS = ("indicateur", "code_qpv", "nom_qpv", "millesime", "valeur", "commentaire", "partenaire")
DATA_SHEET = "donnees"
FIRST_MILLESIME = 2024
ACCEPTED_EXTENSIONS = (".xlsx", ".csv")
DEFAULT_MAX_BYTES = Settings.model_fields["partenaires_max_bytes"].default  # 10 MiB
DEFAULT_MAX_UNZIPPED_BYTES = Settings.model_fields["partenaires_max_unzipped_bytes"].default  # 50 MiB
MAX_ZIP_MEMBERS = 1000
MAX_ROWS = 5000
MAX_TEXT = 1000
MAX_PARTNER_NAME = 200
#: what a partner writes for a value withheld under the statistical secret
SECRET_WORDS = frozenset({"secret"})
QPV_2024_RE = re.compile(r"^QN(?:\d{3}|02A|02B)\d{2}[NMIC]$")
QPV_2015_RE = re.compile(r"^QP\d{6}$")
_SPACES_RE = re.compile(r"[\s\u00a0\u202f]+")

#: what a partner writes in each unit of a partner indicator (observatoire/unites.py)
UNIT_LABELS = {code: u.consigne for code, u in UNITES.items() if u.consigne}

ERROR = "erreur"
WARNING = "avertissement"


def max_bytes() -> int:
    """The largest partner file accepted (``OBSERVATOIRE_PARTENAIRES_MAX_BYTES``)."""
    return current_settings().partenaires_max_bytes


def max_unzipped_bytes() -> int:
    """The largest a partner workbook may expand to (``OBSERVATOIRE_PARTENAIRES_MAX_UNZIPPED_BYTES``)."""
    return current_settings().partenaires_max_unzipped_bytes


def partner_indicators() -> dict[str, dict]:
    """The catalogue's indicators of source kind ``partner``, by id."""
    return {k: v for k, v in indicateurs().items() if v.get("type_source") == "partner"}


def unit_label(unite: str) -> str:
    return UNIT_LABELS.get(unite, unite.replace("_", " "))


def fr_number(x: float | int | None) -> str:
    """12.5 → ``12,5``; 1000000 → ``1 000 000`` (French notation, for messages)."""
    if x is None:
        return ""
    if isinstance(x, float) and x.is_integer() and abs(x) < 1e15:
        x = int(x)
    if isinstance(x, int):
        return f"{x:,}".replace(",", " ")
    return f"{x:.10g}".replace(".", ",")


def fr_size(n: int) -> str:
    if n >= 1024 * 1024:
        return f"{n / (1024 * 1024):.1f} Mo".replace(".", ",")
    if n >= 1024:
        return f"{n / 1024:.0f} Ko"
    return f"{n} octets"


def _plural(n: int, word: str) -> str:
    return f"{n} {word}{'s' if n > 1 else ''}"


def clean_file_name(name: str) -> str:
    """The name a file was sent under, for display only: its last component, without control characters."""
    base = re.split(r"[\\/]", str(name))[-1]
    base = "".join(ch for ch in base if unicodedata.category(ch)[0] != "C").strip()
    return base[:200] or "(sans nom)"


def _norm(text: object) -> str:
    """Header / sheet name normalisation: ``Millésime`` → ``millesime``, ``Code QPV`` → ``code_qpv``."""
    s = unicodedata.normalize("NFKD", str(text)).encode("ascii", "ignore").decode().strip().lower()
    return re.sub(r"[\s\-]+", "_", s)
