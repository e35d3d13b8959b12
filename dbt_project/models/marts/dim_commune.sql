with qpv_par_commune as (
    select bridge.code_commune, count(distinct bridge.code_qpv) as nombre_qpv
    from {{ ref('int_qpv_commune') }} as bridge
    inner join {{ ref('int_qpv_perimetre') }} as qpv using (code_qpv)
    group by bridge.code_commune
)

select
    commune.code_commune,
    commune.libelle_commune,
    commune.code_departement,
    commune.code_epci,
    commune.role_commune,
    cast(coalesce(qpv_par_commune.nombre_qpv, 0) as integer) as nombre_qpv
from {{ ref('int_communes_referentiel') }} as commune
left join qpv_par_commune using (code_commune)
where {{ perimetre_filter('commune.code_epci', 'commune.code_departement') }}
