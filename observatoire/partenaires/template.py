"""The template a partner fills: ``observatoire partenaires modele <indicateur> --format xlsx|csv``.

One row per QPV of the perimeter, the indicator, the QPV code and name pre-filled. The XLSX has a first sheet of
instructions in French (definition, unit, range, millésimes, what to write for an unknown value, who to
contact), the data sheet ``donnees`` and a hidden sheet ``listes`` holding the QPV codes the list refers to.
``donnees`` has two header rows: row 1 the French label of each column, with the indicator's unit on « valeur »
(« Taux d'expulsion … (pour 1 000 ménages) »), a note on each giving the details; row 2 the column identifiers
the import reads (:data:`~observatoire.partenaires.validation.COLUMNS`); the data from row 3, with data
validation (decimal range on ``valeur``, whole range on ``millesime``, list on ``code_qpv``). The validator also
accepts the earlier layout (identifiers in row 1, data from row 2), which partners may still be filling.
The CSV is what Excel in French opens directly: UTF-8 with BOM, ``;``, CRLF, identifiers in its first line.
"""

from __future__ import annotations

import csv
import io
import os
import tempfile
from datetime import date
from pathlib import Path

from observatoire.catalogue import indicateurs, seeds_dir
from observatoire.config import DEFAULT_PERIMETRE
from observatoire.partenaires.validation import (
    COLUMNS,
    DATA_SHEET,
    FIRST_MILLESIME,
    fr_number,
    fr_size,
    max_bytes,
    partner_indicators,
    unit_label,
)
from observatoire.perimetre import known_qpv, perimeter_qpv_codes

FORMATS = ("xlsx", "csv")
DEFAULT_CONTACT = ("l'équipe de l'Observatoire des quartiers du Contrat de ville (Métropole Aix-Marseille-Provence, "
                   "direction de la politique de la ville)")


def contact() -> str:
    """Who partners contact (``OBSERVATOIRE_PARTENAIRES_CONTACT``, e.g. a name and an e-mail address)."""
    from observatoire.config import current_settings

    return current_settings().partenaires_contact or DEFAULT_CONTACT


def template_rows(indicateur: str, perimetre: str, millesime: int | None = None) -> list[list]:
    names = {code: r["libelle_qpv"] for code, r in known_qpv().items()}
    return [[indicateur, code, names.get(code, ""), millesime, None, None, None]
            for code in perimeter_qpv_codes(perimetre)]


def default_name(indicateur: str, fmt: str) -> str:
    return f"modele_{indicateur}.{fmt}"


def write_template(indicateur: str, fmt: str, dest: Path | str | None = None, *,
                   perimetre: str = DEFAULT_PERIMETRE, millesime: int | None = None, year: int | None = None) -> Path:
    """Write the template of ``indicateur`` to ``dest`` (a file, or a directory to write the default name into;
    default: the current directory). Raises ValueError for an indicator that is not a partner's."""
    partners = partner_indicators()
    if indicateur not in partners:
        kind = (indicateurs().get(indicateur) or {}).get("type_source")
        what = (f"« {indicateur} » n'est pas fourni par les partenaires (source {kind})" if kind
                else f"indicateur inconnu « {indicateur} »")
        raise ValueError(f"{what} ; indicateurs attendus des partenaires : {', '.join(sorted(partners))}")
    if fmt not in FORMATS:
        raise ValueError(f"format « {fmt} » inconnu : {' ou '.join(FORMATS)}")
    year = year or date.today().year
    if millesime is not None and not FIRST_MILLESIME <= millesime <= year:
        raise ValueError(f"millésime {millesime} hors de la période acceptée ({FIRST_MILLESIME} à {year})")
    dest = Path(dest) if dest else Path.cwd()
    if dest.is_dir():
        dest = dest / default_name(indicateur, fmt)
    rows = template_rows(indicateur, perimetre, millesime)
    if fmt == "csv":
        buf = io.StringIO(newline="")
        writer = csv.writer(buf, delimiter=";", lineterminator="\r\n")
        writer.writerow(COLUMNS)
        writer.writerows(["" if v is None else v for v in row] for row in rows)
        content = buf.getvalue().encode("utf-8-sig")
    else:
        content = _xlsx(indicateur, partners[indicateur], rows, year=year)
    _write_atomic(dest, content)
    return dest


def _write_atomic(dest: Path, content: bytes) -> None:
    dest.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(prefix=f".{dest.name}.", suffix=".tmp", dir=dest.parent)
    try:
        with os.fdopen(fd, "wb") as fh:
            fh.write(content)
        os.replace(tmp, dest)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise


def _defi_label(defi: str) -> str:
    with open(seeds_dir() / "ref_defi.csv", encoding="utf-8", newline="") as fh:
        labels = {r["defi"]: f"{r['numero_defi']}. {r['libelle_defi']}" for r in csv.DictReader(fh)}
    return labels.get(defi, defi)


