-- Social housing per QPV (RPLS via INSEE).
with rpls as (
    select * from {{ ref('stg_logement__rpls_qpv') }}
)

{{ indicateur_simple('rpls', 'nb_logements_sociaux', 'logements_sociaux', 'logements_sociaux_secret') }}
