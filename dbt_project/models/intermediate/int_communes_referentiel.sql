-- Every commune the observatory names: the contract's communes (seed ref_commune, with their role), plus the
-- communes of the ANCT référentiel's QPV it does not list (any other perimeter), named as the ANCT names them.
with contrat as (
    select code_commune, libelle_commune, code_departement, code_epci, role_commune
    from {{ ref('ref_commune') }}
),

anct as (
    select
        bridge.code_commune,
        min(bridge.libelle_commune) as libelle_commune,
        min(qpv.code_departement) as code_departement,
        min(qpv.code_epci) as code_epci
    from {{ ref('int_qpv_commune') }} as bridge
    inner join {{ ref('stg_anct__qpv_contours') }} as qpv using (code_qpv)
    group by bridge.code_commune
)

select * from contrat
union all
select code_commune, libelle_commune, code_departement, code_epci, 'commune_qpv' as role_commune
from anct
where code_commune not in (select code_commune from contrat)
