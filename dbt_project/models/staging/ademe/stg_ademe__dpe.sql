-- ADEME DPE logements existants: one row per DPE, renamed and cast; arrondissement codes of Paris, Lyon and
-- Marseille mapped to their commune.
select
    cast(numero_dpe as varchar)                 as numero_dpe,
    cast(millesime as integer)                  as millesime,
    upper(cast(etiquette_dpe as varchar))       as etiquette_dpe,
    cast(code_insee_ban as varchar)             as code_insee_ban,
    case
        when code_insee_ban between '13201' and '13216' then '13055'
        when code_insee_ban between '69381' and '69389' then '69123'
        when code_insee_ban between '75101' and '75120' then '75056'
        else cast(code_insee_ban as varchar)
    end                                         as code_commune,
    latitude is not null and longitude is not null as est_geocode,
    cast(_source_id as varchar)                 as source
from {{ source('raw', 'ademe_dpe_existant') }}
