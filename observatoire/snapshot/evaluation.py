"""The evaluation table (``evaluation_indicateur_qpv``): each indicator per QPV at its baseline and latest millésime."""

from __future__ import annotations

from observatoire.snapshot.base import EVALUATION_TABLE, _table_columns
from observatoire.warehouse import _lit, _q  # shared with the publication


def _evaluation_sql(schema: str) -> str:
    """Each indicator per QPV at its baseline millésime and at its latest, both statuts, and the change
    (only between two published values with no break in the series)."""
    return f"""
    with f as (select * from {schema}.fct_indicateur_qpv),
    bornes as (
        select code_qpv, indicateur, min(millesime_reference) as millesime_reference, max(millesime) as millesime_dernier
        from f group by all
    )
    select
        b.code_qpv,
        q.libelle_qpv,
        q.code_commune,
        i.defi,
        b.indicateur,
        i.libelle as libelle_indicateur,
        i.unite,
        i.sens,
        b.millesime_reference,
        r.valeur as valeur_reference,
        r.statut as statut_reference,
        b.millesime_dernier,
        d.valeur as valeur_dernier,
        d.statut as statut_dernier,
        case when b.millesime_dernier > b.millesime_reference
             and r.statut = 'disponible' and d.statut = 'disponible' then d.evolution_reference end as evolution,
        case when b.millesime_dernier > b.millesime_reference
             and r.statut = 'disponible' and d.statut = 'disponible' and r.valeur <> 0
             then round(100 * d.evolution_reference / abs(r.valeur), 2) end as evolution_pct,
        case
            when b.millesime_dernier = b.millesime_reference then 'un_seul_millesime'
            when r.statut <> 'disponible' or d.statut <> 'disponible' then 'non_comparable'
            when d.evolution_reference is null then 'rupture_de_serie'
            else 'comparable'
        end as comparabilite,
        d.rupture_serie,
        d.note_rupture,
        coalesce(d.source, r.source) as source
    from bornes as b
    join f as r on r.code_qpv = b.code_qpv and r.indicateur = b.indicateur and r.millesime = b.millesime_reference
    join f as d on d.code_qpv = b.code_qpv and d.indicateur = b.indicateur and d.millesime = b.millesime_dernier
    left join {schema}.dim_qpv as q on q.code_qpv = b.code_qpv
    left join {schema}.dim_indicateur as i on i.indicateur = b.indicateur
    order by b.code_qpv, i.defi, b.indicateur
    """


#: the French descriptions of the evaluation table and its columns (COMMENT ON in the edition's DuckDB file)
EVALUATION_COMMENTS = {
    "": "Table de l'évaluation du contrat, propre à l'édition : pour chaque QPV et chaque indicateur, la valeur au "
        "millésime de référence (le premier sur la géographie 2024) et au dernier millésime, avec leurs statuts, et "
        "l'évolution entre les deux seulement quand les deux valeurs sont disponibles et comparables "
        "(colonne comparabilite). Calculée à partir de fct_indicateur_qpv lors de la création de l'édition.",
    "code_qpv": "Code du quartier prioritaire (QPV 2024).",
    "libelle_qpv": "Nom du quartier prioritaire.",
    "code_commune": "Code Insee de la commune principale du quartier.",
    "defi": "Défi du contrat auquel appartient le baromètre (vide pour un indicateur du socle).",
    "indicateur": "Identifiant de l'indicateur (dim_indicateur).",
    "libelle_indicateur": "Libellé de l'indicateur.",
    "unite": "Unité des valeurs (dim_indicateur.unite).",
    "sens": "Sens favorable de l'indicateur : hausse_favorable, baisse_favorable ou neutre.",
    "millesime_reference": "Millésime de référence : le premier millésime de l'indicateur sur la géographie 2024.",
    "valeur_reference": "Valeur au millésime de référence (vide si elle n'était pas disponible : voir "
                        "statut_reference).",
    "statut_reference": "Statut de la valeur au millésime de référence (disponible, secret_statistique, "
                        "non_publie, attendu_partenaire, non_calculable) : dit pourquoi valeur_reference est vide.",
    "millesime_dernier": "Dernier millésime de l'indicateur pour ce quartier.",
    "valeur_dernier": "Valeur au dernier millésime (vide si elle n'est pas disponible : voir statut_dernier).",
    "statut_dernier": "Statut de la valeur au dernier millésime : dit pourquoi valeur_dernier est vide.",
    "evolution": "Évolution entre le millésime de référence et le dernier (valeur_dernier moins "
                 "valeur_reference, en points pour un taux) ; vide si elle n'est pas comparable (comparabilite).",
    "evolution_pct": "Évolution relative, en % de la valeur de référence (vide si la référence est nulle ou "
                     "l'évolution non comparable).",
    "comparabilite": "Comparabilité des deux valeurs : comparable, un_seul_millesime, non_comparable (une valeur "
                     "manque) ou rupture_de_serie ; dit pourquoi evolution est vide.",
    "rupture_serie": "Vrai si la série a une rupture entre le millésime de référence et le dernier.",
    "note_rupture": "Nature de la rupture de série, en français.",
    "source": "Source de la valeur (identifiant de la source ou du partenaire).",
}


def _comment_evaluation(con, schema: str) -> None:
    """COMMENT ON the evaluation table and each of its columns (French), like the dbt models' descriptions."""
    table = f"{schema}.{EVALUATION_TABLE}"
    columns = set(_table_columns(con, schema, EVALUATION_TABLE))
    for column, text in EVALUATION_COMMENTS.items():
        if not column:
            con.execute(f"COMMENT ON TABLE {table} IS {_lit(text)}")
        elif column in columns:
            con.execute(f"COMMENT ON COLUMN {table}.{_q(column)} IS {_lit(text)}")


#: the sheet of each QPV × indicator's latest value (``mart_derniere_valeur``)
