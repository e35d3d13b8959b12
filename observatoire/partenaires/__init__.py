"""Partner data: the baromètres no open source provides, sent once a year by the contract's signatories.

* :mod:`.template` writes the file a partner fills (``observatoire partenaires modele``);
* :mod:`.validation` reads a received file without trusting it (size, real format, zip bomb, macros,
  formulas, merged cells) and reports every problem at once, in French, with sheet, row and column;
* :mod:`.store` loads a valid file: the original kept by sha256, a provenance row in the run history, the
  values as Parquet, one current file per (indicateur, millésime), replacement only when asked; the inbox
  processed by the ``observatoire_partenaires`` DAG; the table the pipeline loads (``raw.partenaires_valeurs``).

Everything the partner sees is in French; the data directory layout is::

    partenaires/inbox/                  files dropped for the DAG
    partenaires/fichiers/<sha256>.<ext> originals of the loaded files (read-only, never deleted)
    partenaires/valeurs/<sha256>.parquet the validated values of each loaded file
    partenaires/traites/, rejetes/      inbox files once processed, each with its French report

Nothing here imports a heavy module at import time (openpyxl and pyarrow are imported where used).
"""

from __future__ import annotations

from observatoire.partenaires.validation import (
    COLUMNS,
    DATA_SHEET,
    Problem,
    Report,
    partner_indicators,
    validate_file,
)

__all__ = ["COLUMNS", "DATA_SHEET", "Problem", "Report", "partner_indicators", "validate_file"]
