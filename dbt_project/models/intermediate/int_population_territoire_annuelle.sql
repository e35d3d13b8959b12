-- Population municipale of the comparison territories (communes, EPCI, France) for any year, from the
-- INSEE Melodi populations de référence: the latest millésime not after the year, else the first one.
with pop as (
    select niveau_geo, code_geo, millesime, valeur as population
    from {{ ref('stg_insee__melodi') }}
    where mesure_code = 'PMUN' and valeur is not null
),

annees as (
    select cast(annee as integer) as annee
    from range({{ var('premier_millesime_denominateur') }}, year(current_date) + 2) as r(annee)
),

grille as (
    select territoire.niveau_geo, territoire.code_geo, annees.annee
    from (select distinct niveau_geo, code_geo from pop) as territoire
    cross join annees
),

avant as (
    select grille.*, pop.population
    from grille
    asof left join pop
        on grille.niveau_geo = pop.niveau_geo and grille.code_geo = pop.code_geo and grille.annee >= pop.millesime
),

premiere as (
    select niveau_geo, code_geo, arg_min(population, millesime) as population
    from pop
    group by niveau_geo, code_geo
)

select avant.niveau_geo, avant.code_geo, avant.annee, coalesce(avant.population, premiere.population) as population
from avant
inner join premiere using (niveau_geo, code_geo)
