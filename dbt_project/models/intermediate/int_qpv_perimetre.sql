-- The QPV of the observatory's perimeter (var `perimetre`: epci:<siren>, departement:<code> or france), from
-- the ANCT référentiel, with the communes they lie in. The contract's seed adds what the ANCT does not carry
-- (type of evolution since 2015, ARS zoning) for the QPV it knows.
with contours as (
    select * from {{ ref('stg_anct__qpv_contours') }}
    where {{ perimetre_filter('code_epci', 'code_departement') }}
),

communes as (
    select
        code_qpv,
        string_agg(code_commune, '|' order by est_commune_principale desc, code_commune) as codes_communes,
        count(*) as nombre_communes,
        arg_max(code_commune, est_commune_principale) as code_commune_principale
    from {{ ref('int_qpv_commune') }}
    group by code_qpv
),

contrat as (
    select * from {{ ref('ref_qpv') }}
)

select
    contours.code_qpv,
    contours.libelle_qpv,
    coalesce(contrat.code_commune, communes.code_commune_principale) as code_commune,
    communes.codes_communes,
    communes.nombre_communes,
    contours.code_departement,
    contours.code_epci,
    contrat.type_evolution_2024,
    contrat.zonage_ars_medecins
from contours
left join communes using (code_qpv)
left join contrat using (code_qpv)
