-- INSEE Filosofi per QPV 2024: one row per QPV × millésime, renamed and cast.
select
    cast(code_qpv as varchar)                              as code_qpv,
    cast(millesime as integer)                             as millesime,
    cast(revenu_median as double)                          as revenu_median,
    cast(taux_pauvrete as double)                          as taux_pauvrete,
    cast(revenu_d1 as double)                              as revenu_d1,
    cast(revenu_d9 as double)                              as revenu_d9,
    cast(rapport_interdecile as double)                    as rapport_interdecile,
    cast(part_prestations_sociales as double)              as part_prestations_sociales,
    list_contains(_secret, 'revenu_median')                as revenu_median_secret,
    list_contains(_secret, 'taux_pauvrete')                as taux_pauvrete_secret,
    cast(_source_id as varchar)                            as source
from {{ source('raw', 'insee_filosofi_qpv') }}
