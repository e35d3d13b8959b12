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
French report printed by ``observatoire partenaires valider`` and written next to the processed inbox fil

The parts: :mod:`.rules`, :mod:`.report`, :mod:`.reading`, :mod:`.checks`.
"""

from __future__ import annotations

import os
from datetime import date
from pathlib import Path

from observatoire.config import DEFAULT_PERIMETRE
from observatoire.partenaires.checks import (  # noqa: F401 - re-exported
    check_table,
)
from observatoire.partenaires.reading import (  # noqa: F401 - re-exported
    KIND_LABELS,
    Cell,
    Table,
    check_zip_size,
    header_row_of,
    read_csv,
    read_file,
    read_xlsx,
    sniff,
)
from observatoire.partenaires.report import (  # noqa: F401 - re-exported
    Problem,
    Report,
)
from observatoire.partenaires.rules import (  # noqa: F401 - re-exported
    ACCEPTED_EXTENSIONS,
    COLUMNS,
    DATA_SHEET,
    DEFAULT_MAX_BYTES,
    DEFAULT_MAX_UNZIPPED_BYTES,
    ERROR,
    FIRST_MILLESIME,
    MAX_PARTNER_NAME,
    MAX_ROWS,
    MAX_TEXT,
    MAX_ZIP_MEMBERS,
    QPV_2015_RE,
    QPV_2024_RE,
    SECRET_WORDS,
    UNIT_LABELS,
    WARNING,
    clean_file_name,
    fr_number,
    fr_size,
    max_bytes,
    max_unzipped_bytes,
    partner_indicators,
    unit_label,
)


def validate_file(path: Path | str, *, perimetre: str = DEFAULT_PERIMETRE, file_name: str | None = None,
                  year: int | None = None) -> Report:
    """Check a partner file; ``file_name`` is the name it was sent under (for the report only)."""
    report = Report(file_name=clean_file_name(file_name or Path(path).name))
    data = read_file(path, report)
    if data is not None:
        validate_bytes(data, report, perimetre=perimetre, year=year)
    return report


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