def instructions(indicateur: str, info: dict, *, year: int) -> list[tuple[str, str]]:
    """The instruction sheet's content: (heading, text) pairs; a heading alone starts a section."""
    lo, hi = info.get("valeur_min"), info.get("valeur_max")
    out = [
        ("Observatoire des quartiers — Contrat de ville métropolitain Aix-Marseille-Provence 2024-2030", ""),
        (f"Modèle de saisie : {info['libelle']}", ""),
        ("", ""),
        ("L'indicateur", None),
        ("Identifiant (ne pas modifier)", indicateur),
        ("Définition", info["libelle"]),
        ("Défi du contrat", _defi_label(info.get("defi") or "")),
        ("Unité de la colonne « valeur »", unit_label(info["unite"])),
        ("Valeurs acceptées", f"de {fr_number(lo)} à {fr_number(hi)}"),
        ("Millésimes acceptés", f"de {FIRST_MILLESIME} à {year} : l'année que décrivent les données, pas l'année "
                                "d'envoi"),
        ("Source attendue", info.get("motif_indisponibilite") or ""),
    ]
    if info.get("seuil_secret"):
        out.append(("Secret statistique", f"un effectif inférieur à {fr_number(info['seuil_secret'])} n'est jamais "
                    "publié : vous pouvez l'écrire, l'observatoire le masque ; ou écrivez « secret »"))
    out += [
        ("", ""),
        ("Comment remplir la feuille « donnees »", None),
        ("1.", "Une ligne par quartier prioritaire (QPV). Les colonnes indicateur, code_qpv et nom_qpv sont "
               "pré-remplies : ne les modifiez pas. Ne renommez pas la feuille « donnees », n'ajoutez ni ne "
               "supprimez de colonne. Gardez les deux lignes d'en-tête : la ligne 1 donne le libellé de chaque "
               "colonne (et l'unité de la valeur), la ligne 2 son identifiant, que l'import lit ; les données "
               "commencent en ligne 3."),
        ("2.", f"millesime : l'année décrite, sur 4 chiffres (de {FIRST_MILLESIME} à {year}), la même sur toutes "
               "les lignes. Un fichier = un indicateur et un millésime."),
        ("3.", f"valeur : un nombre dans l'unité « {unit_label(info['unite'])} », sans symbole ni unité. La "
               "virgule décimale est acceptée (12,5), les espaces de milliers aussi (1 234,5)."),
        ("4.", "Valeur inconnue : laissez la cellule « valeur » vide (n'écrivez pas 0). Le quartier sera publié "
               "comme « non publié ». Un quartier absent du fichier est traité de la même façon."),
        ("5.", "Valeur couverte par le secret statistique : écrivez « secret »."),
        ("6.", "commentaire : facultatif, une précision sur la valeur (source, période, réserve)."),
        ("7.", "partenaire : le nom de votre organisme, le même sur toutes les lignes."),
        ("8.", "Pas de cellules fusionnées, pas de formules (copiez puis « collage spécial > valeurs »), pas de "
               "macros."),
        ("9.", f"Enregistrez au format .xlsx (ou .csv, séparateur « ; ») ; au plus {fr_size(max_bytes())}. Le nom "
               "du fichier est libre : l'indicateur est lu dans la colonne « indicateur »."),
        ("", ""),
        ("Après l'envoi", None),
        ("Vérification", "Le fichier est vérifié automatiquement. S'il contient une erreur, rien n'est chargé et "
                         "vous recevez un rapport en français qui indique, pour chaque problème, la feuille, la "
                         "ligne et la colonne : corrigez et renvoyez le fichier entier."),
        ("Remplacement", "Un second fichier pour le même indicateur et le même millésime ne remplace le premier "
                         "qu'à votre demande explicite : précisez-le dans votre envoi."),
        ("Publication", "Les valeurs sont publiées dans l'observatoire lors du traitement suivant, avec le nom de "
                        "votre organisme comme source."),
        ("Contact", contact()),
    ]
    return out


def header_labels(info: dict) -> dict[str, str]:
    """The French label of each column of the data sheet (row 1 of ``donnees``), with the unit on « valeur »;
    none of them reads as an identifier of :data:`COLUMNS` (the validator tells the two header rows apart)."""
    return {
        "indicateur": "Indicateur (identifiant, ne pas modifier)",
        "code_qpv": "Code du QPV (ne pas modifier)",
        "nom_qpv": "Quartier prioritaire (QPV)",
        "millesime": "Millésime (année décrite)",
        "valeur": f"{info['libelle']} ({unit_label(info['unite'])})",
        "commentaire": "Commentaire (facultatif)",
        "partenaire": "Partenaire (votre organisme)",
    }


