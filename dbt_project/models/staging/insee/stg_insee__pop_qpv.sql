-- INSEE pop_QPV24: one row per QPV × millésime, renamed and cast; nothing else.
select
    cast(code_qpv as varchar)                         as code_qpv,
    cast(libelle_qpv as varchar)                      as libelle_qpv,
    cast(millesime as integer)                        as millesime,
    cast(population as double)                        as population,
    cast(part_15_24_ans as double)                    as part_15_24_ans,
    list_contains(_secret, 'population')              as population_secret,
    list_contains(_secret, 'part_15_24_ans')          as part_15_24_ans_secret,
    cast(liste_code_commune as varchar)               as liste_code_commune,
    cast(liste_code_epci as varchar)                  as liste_code_epci,
    cast(_source_id as varchar)                       as source,
    cast(_sha256 as varchar)                          as source_sha256,
    cast(_fetched_at as timestamp)                    as charge_le
from {{ source('raw', 'insee_pop_qpv') }}
