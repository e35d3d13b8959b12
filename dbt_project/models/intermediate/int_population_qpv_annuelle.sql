-- The population of each QPV to use as the denominator of a rate for any year: the census population of
-- the latest millésime not after that year, or, before the first census millésime, the first one.
-- One row per QPV × year (from var premier_millesime_denominateur to next year).
with pop as (
    select code_qpv, millesime, population
    from {{ ref('stg_insee__pop_qpv') }}
    where population is not null
),

annees as (
    select cast(annee as integer) as annee
    from range({{ var('premier_millesime_denominateur') }}, year(current_date) + 2) as r(annee)
),

grille as (
    select qpv.code_qpv, annees.annee
    from (select distinct code_qpv from pop) as qpv
    cross join annees
),

avant as (
    select grille.code_qpv, grille.annee, pop.millesime as millesime_population, pop.population
    from grille
    asof left join pop on grille.code_qpv = pop.code_qpv and grille.annee >= pop.millesime
),

premiere as (
    select code_qpv, arg_min(population, millesime) as population, min(millesime) as millesime
    from pop
    group by code_qpv
)

select
    avant.code_qpv,
    avant.annee,
    coalesce(avant.population, premiere.population) as population,
    coalesce(avant.millesime_population, premiere.millesime) as millesime_population
from avant
inner join premiere using (code_qpv)
