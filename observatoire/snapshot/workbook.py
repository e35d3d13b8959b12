"""The edition's workbook: notes, one sheet per défi, the latest values, key figures, fiches, the dictionary."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from observatoire.snapshot.base import (
    DICTIONARY_SHEET,
    EVALUATION_TABLE,
    LATEST_SHEET,
    LATEST_TABLE,
    _dicts,
    _table_columns,
)
from observatoire.snapshot.cells import Catalogue, Column, unit_label
from observatoire.snapshot.readme import _notes_rows
from observatoire.snapshot.writers import _Workbook, defi_sheet_name
from observatoire.warehouse import _q  # shared with the publication


def _catalogue_order(con, schema: str, alias: str = "i") -> str:
    """The ORDER BY terms that list indicators as the catalogue does, given ``alias`` for ``dim_indicateur`` and
    ``d`` for ``dim_defi``: the socle first (no défi: 0), then the défis 1 to 10 in the contract's order, then,
    within each, the catalogue's ``ordre`` when ``dim_indicateur`` has one; it has none today (the order of the
    rows of ref_indicateur.csv is not kept by the warehouse): the indicator id then."""
    ordre = f"{alias}.ordre, " if "ordre" in _table_columns(con, schema, "dim_indicateur") else ""
    return f"coalesce(d.numero_defi, 0), {ordre}{alias}.indicateur"


def _latest_sql(con, schema: str, tables: set[str]) -> str:
    """Each QPV × indicator's latest value: ``mart_derniere_valeur``; for a publication made before that mart,
    the same columns from ``fct_indicateur_qpv`` (the latest millésime with a value, else the latest). In the
    catalogue's order within each QPV (:func:`_catalogue_order`)."""
    order = _catalogue_order(con, schema)
    if LATEST_TABLE in tables:
        return (f"SELECT m.* FROM {schema}.{LATEST_TABLE} AS m "
                f"LEFT JOIN {schema}.dim_indicateur AS i ON i.indicateur = m.indicateur "
                f"LEFT JOIN {schema}.dim_defi AS d ON d.defi = i.defi ORDER BY m.code_qpv, {order}")
    return f"""
    with f as (select * from {schema}.fct_indicateur_qpv),
    l as (select *, row_number() over (partition by code_qpv, indicateur
                                       order by statut = 'disponible' desc, millesime desc) as _rn from f)
    select l.code_qpv, q.libelle_qpv, q.code_commune, q.libelle_commune, i.defi, d.numero_defi, l.indicateur,
           i.libelle, i.unite, i.sens, l.millesime, l.valeur, l.statut, l.motif, l.millesime_reference,
           r.valeur as valeur_reference, r.statut as statut_reference, r.motif as motif_reference,
           l.evolution_reference, l.valeur_commune, l.valeur_commune_hors_qpv,
           l.valeur_perimetre, l.valeur_france, l.ecart_commune, l.ecart_commune_hors_qpv, l.ecart_perimetre,
           l.ecart_france, l.source, l.rupture_serie, l.note_rupture, l.date_publication, l.prochaine_publication
    from l
    left join f as r on r.code_qpv = l.code_qpv and r.indicateur = l.indicateur and r.millesime = l.millesime_reference
    left join {schema}.dim_qpv as q on q.code_qpv = l.code_qpv
    left join {schema}.dim_indicateur as i on i.indicateur = l.indicateur
    left join {schema}.dim_defi as d on d.defi = i.defi
    where l._rn = 1
    order by l.code_qpv, {order}"""


#: the indicator block of the Dictionnaire: (column of the query, French header)
_DICTIONARY_INDICATORS = (
    ("indicateur", "Indicateur (identifiant)"),
    ("libelle", "Libellé"),
    ("definition", "Définition"),
    ("unite", "Unité (catalogue)"),
    ("unite_affichee", "Unité dans les en-têtes"),
    ("decimales", "Décimales publiées"),
    ("numero_defi", "N° du défi"),
    ("libelle_defi", "Défi"),
    ("source", "Source"),
    ("url_source", "Adresse de la source"),
    ("date_reference", "Date de référence"),
    ("sens", "Sens favorable"),
    ("millesimes_publies", "Millésimes publiés (au moins une valeur)"),
    ("millesimes", "Millésimes dans les tables"),
)
#: the column block of the Dictionnaire
_DICTIONARY_COLUMNS = ("Feuille", "Colonne (identifiant, ligne 1 masquée)", "Libellé (ligne 2)", "Indicateur",
                       "Unité", "Format des nombres", "Statut qui explique une cellule vide")


