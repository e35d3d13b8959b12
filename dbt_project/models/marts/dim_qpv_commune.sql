select
    bridge.code_qpv,
    bridge.code_commune,
    bridge.est_commune_principale
from {{ ref('int_qpv_commune') }} as bridge
inner join {{ ref('int_qpv_perimetre') }} as qpv using (code_qpv)
