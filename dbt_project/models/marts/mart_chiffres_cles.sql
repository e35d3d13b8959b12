-- The contract's key figures recomputed from the data, per millésime, beside the figure the contract printed.
-- Figures whose source is not published for the 2024 geography yet are listed with statut non_publie.
with qpv as (
    select * from {{ ref('dim_qpv') }}
),

fct as (
    select * from {{ ref('fct_indicateur_qpv') }}
),

pop as (
    select millesime, sum(valeur) as population, count(valeur) as qpv_renseignes
    from fct where indicateur = 'population' group by millesime
),

pop_perimetre as (
    select annee as millesime, population
    from {{ ref('int_population_territoire_annuelle') }}
    where niveau_geo = {{ niveau_perimetre() }} and code_geo = {{ code_perimetre() }}
),

pauvrete as (
    select millesime,
        {{ ratio('sum(numerateur)', 'sum(denominateur)') }} as taux,
        count(valeur) as qpv_renseignes
    from fct where indicateur = 'taux_pauvrete' group by millesime
),

jeunes as (
    select millesime, sum(numerateur) as jeunes, count(numerateur) as qpv_renseignes
    from fct where indicateur = 'part_moins_25_ans' group by millesime
),

defm as (
    -- demandeurs d'emploi (cat. ABC) per inhabitant in QPV vs outside QPV in the perimeter; QPV whose count is
    -- secret are estimated at the ratio of the others (counted in qpv_renseignes, said in methode)
    select
        f.millesime,
        sum(f.valeur) as defm_connus,
        sum(p.population) filter (where f.valeur is not null) as pop_connus,
        sum(p.population) as pop_qpv,
        count(f.valeur) as qpv_renseignes,
        any_value(f.valeur_perimetre) as defm_perimetre,
        bool_or(f.rupture_serie) as rupture
    from fct as f
    left join {{ ref('int_population_qpv_annuelle') }} as p on p.code_qpv = f.code_qpv and p.annee = f.millesime
    where f.indicateur = 'nb_demandeurs_emploi_abc'
    group by f.millesime
),

defm_ratio as (
    select
        d.*,
        pp.population as pop_perimetre,
        {{ ratio('d.defm_connus', 'd.pop_connus', 1) }} as ratio_qpv,
        {{ ratio('d.defm_perimetre - ' ~ ratio('d.defm_connus', 'd.pop_connus', 1) ~ ' * d.pop_qpv',
                 'pp.population - d.pop_qpv', 1) }} as ratio_hors_qpv
    from defm as d
    left join pop_perimetre as pp using (millesime)
),

n_qpv as (
    select count(*) as n from qpv
),

calcul as (
    select 'nombre_qpv' as chiffre, pop.millesime, cast((select n from n_qpv) as double) as valeur,
        'disponible' as statut, 'Nombre de lignes de dim_qpv (périmètre de l''observatoire).' as methode,
        cast(null as integer) as qpv_renseignes
    from pop
    union all
    select 'nombre_communes', pop.millesime, cast((select count(distinct code_commune) from qpv) as double),
        'disponible', 'Communes principales des QPV (Les Escourtines comptées à Marseille).', null
    from pop
    union all
    select 'population_qpv', millesime, population,
        case when qpv_renseignes = (select n from n_qpv) then 'disponible' else 'non_publie' end,
        'Somme des populations municipales des QPV (recensement), chaque QPV compté une fois.', qpv_renseignes
    from pop
    union all
    select 'part_population_perimetre_en_qpv', pop.millesime, {{ ratio('pop.population', 'pp.population') }},
        case when pp.population is not null and pop.qpv_renseignes = (select n from n_qpv) then 'disponible'
             else 'non_publie' end,
        'Population des QPV / population municipale du périmètre (INSEE, populations de référence).',
        pop.qpv_renseignes
    from pop
    left join pop_perimetre as pp using (millesime)
    union all
    select 'taux_pauvrete_qpv', millesime, taux,
        case when taux is not null then 'disponible' else 'non_publie' end,
        'Moyenne des taux de pauvreté des QPV pondérée par leur population (QPV dont le taux est publié).',
        qpv_renseignes
    from pauvrete
    union all
    select 'jeunes_moins_25_ans_qpv', millesime, jeunes,
        case when qpv_renseignes = (select n from n_qpv) then 'disponible' else 'non_publie' end,
        'Somme des moins de 25 ans des QPV (estimations démographiques INSEE).', qpv_renseignes
    from jeunes
    union all
    select 'part_jeunes_moins_25_ans_en_qpv', millesime, cast(null as double), 'non_publie',
        'Nécessite la population des moins de 25 ans du périmètre, non chargée (recensement par âge).',
        qpv_renseignes
    from jeunes
    union all
    select 'ratio_chomage_qpv_hors_qpv', millesime,
        ratio_qpv / nullif(ratio_hors_qpv, 0),
        case when ratio_qpv is not null and ratio_hors_qpv > 0 then 'disponible' else 'non_publie' end,
        'Demandeurs d''emploi (ABC) par habitant en QPV rapportés au même ratio hors QPV dans le périmètre : '
        || 'approximation (le contrat compare des taux de chômage à diplôme égal, non publiés par QPV).'
        || case when qpv_renseignes < (select n from n_qpv)
                then ' ' || ((select n from n_qpv) - qpv_renseignes) || ' QPV au secret estimés au ratio des autres.'
                else '' end
        || case when rupture then ' Rupture de série en 2025 (inscription automatique des allocataires du RSA).'
                else '' end,
        qpv_renseignes
    from defm_ratio
    union all
    select chiffre, (select max(millesime) from pop), cast(null as double), 'non_publie',
        'Source non publiée pour la géographie 2024 : recensement, base logement par QPV (INSEE).', null
    from (values ('suroccupation_qpv'), ('suroccupation_hors_qpv')) as t(chiffre)
)

select
    calcul.chiffre,
    ref.ordre,
    ref.libelle,
    cast(calcul.millesime as integer) as millesime,
    calcul.valeur,
    ref.unite,
    {#- the contract's own figures describe the Métropole: never set beside another perimeter's -#}
    {%- set contrat = (var('perimetre') | string) == 'epci:200054807' %}
    {{ 'ref.valeur_contrat' if contrat else 'cast(null as double)' }} as valeur_contrat,
    {{ 'ref.libelle_contrat' if contrat else 'cast(null as varchar)' }} as libelle_contrat,
    {{ 'calcul.valeur - ref.valeur_contrat' if contrat else 'cast(null as double)' }} as ecart_contrat,
    calcul.statut,
    calcul.methode,
    cast(calcul.qpv_renseignes as integer) as qpv_renseignes
from calcul
inner join {{ ref('ref_chiffre_cle') }} as ref using (chiffre)
where calcul.millesime is not null
