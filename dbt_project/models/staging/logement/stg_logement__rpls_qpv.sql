-- RPLS social housing per QPV 2024 (via INSEE), stock at 1 January of the millésime.
select
    cast(code_qpv as varchar)                       as code_qpv,
    cast(millesime as integer)                      as millesime,
    cast(logements_sociaux as double)               as logements_sociaux,
    cast(loyer_moyen_m2 as double)                  as loyer_moyen_m2,
    cast(taux_vacance as double)                    as taux_vacance,
    list_contains(_secret, 'logements_sociaux')     as logements_sociaux_secret,
    list_contains(_secret, 'loyer_moyen_m2')        as loyer_moyen_m2_secret,
    cast(_source_id as varchar)                     as source
from {{ source('raw', 'rpls_qpv') }}
