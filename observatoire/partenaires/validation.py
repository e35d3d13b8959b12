"""Read a partner file without trusting it, and report every problem at once, in French.

What is checked, in this order (a problem of the first kind stops the reading, the others are all collected):

1. the file itself: its size (``OBSERVATOIRE_PARTENAIRES_MAX_BYTES``, default 10 Mo) and what it really is, from
   its first bytes, against its extension: an XLSX is a ZIP holding ``xl/workbook.xml``; a workbook with macros
   (``xl/vbaProject.bin``, ``.xlsm``) is refused unopened; the uncompressed size of every member of an XLSX is
   counted by decompressing it (``OBSERVATOIRE_PARTENAIRES_MAX_UNZIPPED_BYTES``, default 50 Mo) before openpyxl
   sees it (zip bombs); a CSV must be text (UTF-8 with or without BOM, or Windows-1252, ``;`` or ``,``);
2. the layout: the sheet ``donnees``, the header (the column identifiers) with exactly the columns of
   :data:`COLUMNS`, in row 1 (the CSV template and XLSX templates made before the label row) or in row 2 under a
   row of French labels (the XLSX template: :func:`header_row_of` tells them apart, the label row is not read), no
   merged cells, no formula where a value is expected (the workbook is read with ``data_only=False``: formulas are seen,
   never evaluated);
3. every row: indicator of the catalogue and of partner kind (read from the column, never from the file name),
   one per file; QPV code of the 2024 geography and of the perimeter, once; millésime from 2024 to the current
   year, one per file; a number in the catalogue's unit (French decimal comma and spaces accepted) within the
   catalogue's range, never a negative count; ``secret`` for a value under the statistical secret, an empty
   cell for an unknown value;
4. the file as a whole: a partner named, at least one value; the QPV of the perimeter absent from the file are
   reported as a warning (they will be published as ``non_publie``).

:func:`validate_file` returns a :class:`Report` (never raises for a bad file); its :meth:`Report.text` is the
French report printed by ``observatoire partenaires valider`` and written next to the processed inbox files.
"""

from __future__ import annotations

import csv
import difflib
import hashlib
import io
import math
import os
import re
import unicodedata
import zipfile
import zlib
from dataclasses import dataclass, field
from datetime import date, datetime, time
from pathlib import Path

from extract.envvars import NUMERIC, setting
from extract.tables import parse_number  # French or English numbers, as the sources' parsers read them
from observatoire.catalogue import indicateurs
from observatoire.config import DEFAULT_PERIMETRE
from observatoire.perimetre import known_qpv, perimeter_qpv_codes

#: the data sheet's columns, in the template's order (the identifiers of the header row: row 1, or row 2 under
#: the XLSX template's row of French labels)
COLUMNS = ("indicateur", "code_qpv", "nom_qpv", "millesime", "valeur", "commentaire", "partenaire")
DATA_SHEET = "donnees"
FIRST_MILLESIME = 2024
ACCEPTED_EXTENSIONS = (".xlsx", ".csv")
DEFAULT_MAX_BYTES = NUMERIC["OBSERVATOIRE_PARTENAIRES_MAX_BYTES"][0]  # 10 MiB
DEFAULT_MAX_UNZIPPED_BYTES = NUMERIC["OBSERVATOIRE_PARTENAIRES_MAX_UNZIPPED_BYTES"][0]  # 50 MiB
MAX_ZIP_MEMBERS = 1000
MAX_ROWS = 5000
MAX_TEXT = 1000
MAX_PARTNER_NAME = 200
#: what a partner writes for a value withheld under the statistical secret
SECRET_WORDS = frozenset({"secret"})
QPV_2024_RE = re.compile(r"^QN(?:\d{3}|02A|02B)\d{2}[NMIC]$")
QPV_2015_RE = re.compile(r"^QP\d{6}$")
_SPACES_RE = re.compile(r"[\s\u00a0\u202f]+")

UNIT_LABELS = {
    "nombre": "nombre (effectif)",
    "pourcentage": "pourcentage, de 0 à 100 (écrire 12,5 pour 12,5 %)",
    "pour_1000_menages": "pour 1 000 ménages",
    "pour_1000_logements": "pour 1 000 logements",
    "pour_100_logements": "pour 100 logements",
    "tonnes": "tonnes",
    "euros": "euros",
}

ERROR = "erreur"
WARNING = "avertissement"


def max_bytes(environ=None) -> int:
    return setting("OBSERVATOIRE_PARTENAIRES_MAX_BYTES", environ)


def max_unzipped_bytes(environ=None) -> int:
    return setting("OBSERVATOIRE_PARTENAIRES_MAX_UNZIPPED_BYTES", environ)


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


# -- problems and report -------------------------------------------------------------------------------

