select
    qpv.code_qpv,
    qpv.libelle_qpv,
    qpv.code_commune,
    commune.libelle_commune,
    qpv.codes_communes,
    cast(qpv.nombre_communes as integer) as nombre_communes,
    qpv.code_departement,
    qpv.code_epci,
    qpv.type_evolution_2024,
    qpv.zonage_ars_medecins
from {{ ref('int_qpv_perimetre') }} as qpv
left join {{ ref('int_communes_referentiel') }} as commune using (code_commune)
