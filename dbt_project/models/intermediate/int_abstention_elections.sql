-- The abstention gap of every loaded election (observatoire/calculs.py → raw.calcul_indicateurs, indicateur
-- ecart_taux_abstention), per QPV of the perimeter × election. The raw rows hold the two halves of the gap: the
-- QPV's apportioned abstentions and inscrits (niveau qpv), and each commune's outside every QPV (niveau
-- commune). The reference is the perimeter's communes summed (the rest of the territory, outside every QPV),
-- so a change of perimeter needs no recomputation.
--
-- Two elections of one year share the millésime and are told apart by id_election (2024_euro_t1,
-- 2024_legi_t1). The baromètre keeps one election per millésime (retenue_barometre): the first of
-- présidentielle, législatives, municipales, européennes, régionales, départementales, cantonales, référendum,
-- first round before second — the most-voted national election of the year, so that the series compares like
-- with like as far as the calendar allows.
with calc as (
    select * from {{ ref('stg_calcules__indicateurs') }}
    where indicateur = 'ecart_taux_abstention' and id_election is not null
),

reference as (
    select
        id_election,
        sum(numerateur) as abstentions_hors_qpv,
        sum(denominateur) as inscrits_hors_qpv
    from calc
    where niveau = 'commune' and code in (select code_commune from {{ ref('int_communes_perimetre') }})
    group by id_election
),

elections as (
    select
        id_election,
        millesime,
        split_part(id_election, '_', 2) as type_election,
        cast(right(id_election, 1) as integer) as tour
    from calc
    group by id_election, millesime
),

rang as (
    select
        *,
        row_number() over (
            partition by millesime
            order by
                case type_election
                    when 'pres' then 1 when 'legi' then 2 when 'muni' then 3 when 'euro' then 4
                    when 'regi' then 5 when 'dpmt' then 6 when 'cant' then 7 else 8
                end,
                tour,
                id_election
        ) = 1 as retenue_barometre
    from elections
),

qpv as (
    select * from calc
    where niveau = 'qpv' and code in (select code_qpv from {{ ref('int_qpv_perimetre') }})
)

select
    q.code                                      as code_qpv,
    q.id_election,
    q.millesime,
    e.type_election,
    e.tour,
    q.denominateur                              as inscrits_qpv,
    q.numerateur                                as abstentions_qpv,
    case when q.statut = 'disponible' and q.denominateur > 0
        then 100 * q.numerateur / q.denominateur end                   as taux_abstention_qpv,
    case when r.inscrits_hors_qpv > 0
        then 100 * r.abstentions_hors_qpv / r.inscrits_hors_qpv end    as taux_abstention_hors_qpv,
    case when q.statut = 'disponible' and q.denominateur > 0 and r.inscrits_hors_qpv > 0
        then 100 * q.numerateur / q.denominateur - 100 * r.abstentions_hors_qpv / r.inscrits_hors_qpv
    end                                         as ecart_points,
    case when q.statut = 'disponible' and q.denominateur > 0 and r.inscrits_hors_qpv > 0
        then 'disponible' else 'non_calculable' end                    as statut,
    case
        when q.statut <> 'disponible' then q.motif
        when coalesce(r.inscrits_hors_qpv, 0) = 0
            then 'aucun inscrit hors QPV dans les communes du périmètre : pas de référence'
    end                                         as motif,
    e.retenue_barometre,
    q.source
from qpv as q
inner join rang as e on e.id_election = q.id_election
left join reference as r on r.id_election = q.id_election
