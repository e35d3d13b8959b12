-- INSEE demographic estimates per QPV 2024 by age band: one row per QPV × millésime.
select
    cast(code_qpv as varchar)       as code_qpv,
    cast(millesime as integer)      as millesime,
    cast(pop_total as double)       as pop_total,
    cast(pop_0_14 as double)        as pop_0_14,
    cast(pop_15_19 as double)       as pop_15_19,
    cast(pop_20_24 as double)       as pop_20_24,
    cast(pop_25_59 as double)       as pop_25_59,
    cast(pop_60_74 as double)       as pop_60_74,
    cast(pop_75_plus as double)     as pop_75_plus,
    len(_secret) > 0                as a_secret,
    cast(_source_id as varchar)     as source
from {{ source('raw', 'insee_estimations_qpv') }}
