-- Equipments per 1,000 inhabitants per QPV (INSEE BPE, equipments geolocated in the QPV by INSEE):
-- sport and leisure (F1, F2) and culture (F3) equipments; health professionals (D2). A QPV without any
-- equipment of the kind has the value 0 (a real zero: the BPE is exhaustive).
with bpe as (
    select * from {{ ref('stg_insee__bpe') }}
),

millesimes as (
    select distinct millesime, source from bpe
),

grille as (
    select qpv.code_qpv, millesimes.millesime, millesimes.source
    from {{ ref('int_qpv_perimetre') }} as qpv
    cross join millesimes
),

comptes as (
    select
        code_qpv,
        millesime,
        count(*) filter (where typequ like 'F1%' or typequ like 'F2%' or typequ like 'F3%') as sport_culture,
        count(*) filter (where typequ like 'D2%') as sante
    from bpe
    where code_qpv is not null
    group by code_qpv, millesime
),

base as (
    select
        grille.code_qpv,
        grille.millesime,
        grille.source,
        coalesce(comptes.sport_culture, 0) as sport_culture,
        coalesce(comptes.sante, 0) as sante,
        pop.population,
        pop.millesime_population
    from grille
    left join comptes using (code_qpv, millesime)
    left join {{ ref('int_population_qpv_annuelle') }} as pop
        on pop.code_qpv = grille.code_qpv and pop.annee = grille.millesime
)

select
    code_qpv, millesime, 'equipements_sport_culture_pour_1000_hab' as indicateur,
    {{ ratio('sport_culture', 'population', 1000) }} as valeur,
    cast(sport_culture as double) as numerateur,
    population as denominateur,
    case when population > 0 then 'disponible' else 'non_publie' end as statut,
    source || '|insee_pop_qpv:' || coalesce(cast(millesime_population as varchar), '?') as source
from base

union all

select
    code_qpv, millesime, 'professionnels_sante_pour_1000_hab' as indicateur,
    {{ ratio('sante', 'population', 1000) }} as valeur,
    cast(sante as double) as numerateur,
    population as denominateur,
    case when population > 0 then 'disponible' else 'non_publie' end as statut,
    source || '|insee_pop_qpv:' || coalesce(cast(millesime_population as varchar), '?') as source
from base