@dataclass(frozen=True)
class Problem:
    level: str  # erreur | avertissement
    message: str
    sheet: str | None = None  # the sheet's name (XLSX), None for a CSV or the file as a whole
    row: int | None = None  # 1-based row of the sheet (XLSX) or line of the file (CSV); the header is 1
    column: str | None = None  # the column's name
    letter: str | None = None  # the column's letter (XLSX)
    cell: str | None = None  # XLSX cell reference (E7) or range (A5:B6)
    csv: bool = False

    def where(self) -> str:
        parts = []
        if self.sheet:
            parts.append(f"feuille « {self.sheet} »")
        elif self.csv and (self.row or self.column):
            parts.append("fichier CSV")
        if self.row:
            parts.append(f"ligne {self.row}")
        if self.column:
            parts.append(f"colonne « {self.column} »" + (f" ({self.letter})" if self.letter else ""))
        if self.cell:
            parts.append(f"cellule {self.cell}")
        text = ", ".join(parts) or "fichier"
        return text[0].upper() + text[1:]

    def __str__(self) -> str:
        return f"{self.where()} : {self.message}"


@dataclass
class Report:
    """What :func:`validate_file` found. ``rows`` holds the validated rows (only meaningful when :attr:`ok`)."""

    file_name: str
    size: int = 0
    sha256: str | None = None
    format: str | None = None  # xlsx | csv: what the content really is
    sheet: str | None = None  # the data sheet's name as written in the workbook (XLSX)
    encoding: str | None = None
    separator: str | None = None
    indicateur: str | None = None
    millesime: int | None = None
    partenaire: str | None = None
    rows: list[dict] = field(default_factory=list)
    missing_qpv: list[str] = field(default_factory=list)
    problems: list[Problem] = field(default_factory=list)

    @property
    def errors(self) -> list[Problem]:
        return [p for p in self.problems if p.level == ERROR]

    @property
    def warnings(self) -> list[Problem]:
        return [p for p in self.problems if p.level == WARNING]

    @property
    def ok(self) -> bool:
        return not self.errors

    @property
    def values(self) -> int:
        return sum(1 for r in self.rows if r["statut"] == "disponible")

    def add(self, level: str, message: str, **where) -> None:
        self.problems.append(Problem(level, message, **where))

    def text(self) -> str:
        """The report, in French, for the partner and the team."""
        lines = [f"Fichier : {self.file_name}"]
        if self.size:
            what = {"xlsx": "classeur Excel (.xlsx)", "csv": "fichier CSV"}.get(self.format or "", "")
            details = [d for d in (what, fr_size(self.size)) if d]
            if self.format == "csv" and self.encoding:
                details.append(f"encodage {self.encoding}, séparateur « {self.separator} »")
            if self.sha256:
                details.append(f"sha256 {self.sha256[:16]}…")
            lines[0] += " (" + ", ".join(details) + ")"
        if self.indicateur:
            info = partner_indicators().get(self.indicateur) or {}
            lines.append(f"Indicateur : {self.indicateur} — {info.get('libelle', '')} "
                         f"(unité : {unit_label(info.get('unite', ''))})")
        if self.millesime is not None:
            lines.append(f"Millésime : {self.millesime}")
        if self.partenaire:
            lines.append(f"Partenaire : {self.partenaire}")
        if self.ok:
            empty = sum(1 for r in self.rows if r["statut"] == "non_publie")
            secret = sum(1 for r in self.rows if r["statut"] == "secret_statistique")
            parts = [_plural(len(self.rows), "quartier"), _plural(self.values, "valeur"),
                     _plural(empty, "vide") + " (non publiée" + ("s" if empty > 1 else "") + ")",
                     f"{secret} au secret statistique"]
            if self.missing_qpv:
                n = len(self.missing_qpv)
                parts.append(_plural(n, "quartier") + " absent" + ("s" if n > 1 else "") + " (non publié"
                             + ("s" if n > 1 else "") + ")")
            lines.append("Résultat : VALIDE — " + ", ".join(parts))
        else:
            n, w = len(self.errors), len(self.warnings)
            lines.append(f"Résultat : REFUSÉ — {n} erreur{'s' if n > 1 else ''}"
                         + (f", {w} avertissement{'s' if w > 1 else ''}" if w else "")
                         + ". Rien n'a été chargé : corrigez le fichier et renvoyez-le en entier.")
        if self.errors:
            lines.append("")
            lines.append("Erreurs :")
            ordered = sorted(self.errors, key=lambda p: p.row or 0)  # file-level first, then top to bottom
            lines += [f"  {i}. {p}" for i, p in enumerate(ordered, 1)]
        if self.warnings:
            lines.append("")
            lines.append("Avertissements (n'empêchent pas le chargement) :")
            lines += [f"  {i}. {p}" for i, p in enumerate(self.warnings, 1)]
        return "\n".join(lines) + "\n"


# -- the file: size, real format, zip guard ----------------------------------------------------------

