-- Demandeurs d'emploi per QPV (France Travail via INSEE), counts as published.
with defm as (
    select * from {{ ref('stg_france_travail__defm_qpv') }}
)

{{ indicateur_simple('defm', 'nb_demandeurs_emploi_abc', 'defm_abc', 'defm_abc_secret') }}

union all

{{ indicateur_simple('defm', 'nb_demandeurs_emploi_a', 'defm_a', 'defm_a_secret') }}
