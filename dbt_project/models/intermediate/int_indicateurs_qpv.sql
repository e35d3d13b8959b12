-- Every indicator value computed from the sources, for the QPV of the perimeter only.
-- One row per QPV × indicateur × millésime (QPV × année is the observatory's grain).
with valeurs as (
    select * from {{ ref('int_indicateurs__insee_pop_qpv') }}
)

select valeurs.*
from valeurs
inner join {{ ref('int_qpv_perimetre') }} as qpv using (code_qpv)
