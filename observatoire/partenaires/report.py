"""The French report of a partner file: every problem with its sheet, row, column and cell, errors and warnings."""

from __future__ import annotations

from dataclasses import dataclass, field

from observatoire.partenaires.rules import ERROR, WARNING, _plural, fr_size, partner_indicators, unit_label

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


