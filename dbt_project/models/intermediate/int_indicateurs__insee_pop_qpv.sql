-- Indicators from INSEE pop_QPV24, long format: one row per QPV × millésime × indicateur.
with pop as (
    select * from {{ ref('stg_insee__pop_qpv') }}
)

select
    code_qpv,
    millesime,
    'population' as indicateur,
    population as valeur,
    cast(null as double) as numerateur,
    cast(null as double) as denominateur,
    {{ statut_valeur('population', 'population_secret') }} as statut,
    source
from pop

union all

select
    code_qpv,
    millesime,
    'part_15_24_ans' as indicateur,
    part_15_24_ans as valeur,
    cast(null as double) as numerateur,
    population as denominateur,
    {{ statut_valeur('part_15_24_ans', 'part_15_24_ans_secret') }} as statut,
    source
from pop
