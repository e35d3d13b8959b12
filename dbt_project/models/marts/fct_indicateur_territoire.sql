-- Indicators of the territoires à enjeux (Gardanne, La Ciotat) on their 2015 QPV perimeter, where the
-- sources allow (a source that still carries the 2015 geography). Never mixed into the QPV 2024 tables and
-- never compared with 2024-geography values.
with rnic as (
    select *
    from {{ ref('stg_logement__rnic') }}
    qualify row_number() over (
        partition by numero_immatriculation, millesime order by date_derniere_maj desc nulls last, ligne_source desc
    ) = 1
),

territoires as (
    select * from {{ ref('int_territoire_enjeux_qp2015') }}
),

millesimes as (
    select distinct millesime from rnic
),

grille as (
    select t.territoire, m.millesime
    from {{ ref('ref_territoire_enjeux') }} as t
    cross join millesimes as m
),

comptes as (
    select
        territoires.territoire,
        rnic.millesime,
        count(*) as coproprietes,
        count(*) filter (
            where rnic.copro_aidee = 'oui' or rnic.mandat_en_cours like '%administrat%'
                or rnic.mandat_en_cours like '%ad hoc%'
        ) as fragiles
    from rnic
    inner join territoires using (code_qp_2015)
    group by all
)

select
    grille.territoire,
    'nb_coproprietes_fragiles' as indicateur,
    cast(grille.millesime as integer) as millesime,
    'qpv_2015' as geographie,
    cast(comptes.fragiles as double) as valeur,
    case when comptes.territoire is null then 'non_publie' else 'disponible' end as statut,
    'anah_rnic' as source
from grille
left join comptes using (territoire, millesime)

union all

select
    grille.territoire,
    'nb_coproprietes_immatriculees',
    cast(grille.millesime as integer),
    'qpv_2015',
    cast(comptes.coproprietes as double),
    case when comptes.territoire is null then 'non_publie' else 'disponible' end,
    'anah_rnic'
from grille
left join comptes using (territoire, millesime)