KIND_LABELS = {
    "xlsx": "un classeur Excel (.xlsx)",
    "xlsm": "un classeur Excel contenant des macros (.xlsm)",
    "xls": "un ancien classeur Excel 97-2003 (.xls), ou un classeur protégé par mot de passe",
    "ods": "un classeur OpenDocument (.ods)",
    "docx": "un document Word",
    "zip": "une archive ZIP",
    "zip_invalid": "une archive ZIP illisible (fichier tronqué ou corrompu)",
    "pdf": "un document PDF",
    "html": "une page web (HTML)",
    "xml": "un document XML",
    "json": "un document JSON",
    "geojson": "un document GeoJSON",
    "text": "un fichier texte (CSV)",
    "binary": "un fichier binaire",
    "empty": "un fichier vide",
}


def sniff(data: bytes) -> str:
    """What the bytes really are (see :data:`KIND_LABELS`); the extension is never trusted."""
    from extract.formats import sniff_kind

    if data.startswith(b"PK\x03\x04") or data.startswith(b"PK\x05\x06"):
        try:
            with zipfile.ZipFile(io.BytesIO(data)) as zf:
                names = set(zf.namelist())
                if "xl/workbook.xml" in names:
                    if "xl/vbaProject.bin" in names or any(n.lower().endswith("vbaproject.bin") for n in names):
                        return "xlsm"
                    types = b""
                    if "[Content_Types].xml" in names:
                        with zf.open("[Content_Types].xml") as fh:  # bounded: the archive is not checked yet
                            types = fh.read(1 << 20)
                    return "xlsm" if b"macroEnabled" in types else "xlsx"
                if "word/document.xml" in names:
                    return "docx"
                if "content.xml" in names and "mimetype" in names:
                    return "ods"
                return "zip"
        except (zipfile.BadZipFile, KeyError, OSError, ValueError, EOFError, RuntimeError, NotImplementedError,
                zlib.error):
            return "zip_invalid"
    if data.startswith(b"\xd0\xcf\x11\xe0"):
        return "xls"
    if data.startswith(b"%PDF"):
        return "pdf"
    kind = sniff_kind(data[:64 * 1024])
    if kind == "text" and b"\x00" in data:
        return "binary"
    return kind


def check_zip_size(data: bytes, limit: int) -> str | None:
    """None if every member of the archive, actually decompressed, stays under ``limit`` bytes in total
    (the sizes an archive declares can lie); else the French reason."""
    try:
        with zipfile.ZipFile(io.BytesIO(data)) as zf:
            infos = zf.infolist()
            if len(infos) > MAX_ZIP_MEMBERS:
                return f"le classeur contient {len(infos)} éléments internes (au plus {MAX_ZIP_MEMBERS})"
            if sum(i.file_size for i in infos) > limit:
                return (f"une fois décompressé, le classeur dépasserait {fr_size(limit)} : fichier suspect "
                        "(bombe de décompression) ou beaucoup trop gros")
            total = 0
            for info in infos:
                with zf.open(info) as fh:
                    while chunk := fh.read(1 << 16):
                        total += len(chunk)
                        if total > limit:
                            return (f"une fois décompressé, le classeur dépasse {fr_size(limit)} : fichier suspect "
                                    "(bombe de décompression) ou beaucoup trop gros")
    except (zipfile.BadZipFile, zlib.error, EOFError, OSError, RuntimeError, NotImplementedError, ValueError) as err:
        return f"le classeur est illisible (archive corrompue ou chiffrée : {err.__class__.__name__})"
    return None


# -- reading: a table of cells -----------------------------------------------------------------------

@dataclass
class Cell:
    value: object = None  # None, str, int, float, bool, datetime…
    formula: str | None = None
    number_format: str | None = None
    ref: str | None = None  # XLSX reference (E7)

    @property
    def empty(self) -> bool:
        return self.formula is None and (self.value is None or (isinstance(self.value, str) and not self.value.strip()))


@dataclass
class Table:
    sheet: str | None  # XLSX sheet name; None for a CSV
    header: list[tuple[int, object, str | None]]  # (position, raw header, column letter)
    rows: list[tuple[int, dict[int, Cell]]]  # (row number, position → cell)
    header_row: int = 1  # the row (XLSX) or line (CSV) of the identifiers; 2 under a row of labels


def _header_score(cells: dict[int, Cell]) -> int:
    return sum(1 for c in cells.values() if c.formula is None and _norm(c.value) in COLUMNS)


def header_row_of(first: dict[int, Cell], second: dict[int, Cell] | None) -> int:
    """Which of the first two rows holds the column identifiers: row 2 when it names more of :data:`COLUMNS`
    than row 1 (the XLSX template: French labels with the unit in row 1, identifiers in row 2), else row 1 (the
    CSV template, and XLSX templates made before the label row, which partners may still be filling)."""
    if second is not None and _header_score(second) >= 2 and _header_score(second) > _header_score(first):
        return 2
    return 1


