-- Commune-level counts used by the comparators, one row per commune × millésime × variable
-- (arrondissements of Paris, Lyon, Marseille folded into their commune, never counted twice: the commune row
-- is used when the source publishes it, else the sum of its arrondissements).
with caf as (
    select
        millesime,
        {{ commune_parente('code_commune') }} as code_commune,
        est_arrondissement,
        allocataires, personnes_couvertes, allocataires_rsa
    from {{ ref('stg_caf__communes') }}
),

caf_communes as (
    select *
    from caf
    qualify not est_arrondissement
        or not bool_or(not est_arrondissement) over (partition by millesime, code_commune)
),

dares as (
    select
        millesime,
        {{ commune_parente('code_commune') }} as code_commune,
        est_arrondissement,
        demandeurs_emploi
    from {{ ref('stg_dares__defm_communes') }}
    where categorie = 'ABC' and sexe = 'Total' and tranche_age = 'Total'
),

dares_communes as (
    select *
    from dares
    qualify not est_arrondissement
        or not bool_or(not est_arrondissement) over (partition by millesime, code_commune)
),

bpe as (
    select
        millesime,
        {{ commune_parente('code_commune') }} as code_commune,
        count(*) filter (where typequ like 'F1%' or typequ like 'F2%' or typequ like 'F3%') as sport_culture,
        count(*) filter (where typequ like 'D2%') as sante,
        -- outside every QPV: placed by INSEE and in no QPV; an equipment INSEE could not place (QP2024 « _U »
        -- indéterminé) may lie in a QPV: it counts in the commune's whole, in neither half
        count(*) filter (where (typequ like 'F1%' or typequ like 'F2%' or typequ like 'F3%') and code_qpv is null
                         and qualite_qpv is distinct from '_U') as sport_culture_hors_qpv,
        count(*) filter (where typequ like 'D2%' and code_qpv is null and qualite_qpv is distinct from '_U')
            as sante_hors_qpv
    from {{ ref('stg_insee__bpe') }}
    group by all
),

dpe as (
    select
        dpe.millesime,
        dpe.code_commune,
        count(*) as dpe,
        count(*) filter (where dpe.etiquette_dpe in ('F', 'G')) as dpe_f_g,
        -- outside every QPV = geocoded and in no QPV: a DPE without coordinates could be in one, it is left out
        -- of both halves of the outside-QPV share (counted in the commune's whole only)
        count(*) filter (where dpe.est_geocode and qpv.code_qpv is null) as dpe_hors_qpv,
        count(*) filter (where dpe.est_geocode and qpv.code_qpv is null and dpe.etiquette_dpe in ('F', 'G'))
            as dpe_f_g_hors_qpv
    from {{ ref('stg_ademe__dpe') }} as dpe
    left join {{ ref('stg_ademe__dpe_qpv') }} as qpv using (numero_dpe, millesime)
    where dpe.etiquette_dpe in ('A', 'B', 'C', 'D', 'E', 'F', 'G')
    group by all
)

select millesime, code_commune, 'allocataires' as variable, sum(allocataires) as valeur from caf_communes group by all
union all
select millesime, code_commune, 'personnes_couvertes', sum(personnes_couvertes) from caf_communes group by all
union all
select millesime, code_commune, 'allocataires_rsa', sum(allocataires_rsa) from caf_communes group by all
union all
select millesime, code_commune, 'demandeurs_emploi_abc', sum(demandeurs_emploi) from dares_communes group by all
union all
select millesime, code_commune, 'equipements_sport_culture', sport_culture from bpe
union all
select millesime, code_commune, 'equipements_sante', sante from bpe
union all
select millesime, code_commune, 'equipements_sport_culture_hors_qpv', sport_culture_hors_qpv from bpe
union all
select millesime, code_commune, 'equipements_sante_hors_qpv', sante_hors_qpv from bpe
union all
select millesime, code_commune, 'dpe', dpe from dpe
union all
select millesime, code_commune, 'dpe_f_g', dpe_f_g from dpe
union all
select millesime, code_commune, 'dpe_hors_qpv', dpe_hors_qpv from dpe
union all
select millesime, code_commune, 'dpe_f_g_hors_qpv', dpe_f_g_hors_qpv from dpe
