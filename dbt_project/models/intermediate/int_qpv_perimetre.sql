-- The QPV of the observatory's perimeter (var `perimetre`), with the communes they lie in.
with qpv as (
    select * from {{ ref('ref_qpv') }}
),

communes as (
    select
        code_qpv,
        string_agg(code_commune, '|' order by est_commune_principale desc, code_commune) as codes_communes,
        count(*) as nombre_communes
    from {{ ref('ref_qpv_commune') }}
    group by code_qpv
)

select
    qpv.code_qpv,
    qpv.libelle_qpv,
    qpv.code_commune,
    communes.codes_communes,
    communes.nombre_communes,
    qpv.code_departement,
    qpv.code_epci,
    qpv.type_evolution_2024,
    qpv.zonage_ars_medecins
from qpv
left join communes using (code_qpv)
where {{ perimetre_filter('qpv.code_epci', 'qpv.code_departement') }}
