-- Comparators of each indicator: the value for the commune, the commune outside its QPV, the perimeter
-- (its EPCI, département or France) and France métropolitaine, one row per indicateur × millésime × niveau ×
-- territory. Rates are recomputed from numerators and denominators (never averages of rates); medians and
-- rates published by INSEE (Melodi) are taken as published. Population denominators are the census
-- population of the closest millésime not after the indicator's (INSEE populations de référence).
-- Values outside QPV (commune_hors_qpv) = commune total minus the QPV whose main commune it is, only when
-- every such QPV value is known (a secret QPV value makes the difference unknowable).
{% set comptes = {
    'population': 'population',
    'nb_allocataires_caf': 'allocataires',
    'nb_personnes_couvertes_caf': 'personnes_couvertes',
    'nb_allocataires_rsa': 'allocataires_rsa',
    'nb_demandeurs_emploi_abc': 'demandeurs_emploi_abc',
} %}
with communes as (
    select code_commune from {{ ref('int_communes_perimetre') }}
),

pop_territoires as (
    select * from {{ ref('int_population_territoire_annuelle') }}
),

variables as (
    select millesime, code_commune, variable, valeur from {{ ref('int_variables_commune') }}
    union all
    select annee, code_geo, 'population', population from pop_territoires where niveau_geo = 'COM'
),

qpv as (
    select code_qpv, code_commune from {{ ref('int_qpv_perimetre') }}
),

-- QPV totals per main commune, for every count (population included)
qpv_totaux as (
    select qpv.code_commune, v.millesime, v.indicateur, sum(v.valeur) as valeur,
        count(*) = count(v.valeur) as complet
    from {{ ref('int_indicateurs_qpv') }} as v
    inner join qpv using (code_qpv)
    where v.indicateur in ({% for k in comptes %}'{{ k }}'{% if not loop.last %}, {% endif %}{% endfor %})
    group by all
    union all
    select qpv.code_commune, pop.annee, 'population_annuelle', sum(pop.population), count(*) = count(pop.population)
    from {{ ref('int_population_qpv_annuelle') }} as pop
    inner join qpv using (code_qpv)
    group by all
),

communes_qpv as (
    select distinct code_commune from qpv
),

-- counts ------------------------------------------------------------------------------------------------
comptes as (
    {% for indicateur, variable in comptes.items() %}
    select '{{ indicateur }}' as indicateur, millesime, 'commune' as niveau, code_commune as code_geo, valeur
    from variables
    where variable = '{{ variable }}' and code_commune in (select code_commune from communes_qpv)

    union all

    select '{{ indicateur }}', v.millesime, 'commune_hors_qpv', v.code_commune,
        case when t.complet then v.valeur - t.valeur end
    from variables as v
    inner join qpv_totaux as t
        on t.code_commune = v.code_commune and t.millesime = v.millesime and t.indicateur = '{{ indicateur }}'
    where v.variable = '{{ variable }}'
    {% if indicateur != 'population' %}
    union all

    select '{{ indicateur }}', millesime, 'perimetre', {{ code_perimetre() }},
        case when count(*) = (select count(*) from communes) then sum(valeur) end
    from variables
    where variable = '{{ variable }}' and code_commune in (select code_commune from communes)
    group by millesime
    {% endif %}
    {% if not loop.last %}union all{% endif %}
    {% endfor %}
),

population_directe as (
    -- the perimeter's and France's population as published (more exact than a sum of communes)
    select 'population' as indicateur, millesime, 'perimetre' as niveau, code_geo, valeur
    from {{ ref('stg_insee__melodi') }}
    where mesure_code = 'PMUN' and niveau_geo = {{ niveau_perimetre() }} and code_geo = {{ code_perimetre() }}
    union all
    select 'population', millesime, 'france', code_geo, valeur  -- Melodi's code of France ('F'), as the other rows
    from {{ ref('stg_insee__melodi') }}
    where mesure_code = 'PMUN' and niveau_geo = 'FRANCE'
),

-- rates recomputed from counts ------------------------------------------------------------------------
ratios_communes as (
    select
        v.millesime,
        v.code_commune,
        max(case when v.variable = 'personnes_couvertes' then v.valeur end) as personnes_couvertes,
        max(case when v.variable = 'equipements_sport_culture' then v.valeur end) as sport_culture,
        max(case when v.variable = 'equipements_sante' then v.valeur end) as sante,
        max(case when v.variable = 'equipements_sport_culture_hors_qpv' then v.valeur end) as sport_culture_hors,
        max(case when v.variable = 'equipements_sante_hors_qpv' then v.valeur end) as sante_hors,
        max(case when v.variable = 'dpe' then v.valeur end) as dpe,
        max(case when v.variable = 'dpe_f_g' then v.valeur end) as dpe_f_g,
        max(case when v.variable = 'dpe_hors_qpv' then v.valeur end) as dpe_hors,
        max(case when v.variable = 'dpe_f_g_hors_qpv' then v.valeur end) as dpe_f_g_hors
    from variables as v
    where v.variable <> 'population'
    group by all
),

