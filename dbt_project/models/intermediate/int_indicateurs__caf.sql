-- CAF beneficiaries per QPV: counts as published, and the share of the population covered (personnes
-- couvertes / population municipale of the closest census millésime not after the CAF millésime, named in
-- `source` as insee_pop_qpv:<millésime>).
with caf as (
    select * from {{ ref('stg_caf__allocataires_qpv') }}
),

pop as (
    select * from {{ ref('int_population_qpv_annuelle') }}
)

{{ indicateur_simple('caf', 'nb_allocataires_caf', 'allocataires', 'allocataires_secret') }}

union all

{{ indicateur_simple('caf', 'nb_personnes_couvertes_caf', 'personnes_couvertes', 'personnes_couvertes_secret') }}

union all

{{ indicateur_simple('caf', 'nb_allocataires_rsa', 'allocataires_rsa', 'allocataires_rsa_secret') }}

union all

select
    caf.code_qpv,
    caf.millesime,
    'part_population_couverte_caf' as indicateur,
    {{ ratio('caf.personnes_couvertes', 'pop.population') }} as valeur,
    caf.personnes_couvertes as numerateur,
    pop.population as denominateur,
    case
        when caf.personnes_couvertes is not null and pop.population > 0 then 'disponible'
        when caf.personnes_couvertes_secret then 'secret_statistique'
        else 'non_publie'
    end as statut,
    -- numerator's source, then the denominator's with the census millésime used (named in a motif)
    caf.source || '|insee_pop_qpv:' || coalesce(cast(pop.millesime_population as varchar), '?') as source
from caf
left join pop on pop.code_qpv = caf.code_qpv and pop.annee = caf.millesime
