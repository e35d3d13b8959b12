-- The communes of the perimeter (comparators are summed over them): the member communes of the EPCI as
-- published by INSEE (Melodi, GEO=EPCI-<siren>*COM), else the référentiel's communes.
with melodi as (
    select distinct code_geo as code_commune
    from {{ ref('stg_insee__melodi') }}
    where niveau_geo = 'COM'
),

referentiel as (
    select code_commune
    from {{ ref('int_communes_referentiel') }}
    where role_commune <> 'territoire_enjeux'
      and {{ perimetre_filter('code_epci', 'code_departement') }}
)

select code_commune from melodi
union
select code_commune from referentiel
where not exists (select 1 from melodi)
