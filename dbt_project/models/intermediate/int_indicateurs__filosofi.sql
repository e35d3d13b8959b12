-- Revenu médian and taux de pauvreté per QPV (INSEE Filosofi). The poverty rate carries the QPV population
-- as its weight (denominateur) and the estimated number of poor people as numerateur, so that aggregates are
-- population-weighted, never averages of rates.
with filo as (
    select * from {{ ref('stg_insee__filosofi_qpv') }}
),

pop as (
    select * from {{ ref('int_population_qpv_annuelle') }}
)

{{ indicateur_simple('filo', 'revenu_median', 'revenu_median', 'revenu_median_secret') }}

union all

select
    filo.code_qpv,
    filo.millesime,
    'taux_pauvrete' as indicateur,
    filo.taux_pauvrete as valeur,
    filo.taux_pauvrete * pop.population / 100 as numerateur,
    case when filo.taux_pauvrete is not null then pop.population end as denominateur,
    {{ statut_valeur('filo.taux_pauvrete', 'filo.taux_pauvrete_secret') }} as statut,
    filo.source
from filo
left join pop on pop.code_qpv = filo.code_qpv and pop.annee = filo.millesime
