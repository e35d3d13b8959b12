-- INSEE BPE: one row per equipment, with the QPV 2024 it lies in (NULL outside any QPV).
select
    cast(millesime as integer)      as millesime,
    cast(code_commune as varchar)   as code_commune,
    cast(code_epci as varchar)      as code_epci,
    cast(typequ as varchar)         as typequ,
    cast(code_qpv as varchar)       as code_qpv,
    cast(qualite_qpv as varchar)    as qualite_qpv,
    cast(_source_id as varchar)     as source
from {{ source('raw', 'insee_bpe') }}
