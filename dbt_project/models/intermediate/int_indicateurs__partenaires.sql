-- Partner baromètres (observatoire/partenaires): for each indicateur × millésime received, every QPV of the
-- perimeter; a QPV the file does not list is non_publie (received, but no value for it). The source names the
-- partner: 'partenaires:<nom du partenaire>'. What was not received stays absent here, so the fact still says
-- attendu_partenaire for it. Partners send values, not numerators and denominators.
with valeurs as (
    select * from {{ ref('stg_partenaires__valeurs') }}
),

recus as (
    select indicateur, millesime, any_value(partenaire) as partenaire
    from valeurs
    group by indicateur, millesime
)

select
    qpv.code_qpv,
    recus.millesime,
    recus.indicateur,
    valeurs.valeur,
    cast(null as double) as numerateur,
    cast(null as double) as denominateur,
    coalesce(valeurs.statut, 'non_publie') as statut,
    'partenaires:' || recus.partenaire as source
from recus
cross join {{ ref('int_qpv_perimetre') }} as qpv
left join valeurs
    on valeurs.indicateur = recus.indicateur
    and valeurs.millesime = recus.millesime
    and valeurs.code_qpv = qpv.code_qpv
