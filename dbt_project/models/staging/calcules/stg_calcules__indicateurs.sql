-- The baromètres the pipeline computes itself from several landed inputs at once (observatoire/calculs.py:
-- Filosofi 200 m grid + GTFS + BPE + OSM green spaces + results by bureau de vote + ANCT contours + QPV census
-- population), one row per indicateur × niveau
-- (qpv | commune) × code × millésime. Withheld values (census check) are NULL, non_calculable, with a motif.
select
    cast(indicateur as varchar)     as indicateur,
    cast(niveau as varchar)         as niveau,
    cast(code as varchar)           as code,
    cast(millesime as integer)      as millesime,
    cast(valeur as double)          as valeur,
    cast(numerateur as double)      as numerateur,
    cast(denominateur as double)    as denominateur,
    cast(statut as varchar)         as statut,
    cast(motif as varchar)          as motif,
    cast(methode as varchar)        as methode,
    cast(source as varchar)         as source,
    cast(id_election as varchar)    as id_election
from {{ source('raw', 'calcul_indicateurs') }}
