-- France Travail demandeurs d'emploi per QPV 2024 (via INSEE), 31 December of each millésime.
select
    cast(code_qpv as varchar)               as code_qpv,
    cast(millesime as integer)              as millesime,
    cast(defm_abc as double)                as defm_abc,
    cast(defm_a as double)                  as defm_a,
    cast(defm_abc_femmes as double)         as defm_abc_femmes,
    cast(defm_abc_moins_25 as double)       as defm_abc_moins_25,
    cast(defm_abc_rsa as double)            as defm_abc_rsa,
    list_contains(_secret, 'defm_abc')      as defm_abc_secret,
    list_contains(_secret, 'defm_a')        as defm_a_secret,
    cast(_source_id as varchar)             as source
from {{ source('raw', 'ft_defm_qpv') }}