def _table(sheet: str | None, raw: list[tuple[int, dict[int, Cell]]], letters: bool) -> Table:
    """A :class:`Table` from the sheet's rows (``raw[0]``: the first row, even empty; then every non-empty row):
    the header is row 1, or row 2 under a row of labels (:func:`header_row_of`), whose cells are not read."""
    if not raw:
        return Table(sheet, [], [])
    at = header_row_of(raw[0][1], raw[1][1] if len(raw) > 1 else None) - 1
    number, cells = raw[at]
    header = [(pos, cell.value if cell.formula is None else cell.formula, _letter(pos) if letters else None)
              for pos, cell in sorted(cells.items())]
    return Table(sheet, header, [(r, c) for r, c in raw[at + 1:] if c], header_row=number)


def _letter(position: int) -> str:
    from openpyxl.utils import get_column_letter

    return get_column_letter(position)


def read_xlsx(data: bytes, report: Report) -> Table | None:
    import warnings

    import openpyxl
    from openpyxl.worksheet.formula import ArrayFormula, DataTableFormula

    try:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            wb = openpyxl.load_workbook(io.BytesIO(data), read_only=False, data_only=False, keep_vba=False,
                                        keep_links=False, rich_text=False)
    except Exception as err:  # noqa: BLE001 - any failure to open an untrusted workbook is the file's problem
        report.add(ERROR, f"le classeur ne peut pas être lu ({err.__class__.__name__}) : enregistrez-le à nouveau "
                   "depuis Excel au format « Classeur Excel (.xlsx) »")
        return None
    try:
        names = {_norm(n): n for n in wb.sheetnames}
        sheet_name = names.get(DATA_SHEET)
        if sheet_name is None:
            found = ", ".join(f"« {n} »" for n in wb.sheetnames)
            report.add(ERROR, f"le classeur n'a pas de feuille « {DATA_SHEET} » (feuilles trouvées : {found}) : "
                       "saisissez les données dans la feuille « donnees » du modèle, sans la renommer")
            return None
        ws = wb[sheet_name]
        report.sheet = sheet_name
        if not hasattr(ws, "merged_cells"):
            report.add(ERROR, f"« {sheet_name} » n'est pas une feuille de calcul (graphique ?)", sheet=sheet_name)
            return None
        for rng in sorted(ws.merged_cells.ranges, key=lambda r: (r.min_row, r.min_col)):
            report.add(ERROR, "cellules fusionnées : défusionnez-les et écrivez une valeur dans chaque cellule",
                       sheet=sheet_name, row=rng.min_row, cell=rng.coord)
        raw: list[tuple[int, dict[int, Cell]]] = []  # the first row, then every non-empty one
        for row in ws.iter_rows(min_row=1, max_row=ws.max_row):
            cells: dict[int, Cell] = {}
            for c in row:
                if c.__class__.__name__ == "MergedCell":
                    continue
                v = c.value
                formula = None
                if isinstance(v, (ArrayFormula, DataTableFormula)):
                    formula = getattr(v, "text", None) or "={…}"
                elif c.data_type == "f" or (isinstance(v, str) and v.startswith("=") and len(v) > 1):
                    formula = str(v)
                cell = Cell(None if formula else v, formula, c.number_format, c.coordinate)
                if not cell.empty:
                    cells[c.column] = cell
            r = row[0].row if row else 0
            if r == 1 or cells:
                raw.append((r, cells))
                if len(raw) > MAX_ROWS + 2:
                    report.add(ERROR, f"plus de {MAX_ROWS} lignes de données : ce n'est pas un fichier du modèle "
                               "(une ligne par quartier)", sheet=sheet_name, row=r)
                    return None
        return _table(sheet_name, raw, letters=True)
    finally:
        wb.close()


def read_csv(data: bytes, report: Report) -> Table | None:
    from extract.formats import decode, iter_lines, sniff_separator

    text, encoding = decode(data)
    report.encoding = {"utf-8-sig": "UTF-8 (BOM)", "utf-8": "UTF-8", "cp1252": "Windows-1252",
                       "latin-1": "Latin-1"}.get(encoding, encoding)
    text = text.lstrip("\ufeff")
    first = text.split("\n", 1)[0].rstrip("\r")
    sep = sniff_separator(first)
    report.separator = sep if sep != "\t" else "tabulation"
    reader = csv.reader(iter_lines(text), delimiter=sep, quotechar='"')
    lines: list[tuple[int, dict[int, Cell]]] = []  # the first line, then every non-empty one
    try:
        for i, fields in enumerate(reader):
            line = reader.line_num
            cells = {}
            for pos, raw in enumerate(fields, 1):
                value = raw.strip()
                formula = value if value.startswith("=") and len(value) > 1 else None
                cell = Cell(None if formula else value, formula)
                if not cell.empty:
                    cells[pos] = cell
            if i == 0 or cells:
                lines.append((line, cells))
                if len(lines) > MAX_ROWS + 2:
                    report.add(ERROR, f"plus de {MAX_ROWS} lignes de données : ce n'est pas un fichier du modèle "
                               "(une ligne par quartier)", row=line, csv=True)
                    return None
    except csv.Error as err:
        report.add(ERROR, f"ligne CSV illisible ({err})", row=reader.line_num, csv=True)
        return None
    return _table(None, lines, letters=False)