def header_notes(info: dict) -> dict[str, str]:
    """The details of each column of the data sheet, with the unit of « valeur » (a note on its label in
    row 1)."""
    unit = unit_label(info["unite"])
    return {
        "indicateur": "Indicateur (identifiant, pré-rempli : ne pas modifier)",
        "code_qpv": "Code du quartier prioritaire (QPV 2024, pré-rempli : ne pas modifier)",
        "nom_qpv": "Nom du quartier prioritaire (pré-rempli)",
        "millesime": "Millésime : l'année que décrivent les données (4 chiffres)",
        "valeur": f"{info['libelle']} ({unit}) ; vide si inconnue, « secret » si couverte par le secret "
                  "statistique",
        "commentaire": "Commentaire (facultatif)",
        "partenaire": "Partenaire : le nom de votre organisme",
    }


def _xlsx(indicateur: str, info: dict, rows: list[list], *, year: int) -> bytes:
    from openpyxl import Workbook
    from openpyxl.comments import Comment
    from openpyxl.styles import Alignment, Font, PatternFill
    from openpyxl.worksheet.datavalidation import DataValidation

    wb = Workbook()
    wb.properties.creator = "Observatoire des quartiers"
    wb.properties.title = f"Modèle de saisie {indicateur}"
    guide = wb.active
    guide.title = "instructions"
    guide.column_dimensions["A"].width = 38
    guide.column_dimensions["B"].width = 110
    bold = Font(bold=True)
    wrap = Alignment(wrap_text=True, vertical="top")
    for i, (head, text) in enumerate(instructions(indicateur, info, year=year), 1):
        guide.cell(row=i, column=1, value=head or None).font = Font(bold=True, size=13 if i <= 2 or text is None
                                                                    else 11)
        if text:
            cell = guide.cell(row=i, column=2, value=text)
            cell.alignment = wrap
        guide.cell(row=i, column=1).alignment = wrap

    ws = wb.create_sheet(DATA_SHEET)
    labels, notes = header_labels(info), header_notes(info)
    ws.append([labels[c] for c in COLUMNS])  # row 1: what a person reads
    ws.append(list(COLUMNS))  # row 2: the identifiers the import reads
    header_fill = PatternFill("solid", fgColor="DDEBF7")
    for cell, column in zip(ws[1], COLUMNS, strict=True):
        cell.font = bold
        cell.fill = header_fill
        cell.alignment = wrap
        cell.comment = Comment(notes[column], "Observatoire des quartiers", width=320, height=110)
    for cell in ws[2]:
        cell.font = Font(italic=True, color="595959")
        cell.fill = header_fill
    ws.row_dimensions[1].height = 45
    for row in rows:
        ws.append(row)
    for col, width in zip("ABCDEFG", (34, 14, 42, 14, 30, 40, 34), strict=True):
        ws.column_dimensions[col].width = width
    ws.freeze_panes = "A3"
    first, n = 3, len(rows) + 2

    lists = wb.create_sheet("listes")
    lists.append(["code_qpv"])
    for row in rows:
        lists.append([row[1]])
    lists.sheet_state = "hidden"

    lo, hi = info.get("valeur_min"), info.get("valeur_max")
    unit = unit_label(info["unite"])
    valeur = DataValidation(
        type="decimal", operator="between", formula1=str(lo if lo is not None else -1e15),
        formula2=str(hi if hi is not None else 1e15), allow_blank=True, errorStyle="warning",
        errorTitle="Valeur hors de la plage", error=f"Un nombre de {fr_number(lo)} à {fr_number(hi)} ({unit}), "
        "« secret », ou une cellule vide si la valeur est inconnue. Garder quand même ?",
        promptTitle="valeur", prompt=f"{unit} ; vide si inconnue", showErrorMessage=True, showInputMessage=True)
    millesime = DataValidation(
        type="whole", operator="between", formula1=str(FIRST_MILLESIME), formula2=str(year), allow_blank=True,
        errorStyle="stop", errorTitle="Millésime", error=f"Une année de {FIRST_MILLESIME} à {year}.",
        showErrorMessage=True)
    code = DataValidation(
        type="list", formula1=f"=listes!$A$2:$A${len(rows) + 1}", allow_blank=False, errorStyle="stop",
        errorTitle="Code QPV", error="Un code QPV 2024 du périmètre (voir la liste).", showErrorMessage=True)
    ind = DataValidation(type="list", formula1=f'"{indicateur}"', allow_blank=False, errorStyle="stop",
                         errorTitle="Indicateur", error=f"Ce modèle est celui de l'indicateur {indicateur}.",
                         showErrorMessage=True)
    for dv, col in ((ind, "A"), (code, "B"), (millesime, "D"), (valeur, "E")):
        ws.add_data_validation(dv)
        dv.add(f"{col}{first}:{col}{n}")
    wb.active = wb.index(guide)
    buf = io.BytesIO()
    wb.save(buf)
    return buf.getvalue()
