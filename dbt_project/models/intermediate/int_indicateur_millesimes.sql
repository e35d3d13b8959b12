-- The millésimes each indicator of the catalogue covers:
--   * those present in the data;
--   * for a partner baromètre, every year from var('premier_millesime_partenaire') to the current year;
--   * for an indicator with no data yet (non publié, non calculable), the observatory's reference
--     millésime: the latest millésime of the population.
with presents as (
    select distinct indicateur, millesime from {{ ref('int_indicateurs_qpv') }}
),

reference as (
    select coalesce(max(millesime), {{ var('premier_millesime_partenaire') }}) as millesime
    from presents
    where indicateur = 'population'
),

partenaires as (
    select ind.indicateur, cast(annee.millesime as integer) as millesime
    from {{ ref('ref_indicateur') }} as ind
    cross join range({{ var('premier_millesime_partenaire') }}, year(current_date) + 1) as annee(millesime)
    where ind.type_source = 'partner'
),

sans_donnees as (
    select ind.indicateur, reference.millesime
    from {{ ref('ref_indicateur') }} as ind
    cross join reference
    where ind.type_source <> 'partner'
      and ind.indicateur not in (select indicateur from presents)
)

select indicateur, millesime from presents
union
select indicateur, millesime from partenaires
union
select indicateur, millesime from sans_donnees