# -- checking ----------------------------------------------------------------------------------------

def _norm(text: object) -> str:
    """Header / sheet name normalisation: ``Millésime`` → ``millesime``, ``Code QPV`` → ``code_qpv``."""
    s = unicodedata.normalize("NFKD", str(text)).encode("ascii", "ignore").decode().strip().lower()
    return re.sub(r"[\s\-]+", "_", s)


def _text(cell: Cell | None) -> str:
    if cell is None or cell.value is None:
        return ""
    v = cell.value
    if isinstance(v, float) and v.is_integer():
        v = int(v)
    return _SPACES_RE.sub(" ", str(v)).strip()


def _parse_millesime(cell: Cell) -> int:
    v = cell.value
    if isinstance(v, bool) or isinstance(v, (datetime, date, time)):
        raise ValueError
    if isinstance(v, int):
        return v
    if isinstance(v, float):
        if v.is_integer():
            return int(v)
        raise ValueError
    s = _SPACES_RE.sub("", str(v))
    if re.fullmatch(r"\d{4}", s):
        return int(s)
    raise ValueError


def _parse_value(cell: Cell) -> tuple[float | None, str, str | None, str | None]:
    """A non-empty ``valeur`` cell → (number, statut, percent, problem). ``percent`` is ``format`` for an XLSX cell
    formatted as a percentage (it stores 0,125 for « 12,5 % »), ``signe`` for a text ending with %."""
    v = cell.value
    if isinstance(v, bool) or isinstance(v, (datetime, date, time)):
        return None, "invalide", None, f"« {v} » n'est pas un nombre : écrivez un nombre, « secret » ou laissez la " \
            "cellule vide si la valeur est inconnue"
    if isinstance(v, (int, float)):
        if not math.isfinite(float(v)):
            return None, "invalide", None, "valeur non finie : écrivez un nombre"
        return float(v), "disponible", "format" if cell.number_format and "%" in cell.number_format else None, None
    raw = _text(cell)
    if _norm(raw) in SECRET_WORDS:
        return None, "secret_statistique", None, None
    try:
        return parse_number(raw.rstrip("%")), "disponible", "signe" if raw.endswith("%") else None, None
    except ValueError:
        return None, "invalide", None, (
            f"« {raw[:60]} » n'est pas un nombre : écrivez un nombre (virgule décimale acceptée, ex. 12,5 ou "
            "1 234,5), « secret » si la valeur est couverte par le secret statistique, ou laissez la cellule vide si "
            "elle est inconnue")


def validate_file(path: Path | str, *, perimetre: str = DEFAULT_PERIMETRE, file_name: str | None = None,
                  year: int | None = None) -> Report:
    """Check a partner file; ``file_name`` is the name it was sent under (for the report only)."""
    report = Report(file_name=clean_file_name(file_name or Path(path).name))
    data = read_file(path, report)
    if data is not None:
        validate_bytes(data, report, perimetre=perimetre, year=year)
    return report


def read_file(path: Path | str, report: Report) -> bytes | None:
    """The file's bytes, or None (and an error in ``report``) if it cannot be read or is over the size limit;
    never reads more than the limit. Sets the report's size and sha256."""
    path = Path(path)
    limit = max_bytes()
    try:
        if not path.is_file():
            raise IsADirectoryError(str(path))
        size = path.stat().st_size
        report.size = size
        if size > limit:
            report.add(ERROR, f"fichier trop volumineux ({fr_size(size)}) : la limite est de {fr_size(limit)}. "
                       "Un fichier du modèle (une ligne par quartier) pèse quelques dizaines de Ko")
            return None
        with open(path, "rb") as fh:
            data = fh.read(limit + 1)
    except OSError as err:
        report.add(ERROR, f"fichier illisible ({err.__class__.__name__})")
        return None
    if len(data) > limit:
        report.add(ERROR, f"fichier trop volumineux : la limite est de {fr_size(limit)}")
        return None
    report.size = len(data)
    report.sha256 = hashlib.sha256(data).hexdigest()
    return data


