-- RNIC (Anah) registered co-ownerships, one row per published row, renamed and cast.
select
    cast(numero_immatriculation as varchar)     as numero_immatriculation,
    cast(millesime as integer)                  as millesime,
    cast(code_qpv as varchar)                   as code_qpv,
    cast(code_qp_2015 as varchar)               as code_qp_2015,
    cast(code_commune as varchar)               as code_commune,
    cast(nombre_lots_habitation as double)      as nombre_lots_habitation,
    lower(trim(cast(copro_aidee as varchar)))   as copro_aidee,
    lower(cast(mandat_en_cours as varchar))     as mandat_en_cours,
    cast(date_derniere_maj as varchar)          as date_derniere_maj,
    cast(_line as bigint)                       as ligne_source,
    cast(_source_id as varchar)                 as source
from {{ source('raw', 'anah_rnic') }}
