-- DARES demandeurs d'emploi par commune (T4 of each year), long format.
select
    cast(millesime as integer)              as millesime,
    cast(trimestre as varchar)              as trimestre,
    cast(code_commune as varchar)           as code_commune,
    cast(categorie as varchar)              as categorie,
    cast(sexe as varchar)                   as sexe,
    cast(tranche_age as varchar)            as tranche_age,
    cast(demandeurs_emploi as double)       as demandeurs_emploi,
    cast(est_arrondissement as boolean)     as est_arrondissement,
    cast(_source_id as varchar)             as source
from {{ source('raw', 'dares_defm_communes') }}
