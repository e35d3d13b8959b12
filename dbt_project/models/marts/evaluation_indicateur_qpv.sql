-- The contract's evaluation table: each indicator per QPV at its baseline millésime (the first on the 2024
-- geography) and at its latest, both statuts, and the change only between two available values with no break
-- in the series (comparabilite says why it is empty otherwise). Every annual edition freezes it as is.
with fct as (
    select * from {{ ref('fct_indicateur_qpv') }}
),

bornes as (
    select
        code_qpv,
        indicateur,
        min(millesime_reference) as millesime_reference,
        max(millesime)           as millesime_dernier
    from fct
    group by code_qpv, indicateur
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
    r.valeur  as valeur_reference,
    r.statut  as statut_reference,
    b.millesime_dernier,
    d.valeur  as valeur_dernier,
    d.statut  as statut_dernier,
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
inner join fct as r
    on r.code_qpv = b.code_qpv and r.indicateur = b.indicateur and r.millesime = b.millesime_reference
inner join fct as d
    on d.code_qpv = b.code_qpv and d.indicateur = b.indicateur and d.millesime = b.millesime_dernier
left join {{ ref('dim_qpv') }} as q on q.code_qpv = b.code_qpv
left join {{ ref('dim_indicateur') }} as i on i.indicateur = b.indicateur
order by b.code_qpv, i.defi, b.indicateur
