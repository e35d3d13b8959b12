-- The long fact: one row per QPV of the perimeter × indicateur of the catalogue × millésime it covers.
-- A value, or NULL with the statut that says why (never a silent absence, never 0 for a withheld value).
with spine as (
    select qpv.code_qpv, im.indicateur, im.millesime
    from {{ ref('int_qpv_perimetre') }} as qpv
    cross join {{ ref('int_indicateur_millesimes') }} as im
),

valeurs as (
    select * from {{ ref('int_indicateurs_qpv') }}
),

catalogue as (
    select * from {{ ref('ref_indicateur') }}
)

select
    spine.code_qpv,
    spine.indicateur,
    cast(spine.millesime as integer) as millesime,
    valeurs.valeur,
    valeurs.numerateur,
    valeurs.denominateur,
    catalogue.unite,
    coalesce(
        valeurs.statut,
        case catalogue.type_source
            when 'partner' then 'attendu_partenaire'
            when 'computed' then 'non_calculable'
            else 'non_publie'
        end
    ) as statut,
    coalesce(valeurs.source, catalogue.source) as source
from spine
inner join catalogue using (indicateur)
left join valeurs
    on valeurs.code_qpv = spine.code_qpv
    and valeurs.indicateur = spine.indicateur
    and valeurs.millesime = spine.millesime
