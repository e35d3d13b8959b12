-- Registered co-ownerships showing signs of fragility in the QPV (Anah RNIC, open proxy of the contract's
-- « copropriétés dégradées »): publicly aided (copro_aidee = oui) or under a court-appointed administrator
-- (mandat en cours d'administration provisoire / ad hoc). A registration number published twice (change of
-- syndic) is counted once. The official list of degraded co-ownerships is expected from the partners.
with rnic as (
    select *
    from {{ ref('stg_logement__rnic') }}
    qualify row_number() over (
        partition by numero_immatriculation, millesime order by date_derniere_maj desc nulls last, ligne_source desc
    ) = 1
),

millesimes as (
    select distinct millesime, source from rnic
),

grille as (
    select qpv.code_qpv, millesimes.millesime, millesimes.source
    from {{ ref('int_qpv_perimetre') }} as qpv
    cross join millesimes
),

comptes as (
    select code_qpv, millesime, count(*) as coproprietes,
        count(*) filter (
            where copro_aidee = 'oui' or mandat_en_cours like '%administrat%' or mandat_en_cours like '%ad hoc%'
        ) as fragiles
    from rnic
    where code_qpv is not null
    group by code_qpv, millesime
)

select
    grille.code_qpv,
    grille.millesime,
    'nb_coproprietes_fragiles' as indicateur,
    cast(coalesce(comptes.fragiles, 0) as double) as valeur,
    cast(coalesce(comptes.fragiles, 0) as double) as numerateur,
    cast(coalesce(comptes.coproprietes, 0) as double) as denominateur,
    'disponible' as statut,
    grille.source
from grille
left join comptes using (code_qpv, millesime)
