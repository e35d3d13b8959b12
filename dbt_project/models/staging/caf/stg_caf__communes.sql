-- data.caf.fr, allocataires par commune (December of each year).
select
    cast(millesime as integer)                  as millesime,
    cast(code_commune as varchar)               as code_commune,
    cast(allocataires as double)                as allocataires,
    cast(personnes_couvertes as double)         as personnes_couvertes,
    cast(allocataires_rsa as double)            as allocataires_rsa,
    cast(est_arrondissement as boolean)         as est_arrondissement,
    cast(_source_id as varchar)                 as source
from {{ source('raw', 'caf_communes') }}
