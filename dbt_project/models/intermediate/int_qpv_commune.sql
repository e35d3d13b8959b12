-- QPV × commune from the ANCT référentiel (every QPV of France): a QPV over several communes has one row per
-- commune. The principal commune is the contract's (seed ref_qpv_commune) when it knows the QPV, else the
-- first listed by the ANCT.
with contours as (
    select
        code_qpv,
        string_split(codes_communes, ',') as codes,
        string_split(libelles_communes, ',') as libelles
    from {{ ref('stg_anct__qpv_contours') }}
),

communes as (
    select
        code_qpv,
        trim(unnest(codes)) as code_commune,
        trim(unnest(libelles)) as libelle_commune,
        unnest(range(1, len(codes) + 1)) as rang
    from contours
),

contrat as (
    select code_qpv, code_commune, est_commune_principale from {{ ref('ref_qpv_commune') }}
)

select
    communes.code_qpv,
    communes.code_commune,
    communes.libelle_commune,
    coalesce(
        contrat.est_commune_principale,
        case when exists (select 1 from contrat as c where c.code_qpv = communes.code_qpv) then false end,
        communes.rang = 1
    ) as est_commune_principale
from communes
left join contrat using (code_qpv, code_commune)
