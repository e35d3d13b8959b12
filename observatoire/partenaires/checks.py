"""Checking the table of a partner file: the header, every row (indicator, QPV, millésime, value, texts), the file
as a whole (one indicator, one millésime, one partner) and the values against the catalogue."""

from __future__ import annotations

import difflib
import math
import re
from datetime import date, datetime, time

from extract.tables import parse_number  # French or English numbers, as the sources' parsers read them
from observatoire.catalogue import indicateurs
from observatoire.partenaires.reading import Cell, Table, _letter
from observatoire.partenaires.report import Report
from observatoire.partenaires.rules import (
    _SPACES_RE,
    COLUMNS,
    ERROR,
    FIRST_MILLESIME,
    MAX_PARTNER_NAME,
    MAX_TEXT,
    QPV_2015_RE,
    QPV_2024_RE,
    SECRET_WORDS,
    WARNING,
    _norm,
    fr_number,
    partner_indicators,
    unit_label,
)
from observatoire.perimetre import known_qpv, perimeter_qpv_codes

# -- checking ----------------------------------------------------------------------------------------

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
    """Every problem of the table, into ``report``: the header, then each row, then the file as a whole, the
    values against the catalogue and the perimeter's QPV left out. Sets the report's indicator, millésime, partner
    and, when the file is valid, its rows."""
    check = _TableCheck(table, report, perimetre=perimetre, year=year)
    if not check.header():
        return
    if not table.rows:
        check.err("aucune ligne de données sous l'en-tête : une ligne par quartier, à partir de la ligne "
                  f"{table.header_row + 1}", row=table.header_row + 1)
        return
    for r, cells in table.rows:
        check.row(r, cells)
    check.one_of_each()
    check.values()
    check.left_out()
    if report.ok:
        report.rows = [{k: p[k] for k in ("ligne", "code_qpv", "nom_qpv", "valeur", "statut", "commentaire")}
                       for p in check.parsed]


