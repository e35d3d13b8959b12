-- The source registry (extract/sources.yml) as loaded by the pipeline: one row per source × millésime
-- (sources not published yet have one row with a NULL millésime), with publication and load dates.
select
    cast(source_id as varchar)          as source,
    cast(millesime as integer)          as millesime,
    cast(statut_source as varchar)      as statut_source,
    cast(motif as varchar)              as motif,
    cast(publisher as varchar)          as producteur,
    cast(licence as varchar)            as licence,
    cast(url as varchar)                as url,
    try_cast(date_publication as date)  as date_publication,
    cast(prochaine_publication as varchar) as prochaine_publication,
    cast(charge_le as timestamp)        as charge_le,
    cast(sha256 as varchar)             as sha256,
    -- a break of series accepted for the file in use (observatoire run --accept-break SOURCE --reason …)
    cast(rupture_motif as varchar)      as rupture_motif
from {{ source('raw', '_registre') }}
