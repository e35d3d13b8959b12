-- Age structure per QPV (INSEE demographic estimates): share of under-25s and indice de jeunesse
-- (people under 20 per person aged 60 or more).
with est as (
    select
        *,
        pop_0_14 + pop_15_19 + pop_20_24 as moins_25,
        pop_0_14 + pop_15_19 as moins_20,
        pop_60_74 + pop_75_plus as plus_60
    from {{ ref('stg_insee__estimations_qpv') }}
)

select
    code_qpv,
    millesime,
    'part_moins_25_ans' as indicateur,
    {{ ratio('moins_25', 'pop_total') }} as valeur,
    moins_25 as numerateur,
    pop_total as denominateur,
    case
        when moins_25 is not null and pop_total > 0 then 'disponible'
        when a_secret then 'secret_statistique'
        else 'non_publie'
    end as statut,
    source
from est

union all

select
    code_qpv,
    millesime,
    'indice_jeunesse' as indicateur,
    {{ ratio('moins_20', 'plus_60', 1) }} as valeur,
    moins_20 as numerateur,
    plus_60 as denominateur,
    case
        when moins_20 is not null and plus_60 > 0 then 'disponible'
        when a_secret then 'secret_statistique'
        else 'non_publie'
    end as statut,
    source
from est