def validate_bytes(data: bytes, report: Report, *, perimetre: str = DEFAULT_PERIMETRE,
                   year: int | None = None) -> Report:
    """Check the content of a file already read (:func:`read_file`); the problems go into ``report``."""
    ext = os.path.splitext(report.file_name)[1].lower()
    kind = sniff(data)
    if kind == "empty":
        report.add(ERROR, "le fichier est vide")
        return report
    if ext not in ACCEPTED_EXTENSIONS:
        hint = {".xlsm": " : les classeurs avec macros sont refusés",
                ".xls": " : enregistrez le classeur au format « Classeur Excel (.xlsx) »",
                ".ods": " : enregistrez le classeur au format .xlsx"}.get(ext, "")
        report.add(ERROR, f"extension « {ext or '(aucune)'} » non acceptée{hint} ; envoyez le modèle rempli, "
                   "en .xlsx ou en .csv")
    if kind == "xlsm":
        report.add(ERROR, "le classeur contient des macros (VBA) : il est refusé sans être ouvert. Enregistrez-le "
                   "au format « Classeur Excel (.xlsx) », sans macros")
        return report
    expected = {".xlsx": "xlsx", ".csv": "text"}.get(ext)
    if expected and kind != expected:
        report.add(ERROR, f"le fichier porte l'extension « {ext} » mais son contenu est {KIND_LABELS.get(kind, kind)}"
                   " : ce n'est pas ce que son extension annonce")
    if kind == "xlsx":
        report.format = "xlsx"
        problem = check_zip_size(data, max_unzipped_bytes())
        if problem:
            report.add(ERROR, problem)
            return report
        table = read_xlsx(data, report)
    elif kind == "text":
        report.format = "csv"
        table = read_csv(data, report)
    else:
        if not expected:
            report.add(ERROR, f"le contenu du fichier est {KIND_LABELS.get(kind, kind)} : seuls un classeur .xlsx ou "
                       "un fichier .csv sont acceptés")
        return report
    if table is not None:
        check_table(table, report, perimetre=perimetre, year=year or date.today().year)
    return report


def _single_value(rows_by_value: dict, err, *, column: str, message) -> object | None:
    """The value most rows carry; every row carrying another one is an error (``message(main, other)``)."""
    if not rows_by_value:
        return None
    main = max(rows_by_value, key=lambda k: len(rows_by_value[k]))
    for value, rows in sorted(rows_by_value.items()):
        if value != main:
            for r in rows:
                err(message(main, value), row=r, column=column)
    return main


