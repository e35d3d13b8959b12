"""Reading a partner file without trusting it: its size, what its bytes really are, the zip-bomb guard, and the
workbook or CSV as a table of cells (formulas seen, never evaluated)."""

from __future__ import annotations

import csv
import hashlib
import io
import zipfile
import zlib
from dataclasses import dataclass
from pathlib import Path

from observatoire.partenaires.report import Report
from observatoire.partenaires.rules import (
    COLUMNS,
    DATA_SHEET,
    ERROR,
    MAX_ROWS,
    MAX_ZIP_MEMBERS,
    _norm,
    fr_size,
    max_bytes,
)

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
            if (r == 1 or cells) and not _kept(raw, (r, cells), report, sheet=sheet_name, row=r):
                return None
        return _table(sheet_name, raw, letters=True)
    finally:
        wb.close()


def _kept(rows: list, item: tuple[int, dict[int, Cell]], report: Report, **where) -> bool:
    """Append ``item`` (a row and its cells); False (and an error in ``report``) once the file holds more rows
    than a template can."""
    rows.append(item)
    if len(rows) > MAX_ROWS + 2:
        report.add(ERROR, f"plus de {MAX_ROWS} lignes de données : ce n'est pas un fichier du modèle (une ligne par "
                   "quartier)", **where)
        return False
    return True


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
            if (i == 0 or cells) and not _kept(lines, (line, cells), report, row=line, csv=True):
                return None
    except csv.Error as err:
        report.add(ERROR, f"ligne CSV illisible ({err})", row=reader.line_num, csv=True)
        return None
    return _table(None, lines, letters=False)


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


