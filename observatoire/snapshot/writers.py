"""Writers shared by the snapshot's files: CSV for French Excel and R, the XLSX workbook, the tools' versions."""

from __future__ import annotations

import csv
import math
import platform
import re
from collections.abc import Iterable
from decimal import Decimal
from importlib import metadata
from pathlib import Path
from typing import Any

from observatoire.snapshot.base import _TOOLS
from observatoire.snapshot.cells import Catalogue, Column, csv_cell, neutralise, xlsx_number

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