ratios_base as (
    select
        r.*,
        pop.population,
        pop.population - t_pop.valeur as population_hors_qpv,
        r.personnes_couvertes - t_cov.valeur as personnes_couvertes_hors,
        coalesce(t_cov.complet, false) and coalesce(t_pop.complet, false) as cov_complet,
        r.code_commune in (select code_commune from communes) as dans_perimetre,
        r.code_commune in (select code_commune from communes_qpv) as a_qpv
    from ratios_communes as r
    left join pop_territoires as pop
        on pop.niveau_geo = 'COM' and pop.code_geo = r.code_commune and pop.annee = r.millesime
    left join qpv_totaux as t_pop
        on t_pop.code_commune = r.code_commune and t_pop.millesime = r.millesime
        and t_pop.indicateur = 'population_annuelle'
    left join qpv_totaux as t_cov
        on t_cov.code_commune = r.code_commune and t_cov.millesime = r.millesime
        and t_cov.indicateur = 'nb_personnes_couvertes_caf'
),

pop_perimetre as (
    select annee as millesime, population
    from pop_territoires
    where niveau_geo = {{ niveau_perimetre() }} and code_geo = {{ code_perimetre() }}
),

ratios as (
    {#- (indicator, numerator, numerator outside QPV, factor, outside-QPV knowable, exhaustive source: a commune
        absent from it counts 0 — the BPE lists every equipment — rather than unknown) -#}
    {% set defs = [
        ('part_population_couverte_caf', 'personnes_couvertes', 'personnes_couvertes_hors', 100, 'cov_complet', false),
        ('equipements_sport_culture_pour_1000_hab', 'sport_culture', 'sport_culture_hors', 1000, 'true', true),
        ('professionnels_sante_pour_1000_hab', 'sante', 'sante_hors', 1000, 'true', true),
    ] %}
    {% for ind, num, num_hors, facteur, complet, exhaustif in defs %}
    select '{{ ind }}' as indicateur, millesime, 'commune' as niveau, code_commune as code_geo,
        {{ ratio(num, 'population', facteur) }} as valeur
    from ratios_base where a_qpv
    union all
    select '{{ ind }}', millesime, 'commune_hors_qpv', code_commune,
        case when {{ complet }} then {{ ratio(num_hors, 'population_hors_qpv', facteur) }} end
    from ratios_base where a_qpv
    union all
    select '{{ ind }}', b.millesime, 'perimetre', {{ code_perimetre() }},
        {{ ratio('sum(b.' ~ num ~ ')', 'max(p.population)', facteur) }}
    from ratios_base as b
    inner join pop_perimetre as p using (millesime)
    where b.dans_perimetre
    group by b.millesime
    {% if not exhaustif %}having count(b.{{ num }}) = (select count(*) from communes){% endif %}
    union all
    {% endfor %}
    select 'part_dpe_f_g', millesime, 'commune', code_commune, {{ ratio('dpe_f_g', 'dpe') }}
    from ratios_base where a_qpv
    union all
    select 'part_dpe_f_g', millesime, 'commune_hors_qpv', code_commune, {{ ratio('dpe_f_g_hors', 'dpe_hors') }}
    from ratios_base where a_qpv
    union all
    select 'part_dpe_f_g', millesime, 'perimetre', {{ code_perimetre() }}, {{ ratio('sum(dpe_f_g)', 'sum(dpe)') }}
    from ratios_base where dans_perimetre
    group by millesime
),

-- published by INSEE for the territories (Melodi): medians and poverty rates -----------------------------
publies as (
    select
        case mesure_code
            when 'MED_SL' then 'revenu_median'
            when 'PR_MD60' then 'taux_pauvrete'
        end as indicateur,
        millesime,
        case niveau_geo when 'COM' then 'commune' when 'FRANCE' then 'france' else 'perimetre' end as niveau,
        code_geo,
        valeur
    from {{ ref('stg_insee__melodi') }}
    where mesure_code in ('MED_SL', 'PR_MD60')
      and (niveau_geo in ('COM', 'FRANCE')
           or (niveau_geo = {{ niveau_perimetre() }} and code_geo = {{ code_perimetre() }}))
),

-- computed by the pipeline (observatoire/calculs.py): the commune as computed, the perimeter summed from its
-- communes' numerators and denominators (never an average of rates) ---------------------------------------
calcules as (
    select indicateur, millesime, 'commune' as niveau, code as code_geo, valeur
    from {{ ref('stg_calcules__indicateurs') }}
    where niveau = 'commune' and code in (select code_commune from communes_qpv)
      and indicateur <> 'ecart_taux_abstention'  -- its commune rows are the halves of its own reference
    union all
    select indicateur, millesime, 'perimetre', {{ code_perimetre() }},
        {{ ratio('sum(numerateur)', 'sum(denominateur)', "case when indicateur in ('part_pop_arret_tc_300m', 'part_types_gamme_proximite_1km') then 100 else 1 end") }}
    from {{ ref('stg_calcules__indicateurs') }}
    where niveau = 'commune' and code in (select code_commune from communes)
      and indicateur <> 'ecart_taux_abstention'
    group by indicateur, millesime
)

select indicateur, millesime, niveau, code_geo, valeur from comptes
union all
select * from calcules
union all
select * from population_directe
union all
select * from ratios
union all
select * from publies where indicateur is not null