class _TableCheck:
    """The state of one table's check: where each column is, what the rows said so far."""

    def __init__(self, table: Table, report: Report, *, perimetre: str, year: int):
        self.table, self.report, self.year = table, report, year
        self.is_csv = table.sheet is None
        self.columns: dict[str, int] = {}  # column name → position
        self.letters = {pos: letter for pos, _, letter in table.header}
        self.header_positions = {pos for pos, _, _ in table.header}
        self.name_of: dict[int, str] = {}
        self.catalogue = indicateurs()
        self.partners = partner_indicators()
        self.all_qpv = known_qpv()
        self.perimeter = set(perimeter_qpv_codes(perimetre))
        self.parsed: list[dict] = []  # one per data row
        self.indicators: dict[str, list[int]] = {}
        self.millesimes: dict[int, list[int]] = {}
        self.partner_names: dict[str, list[int]] = {}
        self.seen_qpv: dict[str, int] = {}
        self.stray_reported: set[int] = set()

    def where(self, row=None, column=None, cell=None, letter=None) -> dict:
        if column in self.columns and letter is None:
            letter = self.letters.get(self.columns[column])
        return {"sheet": self.table.sheet, "row": row, "column": column, "letter": letter, "cell": cell,
                "csv": self.is_csv}

    def err(self, message, **kw) -> None:
        self.report.add(ERROR, message, **self.where(**kw))

    def _formula_in(self, cells: dict[int, Cell], name: str) -> bool:
        return bool((cells.get(self.columns[name]) or Cell()).formula)

    # -- the header (row 1, or row 2 under the template's row of labels) ------------------------------------
    def header(self) -> bool:
        """Check the header; False when there is none (nothing else can be read)."""
        hr = self.table.header_row
        if not self.table.header:
            self.err("la ligne 1 doit contenir les en-têtes des colonnes : " + ", ".join(COLUMNS), row=1)
            return False
        for pos, raw, letter in self.table.header:
            key = _norm(raw)
            shown = {"row": hr, "column": str(raw), "letter": letter or f"champ n° {pos}"}
            if key in COLUMNS:
                if key in self.columns:
                    self.err(f"colonne « {key} » en double : gardez-en une seule", **shown)
                else:
                    self.columns[key] = pos
            else:
                self.err(f"colonne en trop « {raw} » : le modèle a exactement les colonnes {', '.join(COLUMNS)} ; "
                         "supprimez-la (mettez vos remarques dans « commentaire »)", **shown)
        for col in COLUMNS:
            if col not in self.columns:
                self.err(f"colonne manquante « {col} » : les colonnes du modèle sont {', '.join(COLUMNS)}, en "
                         f"ligne {hr}", row=hr, column=col)
        self.name_of = {pos: name for name, pos in self.columns.items()}
        return True

    # -- one row ---------------------------------------------------------------------------------------------
    def row(self, r: int, cells: dict[int, Cell]) -> None:
        self._layout(r, cells)

        def get(name: str) -> Cell | None:
            pos = self.columns.get(name)
            cell = cells.get(pos) if pos else None
            return None if cell is None or cell.formula is not None else cell

        self._indicator(r, cells, get("indicateur"))
        code = self._code(r, cells, get("code_qpv"))
        val_cell = get("valeur")
        number = None
        statut = "invalide" if "valeur" in self.columns and self._formula_in(cells, "valeur") else "non_publie"
        pct = None
        if val_cell is not None and not val_cell.empty:
            number, statut, pct, problem = _parse_value(val_cell)
            if problem:
                self.err(problem, row=r, column="valeur", cell=val_cell.ref)
        self._millesime(r, cells, get("millesime"), statut)
        self._texts(r, get)
        self.parsed.append({"ligne": r, "code_qpv": code, "valeur": number, "statut": statut,
                            "commentaire": _text(get("commentaire")) or None, "nom_qpv": _text(get("nom_qpv")) or None,
                            "cell": val_cell, "pct": pct})

    def _layout(self, r: int, cells: dict[int, Cell]) -> None:
        """Data in a column with no header; formulas where values are expected."""
        for pos, cell in cells.items():
            if pos not in self.header_positions and pos not in self.stray_reported:
                self.stray_reported.add(pos)
                col = _letter(pos) if not self.is_csv else f"champ n° {pos}"
                self.err(f"valeur « {_text(cell) or cell.formula} » dans une colonne sans en-tête ({col}) : "
                         "le modèle n'a que les colonnes " + ", ".join(COLUMNS), row=r, cell=cell.ref)
        for pos, cell in cells.items():
            if cell.formula is not None and pos in self.name_of:
                self.err(f"formule « {cell.formula[:60]} » à la place d'une valeur : les formules ne sont ni "
                         "calculées ni acceptées ; remplacez-la par sa valeur (copier, puis collage spécial > "
                         "valeurs)", row=r, column=self.name_of[pos], cell=cell.ref)

    def _indicator(self, r: int, cells: dict[int, Cell], ind_cell: Cell | None) -> None:
        ind = _text(ind_cell)
        if "indicateur" not in self.columns or self._formula_in(cells, "indicateur"):
            return
        if not ind:
            self.err("indicateur manquant : recopiez l'identifiant de l'indicateur du modèle", row=r,
                     column="indicateur", cell=ind_cell.ref if ind_cell else None)
        elif ind not in self.catalogue:
            close = difflib.get_close_matches(ind, list(self.partners), n=1)
            self.err(f"indicateur inconnu « {ind} »" + (f" (vouliez-vous dire « {close[0]} » ?)" if close else "")
                     + " : l'indicateur est lu dans cette colonne, jamais dans le nom du fichier",
                     row=r, column="indicateur", cell=ind_cell.ref)
        elif ind not in self.partners:
            self.err(f"l'indicateur « {ind} » n'est pas fourni par les partenaires (il est calculé par "
                     "l'observatoire à partir de sources ouvertes) : seuls les baromètres attendus des partenaires "
                     "sont acceptés", row=r, column="indicateur", cell=ind_cell.ref)
        else:
            self.indicators.setdefault(ind, []).append(r)

    def _code(self, r: int, cells: dict[int, Cell], code_cell: Cell | None) -> str | None:
        """The row's QPV code when it is valid, of the perimeter and new in the file; else None."""
        code = _text(code_cell).upper().replace(" ", "")
        if "code_qpv" not in self.columns or self._formula_in(cells, "code_qpv"):
            return None
        at = {"row": r, "column": "code_qpv", "cell": code_cell.ref if code_cell else None}
        if not code:
            self.err("code QPV manquant : chaque ligne porte le code d'un quartier (ex. QN01306M)", **at)
        elif QPV_2015_RE.match(code):
            self.err(f"« {code} » est un code de la géographie prioritaire 2015 : utilisez le code QPV 2024 "
                     "(QN + 5 caractères + N/M/I/C) du modèle", **at)
        elif not QPV_2024_RE.match(code):
            self.err(f"code QPV « {_text(code_cell)} » mal formé : un code QPV 2024 s'écrit QN + département + 2 "
                     "chiffres + N, M ou I (ex. QN01306M)", **at)
        elif code not in self.all_qpv:
            self.err(f"code QPV inconnu « {code} » : il n'existe pas dans la liste des QPV 2024", **at)
        elif code not in self.perimeter:
            self.err(f"le QPV « {code} » ({self.all_qpv[code]['libelle_qpv']}) n'est pas dans le périmètre de "
                     "l'observatoire", **at)
        elif code in self.seen_qpv:
            self.err(f"QPV « {code} » en double (déjà ligne {self.seen_qpv[code]}) : une seule ligne par quartier",
                     **at)
        else:
            self.seen_qpv[code] = r
            return code
        return None

    def _millesime(self, r: int, cells: dict[int, Cell], mil_cell: Cell | None, statut: str) -> None:
        year = self.year
        if mil_cell is not None and not mil_cell.empty:
            at = {"row": r, "column": "millesime", "cell": mil_cell.ref}
            try:
                m = _parse_millesime(mil_cell)
            except ValueError:
                self.err(f"millésime « {_text(mil_cell)[:30]} » invalide : écrivez l'année décrite par les données, "
                         f"sur 4 chiffres (de {FIRST_MILLESIME} à {year})", **at)
                return
            if not FIRST_MILLESIME <= m <= year:
                self.err(f"millésime {m} hors de la période acceptée ({FIRST_MILLESIME} à {year}) : le contrat de "
                         f"ville commence en {FIRST_MILLESIME}", **at)
            else:
                self.millesimes.setdefault(m, []).append(r)
        elif statut in ("disponible", "secret_statistique") and "millesime" in self.columns and not (
                self._formula_in(cells, "millesime")):
            self.err("millésime manquant sur une ligne qui porte une valeur : écrivez l'année décrite par les "
                     "données", row=r, column="millesime")

    def _texts(self, r: int, get) -> None:
        """partenaire, commentaire, nom_qpv: lengths, and the partner's name."""
        part = _text(get("partenaire"))
        if part:
            if len(part) > MAX_PARTNER_NAME:
                self.err(f"nom du partenaire trop long ({len(part)} caractères, au plus {MAX_PARTNER_NAME})", row=r,
                         column="partenaire")
            else:
                self.partner_names.setdefault(part, []).append(r)
        for name in ("commentaire", "nom_qpv"):
            text = _text(get(name))
            if len(text) > MAX_TEXT:
                self.err(f"texte trop long ({len(text)} caractères, au plus {MAX_TEXT})", row=r, column=name)

    # -- the file as a whole ---------------------------------------------------------------------------------
    def one_of_each(self) -> None:
        """One indicator, one millésime, one partner per file; at least one value."""
        report, err, year = self.report, self.err, self.year
        report.indicateur = _single_value(self.indicators, err, column="indicateur", message=lambda main, other: (
            f"plusieurs indicateurs dans le même fichier (« {main} » et « {other} ») : envoyez un fichier par "
            "indicateur"))
        report.millesime = _single_value(self.millesimes, err, column="millesime", message=lambda main, other: (
            f"plusieurs millésimes dans le même fichier ({main} et {other}) : envoyez un fichier par millésime"))
        if report.millesime is None and "millesime" in self.columns and not any(
                p.column == "millesime" for p in report.errors):
            err(f"aucun millésime renseigné : écrivez l'année décrite par les données (de {FIRST_MILLESIME} à "
                f"{year})", column="millesime")
        if len(self.partner_names) > 1:
            listed = ", ".join(f"« {n} » (ligne {rows[0]})" for n, rows in self.partner_names.items())
            err(f"plusieurs partenaires dans le même fichier ({listed}) : un fichier par partenaire, sous un seul "
                "nom", column="partenaire")
        elif not self.partner_names and "partenaire" in self.columns:
            err("partenaire non renseigné : écrivez le nom de votre organisme dans la colonne « partenaire »",
                column="partenaire")
        report.partenaire = next(iter(self.partner_names)) if len(self.partner_names) == 1 else None
        if "valeur" in self.columns and not any(p["statut"] in ("disponible", "secret_statistique", "invalide")
                                                for p in self.parsed) and not any(
                p.column == "valeur" for p in report.errors):
            err("aucune valeur renseignée : la colonne « valeur » est vide sur toutes les lignes", column="valeur")

    def values(self) -> None:
        """The values against the catalogue: unit, range, counts never negative."""
        info = self.catalogue.get(self.report.indicateur or "")
        if not info:
            return
        lo, hi = info.get("valeur_min"), info.get("valeur_max")
        unit = unit_label(info["unite"])
        for p in self.parsed:
            if p["valeur"] is None:
                continue
            at = {"row": p["ligne"], "column": "valeur", "cell": p["cell"].ref if p["cell"] else None}
            if p["pct"] and info["unite"] != "pourcentage":
                self.err(f"valeur écrite en pourcentage, mais l'unité de l'indicateur est « {unit} » : écrivez la "
                         "valeur dans cette unité, dans une cellule au format Standard", **at)
                continue
            if p["pct"] == "format":
                p["valeur"] = round(p["valeur"] * 100, 10)
                self.report.add(WARNING, f"cellule au format pourcentage : lue comme {fr_number(p['valeur'])} "
                                "(l'unité est le pourcentage, de 0 à 100)", **self.where(**at))
            v = p["valeur"]
            if v < 0 and info.get("agregation") == "somme":
                self.err(f"valeur négative ({fr_number(v)}) : un effectif ou une quantité ne peut pas être négatif "
                         f"(unité : {unit})", **at)
            elif (lo is not None and v < lo) or (hi is not None and v > hi):
                self.err(f"valeur {fr_number(v)} hors de la plage plausible de l'indicateur ({fr_number(lo)} à "
                         f"{fr_number(hi)}, unité : {unit})", **at)

    def left_out(self) -> None:
        """Warnings: the perimeter's QPV absent from the file, the rows without a value."""
        report = self.report
        if "code_qpv" in self.columns and self.seen_qpv:
            report.missing_qpv = sorted(self.perimeter - set(self.seen_qpv))
            if report.missing_qpv:
                n = len(report.missing_qpv)
                shown = ", ".join(report.missing_qpv[:10]) + (" …" if n > 10 else "")
                report.add(WARNING, f"{n} quartier{'s' if n > 1 else ''} du périmètre absent{'s' if n > 1 else ''} "
                           f"du fichier ({shown}) : {'ils seront publiés' if n > 1 else 'il sera publié'} comme "
                           "« non publié »", **self.where(column="code_qpv"))
        empty = [p["ligne"] for p in self.parsed if p["statut"] == "non_publie" and p["code_qpv"]]
        if empty and len(empty) < len(self.parsed):
            n = len(empty)
            report.add(WARNING, f"{n} ligne{'s' if n > 1 else ''} sans valeur (cellule vide : valeur inconnue), "
                       f"publiée{'s' if n > 1 else ''} comme « non publié » : lignes "
                       + ", ".join(str(r) for r in empty[:15]) + (" …" if n > 15 else ""),
                       **self.where(column="valeur"))