def check_table(table: Table, report: Report, *, perimetre: str, year: int) -> None:
    is_csv = table.sheet is None
    columns: dict[str, int] = {}  # column name → position
    letters = {pos: letter for pos, _, letter in table.header}

    def where(row=None, column=None, cell=None, letter=None) -> dict:
        if column in columns and letter is None:
            letter = letters.get(columns[column])
        return {"sheet": table.sheet, "row": row, "column": column, "letter": letter, "cell": cell, "csv": is_csv}

    def err(message, **kw):
        report.add(ERROR, message, **where(**kw))

    # header (row 1, or row 2 under the template's row of labels)
    hr = table.header_row
    if not table.header:
        err("la ligne 1 doit contenir les en-têtes des colonnes : " + ", ".join(COLUMNS), row=1)
        return
    for pos, raw, letter in table.header:
        key = _norm(raw)
        shown = {"row": hr, "column": str(raw), "letter": letter or f"champ n° {pos}"}
        if key in COLUMNS:
            if key in columns:
                err(f"colonne « {key} » en double : gardez-en une seule", **shown)
            else:
                columns[key] = pos
        else:
            err(f"colonne en trop « {raw} » : le modèle a exactement les colonnes {', '.join(COLUMNS)} ; "
                "supprimez-la (mettez vos remarques dans « commentaire »)", **shown)
    for col in COLUMNS:
        if col not in columns:
            err(f"colonne manquante « {col} » : les colonnes du modèle sont {', '.join(COLUMNS)}, en ligne {hr}",
                row=hr, column=col)
    header_positions = {pos for pos, _, _ in table.header}
    name_of = {pos: name for name, pos in columns.items()}

    catalogue = indicateurs()
    partners = partner_indicators()
    all_qpv = known_qpv()
    perimeter = set(perimeter_qpv_codes(perimetre))
    if not table.rows:
        err("aucune ligne de données sous l'en-tête : une ligne par quartier, à partir de la ligne {hr + 1}",
            row=hr + 1)
        return

    parsed: list[dict] = []  # one per data row
    indicators: dict[str, list[int]] = {}
    millesimes: dict[int, list[int]] = {}
    partner_names: dict[str, list[int]] = {}
    seen_qpv: dict[str, int] = {}
    stray_reported: set[int] = set()
    for r, cells in table.rows:
        # data in a column with no header
        for pos, cell in cells.items():
            if pos not in header_positions and pos not in stray_reported:
                stray_reported.add(pos)
                col = _letter(pos) if not is_csv else f"champ n° {pos}"
                err(f"valeur « {_text(cell) or cell.formula} » dans une colonne sans en-tête ({col}) : "
                    "le modèle n'a que les colonnes " + ", ".join(COLUMNS), row=r, cell=cell.ref)
        # formulas where values are expected
        for pos, cell in cells.items():
            if cell.formula is not None and pos in name_of:
                err(f"formule « {cell.formula[:60]} » à la place d'une valeur : les formules ne sont ni calculées "
                    "ni acceptées ; remplacez-la par sa valeur (copier, puis collage spécial > valeurs)",
                    row=r, column=name_of[pos], cell=cell.ref)

        def get(name: str, _cells=cells) -> Cell | None:
            pos = columns.get(name)
            cell = _cells.get(pos) if pos else None
            return None if cell is None or cell.formula is not None else cell

        # indicateur
        ind = _text(get("indicateur"))
        ind_cell = get("indicateur")
        if "indicateur" in columns and not (cells.get(columns["indicateur"]) or Cell()).formula:
            if not ind:
                err("indicateur manquant : recopiez l'identifiant de l'indicateur du modèle", row=r,
                    column="indicateur", cell=ind_cell.ref if ind_cell else None)
            elif ind not in catalogue:
                close = difflib.get_close_matches(ind, list(partners), n=1)
                err(f"indicateur inconnu « {ind} »" + (f" (vouliez-vous dire « {close[0]} » ?)" if close else "")
                    + " : l'indicateur est lu dans cette colonne, jamais dans le nom du fichier",
                    row=r, column="indicateur", cell=ind_cell.ref)
            elif ind not in partners:
                err(f"l'indicateur « {ind} » n'est pas fourni par les partenaires (il est calculé par l'observatoire "
                    "à partir de sources ouvertes) : seuls les baromètres attendus des partenaires sont acceptés",
                    row=r, column="indicateur", cell=ind_cell.ref)
            else:
                indicators.setdefault(ind, []).append(r)
        # code_qpv
        code_cell = get("code_qpv")
        code = _text(code_cell).upper().replace(" ", "")
        code_ok = False
        if "code_qpv" in columns and not (cells.get(columns["code_qpv"]) or Cell()).formula:
            at = {"row": r, "column": "code_qpv", "cell": code_cell.ref if code_cell else None}
            if not code:
                err("code QPV manquant : chaque ligne porte le code d'un quartier (ex. QN01306M)", **at)
            elif QPV_2015_RE.match(code):
                err(f"« {code} » est un code de la géographie prioritaire 2015 : utilisez le code QPV 2024 "
                    "(QN + 5 caractères + N/M/I/C) du modèle", **at)
            elif not QPV_2024_RE.match(code):
                err(f"code QPV « {_text(code_cell)} » mal formé : un code QPV 2024 s'écrit QN + département + 2 "
                    "chiffres + N, M ou I (ex. QN01306M)", **at)
            elif code not in all_qpv:
                err(f"code QPV inconnu « {code} » : il n'existe pas dans la liste des QPV 2024", **at)
            elif code not in perimeter:
                err(f"le QPV « {code} » ({all_qpv[code]['libelle_qpv']}) n'est pas dans le périmètre de "
                    "l'observatoire", **at)
            elif code in seen_qpv:
                err(f"QPV « {code} » en double (déjà ligne {seen_qpv[code]}) : une seule ligne par quartier", **at)
            else:
                seen_qpv[code] = r
                code_ok = True
        # valeur
        val_cell = get("valeur")
        number = None
        statut = "invalide" if "valeur" in columns and (cells.get(columns["valeur"]) or Cell()).formula else "non_publie"
        pct = None
        if val_cell is not None and not val_cell.empty:
            number, statut, pct, problem = _parse_value(val_cell)
            if problem:
                err(problem, row=r, column="valeur", cell=val_cell.ref)
        # millesime
        mil_cell = get("millesime")
        if mil_cell is not None and not mil_cell.empty:
            at = {"row": r, "column": "millesime", "cell": mil_cell.ref}
            try:
                m = _parse_millesime(mil_cell)
            except ValueError:
                err(f"millésime « {_text(mil_cell)[:30]} » invalide : écrivez l'année décrite par les données, sur "
                    f"4 chiffres (de {FIRST_MILLESIME} à {year})", **at)
            else:
                if not FIRST_MILLESIME <= m <= year:
                    err(f"millésime {m} hors de la période acceptée ({FIRST_MILLESIME} à {year}) : le contrat de "
                        f"ville commence en {FIRST_MILLESIME}", **at)
                else:
                    millesimes.setdefault(m, []).append(r)
        elif statut in ("disponible", "secret_statistique") and "millesime" in columns and not (
                cells.get(columns["millesime"]) or Cell()).formula:
            err("millésime manquant sur une ligne qui porte une valeur : écrivez l'année décrite par les données",
                row=r, column="millesime")
        # partenaire, commentaire, nom_qpv
        part = _text(get("partenaire"))
        if part:
            if len(part) > MAX_PARTNER_NAME:
                err(f"nom du partenaire trop long ({len(part)} caractères, au plus {MAX_PARTNER_NAME})", row=r,
                    column="partenaire")
            else:
                partner_names.setdefault(part, []).append(r)
        for name in ("commentaire", "nom_qpv"):
            text = _text(get(name))
            if len(text) > MAX_TEXT:
                err(f"texte trop long ({len(text)} caractères, au plus {MAX_TEXT})", row=r, column=name)
        parsed.append({"ligne": r, "code_qpv": code if code_ok else None, "valeur": number, "statut": statut,
                       "commentaire": _text(get("commentaire")) or None, "nom_qpv": _text(get("nom_qpv")) or None,
                       "cell": val_cell, "pct": pct})

    # one indicator, one millésime, one partner per file
    report.indicateur = _single_value(indicators, err, column="indicateur", message=lambda main, other: (
        f"plusieurs indicateurs dans le même fichier (« {main} » et « {other} ») : envoyez un fichier par "
        "indicateur"))
    report.millesime = _single_value(millesimes, err, column="millesime", message=lambda main, other: (
        f"plusieurs millésimes dans le même fichier ({main} et {other}) : envoyez un fichier par millésime"))
    if report.millesime is None and "millesime" in columns and not any(
            p.column == "millesime" for p in report.errors):
        err(f"aucun millésime renseigné : écrivez l'année décrite par les données (de {FIRST_MILLESIME} à {year})",
            column="millesime")
    if len(partner_names) > 1:
        listed = ", ".join(f"« {n} » (ligne {rows[0]})" for n, rows in partner_names.items())
        err(f"plusieurs partenaires dans le même fichier ({listed}) : un fichier par partenaire, sous un seul nom",
            column="partenaire")
    elif not partner_names and "partenaire" in columns:
        err("partenaire non renseigné : écrivez le nom de votre organisme dans la colonne « partenaire »",
            column="partenaire")
    report.partenaire = next(iter(partner_names)) if len(partner_names) == 1 else None
    if "valeur" in columns and not any(p["statut"] in ("disponible", "secret_statistique", "invalide")
                                       for p in parsed) and not any(
            p.column == "valeur" for p in report.errors):
        err("aucune valeur renseignée : la colonne « valeur » est vide sur toutes les lignes",
            column="valeur")

    # values against the catalogue (unit, range, counts never negative)
    info = catalogue.get(report.indicateur or "")
    if info:
        lo, hi = info.get("valeur_min"), info.get("valeur_max")
        unit = unit_label(info["unite"])
        for p in parsed:
            if p["valeur"] is None:
                continue
            at = {"row": p["ligne"], "column": "valeur", "cell": p["cell"].ref if p["cell"] else None}
            if p["pct"] and info["unite"] != "pourcentage":
                err(f"valeur écrite en pourcentage, mais l'unité de l'indicateur est « {unit} » : écrivez la valeur "
                    "dans cette unité, dans une cellule au format Standard", **at)
                continue
            if p["pct"] == "format":
                p["valeur"] = round(p["valeur"] * 100, 10)
                report.add(WARNING, f"cellule au format pourcentage : lue comme {fr_number(p['valeur'])} (l'unité est "
                           "le pourcentage, de 0 à 100)", **where(**at))
            v = p["valeur"]
            if v < 0 and info.get("agregation") == "somme":
                err(f"valeur négative ({fr_number(v)}) : un effectif ou une quantité ne peut pas être négatif "
                    f"(unité : {unit})", **at)
            elif (lo is not None and v < lo) or (hi is not None and v > hi):
                err(f"valeur {fr_number(v)} hors de la plage plausible de l'indicateur ({fr_number(lo)} à "
                    f"{fr_number(hi)}, unité : {unit})", **at)
    # the perimeter's QPV absent from the file
    if "code_qpv" in columns and seen_qpv:
        report.missing_qpv = sorted(perimeter - set(seen_qpv))
        if report.missing_qpv:
            n = len(report.missing_qpv)
            shown = ", ".join(report.missing_qpv[:10]) + (" …" if n > 10 else "")
            report.add(WARNING, f"{n} quartier{'s' if n > 1 else ''} du périmètre absent{'s' if n > 1 else ''} du "
                       f"fichier ({shown}) : {'ils seront publiés' if n > 1 else 'il sera publié'} comme « non publié »",
                       **where(column="code_qpv"))
    empty = [p["ligne"] for p in parsed if p["statut"] == "non_publie" and p["code_qpv"]]
    if empty and len(empty) < len(parsed):
        n = len(empty)
        report.add(WARNING, f"{n} ligne{'s' if n > 1 else ''} sans valeur (cellule vide : valeur inconnue), "
                   f"publiée{'s' if n > 1 else ''} comme « non publié » : lignes "
                   + ", ".join(str(r) for r in empty[:15]) + (" …" if n > 15 else ""),
                   **where(column="valeur"))
    if report.ok:
        report.rows = [{k: p[k] for k in ("ligne", "code_qpv", "nom_qpv", "valeur", "statut", "commentaire")}
                       for p in parsed]