def _dictionary(con, schema: str, catalogue: Catalogue, sheets: list[tuple[str, Column]]) -> tuple[list, int, int]:
    """The Dictionnaire's rows: each indicator (label, definition, unit, decimals, défi, source, its URL, sens,
    the millésimes available, computed from ``fct_indicateur_qpv``), then every column of every data sheet
    (id, label, indicator, unit, number format, the statut column that explains an empty cell). Returns the
    rows and the row numbers (1-based) of the two header rows."""
    have = set(_table_columns(con, schema, "dim_indicateur"))
    select = ", ".join(f"i.{_q(c)}" if c in have else f"NULL AS {_q(c)}"
                       for c, _ in _DICTIONARY_INDICATORS
                       if c not in ("unite_affichee", "numero_defi", "libelle_defi", "millesimes_publies",
                                    "millesimes"))
    rows = _dicts(con, f"""
        with m as (
            select indicateur,
                   array_to_string(list_sort(list_distinct(list(millesime) filter (where statut = 'disponible'))),
                                   ', ') as millesimes_publies,
                   array_to_string(list_sort(list_distinct(list(millesime))), ', ') as millesimes
            from {schema}.fct_indicateur_qpv group by indicateur)
        select {select}, d.numero_defi, d.libelle_defi, m.millesimes_publies, m.millesimes
        from {schema}.dim_indicateur as i
        left join {schema}.dim_defi as d on d.defi = i.defi
        left join m on m.indicateur = i.indicateur
        order by {_catalogue_order(con, schema)}""")
    out: list[list[Any]] = [["# Indicateurs : définition, unité, précision, source et millésimes disponibles"]]
    out.append([h for _, h in _DICTIONARY_INDICATORS])
    first_header = len(out)
    for r in rows:
        r["unite_affichee"] = unit_label(r.get("unite"))
        out.append([r.get(c) for c, _ in _DICTIONARY_INDICATORS])
    out += [[], ["# Colonnes de chaque feuille : identifiant (ligne 1, masquée ; celui des fichiers CSV et Parquet) "
                 "et libellé (ligne 2)"], list(_DICTIONARY_COLUMNS)]
    second_header = len(out)
    for sheet, c in sheets:
        fmt = c.fmt or ("selon l'unité de l'indicateur de la ligne" if c.fmt_of_row is not None else None)
        out.append([sheet, c.name, c.label, c.indicateur, unit_label(c.unite) or None, fmt, c.statut])
    return out, first_header, second_header


def _write_workbook(con, schema: str, tables: set[str], catalogue: Catalogue, doc: dict, path: Path) -> None:
    """The edition's workbook: notes, one sheet per défi in the contract's order, the latest values, key figures,
    fiches, evaluation, indicators, QPV and the Dictionnaire (see :class:`_Workbook` for the layout)."""
    wb = _Workbook()
    wb.sheet_from_rows("notes", _notes_rows(doc), widths=(28, 110, 14, 22, 70, 66))
    defis = con.execute(f"SELECT defi, numero_defi, libelle_defi FROM {schema}.dim_defi "
                        "ORDER BY numero_defi NULLS LAST, defi").fetchall()
    for defi, numero, libelle in defis:
        mart = f"mart_defi_{defi}"
        if mart in tables:
            wb.sheet_from_query(defi_sheet_name(numero, libelle, defi), con,
                                f"SELECT * FROM {schema}.{_q(mart)} ORDER BY code_qpv, millesime", table=mart,
                                catalogue=catalogue, freeze="C3")
    order = _catalogue_order(con, schema)
    wb.sheet_from_query(LATEST_SHEET, con, _latest_sql(con, schema, tables), table=LATEST_TABLE,
                        catalogue=catalogue, freeze="C3")
    wb.sheet_from_query("chiffres_cles", con, f"SELECT * FROM {schema}.mart_chiffres_cles ORDER BY ordre, millesime",
                        table="mart_chiffres_cles", catalogue=catalogue, freeze="B3")
    wb.sheet_from_query("fiches_qpv", con, f"SELECT * FROM {schema}.mart_qpv_fiche ORDER BY code_qpv, millesime",
                        table="mart_qpv_fiche", catalogue=catalogue, freeze="C3")
    wb.sheet_from_query("evaluation", con, f"SELECT e.* FROM {schema}.{EVALUATION_TABLE} AS e "
                        f"LEFT JOIN {schema}.dim_indicateur AS i ON i.indicateur = e.indicateur "
                        f"LEFT JOIN {schema}.dim_defi AS d ON d.defi = i.defi ORDER BY e.code_qpv, {order}",
                        table=EVALUATION_TABLE, catalogue=catalogue, freeze="C3")
    # the catalogue: the socle, then the défis in the contract's order (never alphabetical)
    wb.sheet_from_query("indicateurs", con, f"SELECT i.* FROM {schema}.dim_indicateur AS i "
                        f"LEFT JOIN {schema}.dim_defi AS d ON d.defi = i.defi ORDER BY {order}",
                        table="dim_indicateur", catalogue=catalogue, freeze="B3")
    wb.sheet_from_query("qpv", con, f"SELECT * FROM {schema}.dim_qpv ORDER BY code_qpv", table="dim_qpv",
                        catalogue=catalogue, freeze="B3")
    rows, first, second = _dictionary(con, schema, catalogue, wb.columns)
    ws = wb.sheet_from_rows(DICTIONARY_SHEET, rows, widths=(30, 44, 60, 34, 18, 22, 34, 40, 40, 40, 16, 12, 26, 26),
                            header_rows=(first, second))
    ws.freeze_panes = f"B{first + 1}"
    ws.auto_filter.ref = f"A{second}:G{ws.max_row}"
    wb.save(path)


