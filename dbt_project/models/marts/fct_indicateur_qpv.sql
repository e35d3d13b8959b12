-- The long fact: one row per QPV of the perimeter × indicateur of the catalogue × millésime it covers.
-- A value, or NULL with the statut that says why (never a silent absence, never 0 for a withheld value),
-- its comparators on the same row, the gaps to them, its evolutions and its freshness.
with spine as (
    select qpv.code_qpv, qpv.code_commune, im.indicateur, im.millesime
    from {{ ref('int_qpv_perimetre') }} as qpv
    cross join {{ ref('int_indicateur_millesimes') }} as im
),

catalogue as (
    select *, split_part(source, '|', 1) as source_principale
    from {{ ref('ref_indicateur') }}
),

registre as (
    select * from {{ ref('stg_registre__millesimes') }}
),

registre_source as (
    -- per source: why it is not published yet, when next
    select source, any_value(statut_source) as statut_source, any_value(motif) as motif,
        any_value(prochaine_publication) as prochaine_publication
    from registre
    group by source
),

comparateurs as (
    select * from {{ ref('int_comparateurs') }}
),

partenaires as (
    -- freshness of a partner value: the day its file was received (one file in force per indicateur × millésime)
    select indicateur, millesime, max(recu_le) as recu_le
    from {{ ref('stg_partenaires__valeurs') }}
    group by indicateur, millesime
),

base as (
    select
        spine.code_qpv,
        spine.code_commune,
        spine.indicateur,
        cast(spine.millesime as integer) as millesime,
        valeurs.valeur,
        valeurs.numerateur,
        valeurs.denominateur,
        catalogue.unite,
        catalogue.agregation,
        coalesce(
            valeurs.statut,
            case catalogue.type_source
                when 'partner' then 'attendu_partenaire'
                when 'computed' then 'non_calculable'
                else 'non_publie'
            end
        ) as statut,
        case
            when valeurs.statut is not null then valeurs.motif
            when catalogue.type_source = 'open' and registre_source.statut_source = 'non_publie'
                then 'Source non publiée pour la géographie 2024 : ' || registre_source.motif
            when catalogue.type_source = 'open' and registre_source.source is null
                then coalesce(catalogue.motif_indisponibilite, 'Source pas encore chargée par l''observatoire')
            when catalogue.type_source = 'open'
                then 'Pas de valeur pour ce millésime dans la source'
            else catalogue.motif_indisponibilite
        end as motif,
        coalesce(valeurs.source, catalogue.source) as source,
        catalogue.source_principale,
        registre_source.prochaine_publication as prochaine_publication_source
    from spine
    inner join catalogue using (indicateur)
    left join {{ ref('int_indicateurs_qpv') }} as valeurs
        on valeurs.code_qpv = spine.code_qpv
        and valeurs.indicateur = spine.indicateur
        and valeurs.millesime = spine.millesime
    left join registre_source on registre_source.source = catalogue.source_principale
),

avec_comparateurs as (
    select
        base.*,
        c_commune.valeur as valeur_commune,
        c_hors.valeur as valeur_commune_hors_qpv,
        c_perimetre.valeur as valeur_perimetre,
        c_france.valeur as valeur_france
    from base
    left join comparateurs as c_commune
        on c_commune.indicateur = base.indicateur and c_commune.millesime = base.millesime
        and c_commune.niveau = 'commune' and c_commune.code_geo = base.code_commune
    left join comparateurs as c_hors
        on c_hors.indicateur = base.indicateur and c_hors.millesime = base.millesime
        and c_hors.niveau = 'commune_hors_qpv' and c_hors.code_geo = base.code_commune
    left join comparateurs as c_perimetre
        on c_perimetre.indicateur = base.indicateur and c_perimetre.millesime = base.millesime
        and c_perimetre.niveau = 'perimetre'
    left join comparateurs as c_france
        on c_france.indicateur = base.indicateur and c_france.millesime = base.millesime
        and c_france.niveau = 'france'
),

ruptures as (
    -- known breaks of series (seed), and the breaks accepted for a source's file in use
    -- (observatoire run --accept-break SOURCE --reason …): every indicator built from that source
    select indicateur, millesime_debut, description from {{ ref('ref_rupture_serie') }}
    union all
    select catalogue.indicateur, registre.millesime as millesime_debut,
        'Rupture de série acceptée pour la source ' || registre.source || ' (millésime '
        || cast(registre.millesime as varchar) || ') : ' || registre.rupture_motif as description
    from registre
    inner join catalogue on ('|' || catalogue.source || '|') like ('%|' || registre.source || '|%')
    where registre.rupture_motif is not null
    union all
    select distinct indicateur, millesime as millesime_debut,
        'Rupture de série acceptée pour le fichier de ' || partenaire || ' (millésime '
        || cast(millesime as varchar) || ') : ' || rupture_motif as description
    from {{ ref('stg_partenaires__valeurs') }}
    where rupture_motif is not null
),

evolutions as (
    select
        a.*,
        min(a.millesime) over w_all as millesime_reference,
        first_value(a.valeur) over (w_all order by a.millesime
            rows between unbounded preceding and unbounded following) as valeur_reference,
        lag(a.valeur) over (w_all order by a.millesime) as valeur_precedente,
        lag(a.millesime) over (w_all order by a.millesime) as millesime_precedent
    from avec_comparateurs as a
    window w_all as (partition by a.code_qpv, a.indicateur)
)

select
    e.code_qpv,
    e.indicateur,
    e.millesime,
    e.valeur,
    e.numerateur,
    e.denominateur,
    e.unite,
    e.statut,
    e.motif,
    e.source,
    e.code_commune,
    e.valeur_commune,
    e.valeur_commune_hors_qpv,
    e.valeur_perimetre,
    e.valeur_france,
    {% for niveau in ['commune', 'commune_hors_qpv', 'perimetre', 'france'] %}
    case when e.agregation <> 'somme' then e.valeur - e.valeur_{{ niveau }} end as ecart_{{ niveau }},
    {% endfor %}
    e.millesime_reference,
    case
        when exists (select 1 from ruptures as r where r.indicateur = e.indicateur
                     and r.millesime_debut > e.millesime_reference and r.millesime_debut <= e.millesime)
            then null
        else e.valeur - e.valeur_reference
    end as evolution_reference,
    case
        when exists (select 1 from ruptures as r where r.indicateur = e.indicateur
                     and r.millesime_debut > e.millesime_precedent and r.millesime_debut <= e.millesime)
            then null
        else e.valeur - e.valeur_precedente
    end as evolution_precedent,
    exists (select 1 from ruptures as r where r.indicateur = e.indicateur and r.millesime_debut <= e.millesime)
        as rupture_serie,
    (select any_value(r.description) from ruptures as r
     where r.indicateur = e.indicateur and r.millesime_debut <= e.millesime) as note_rupture,
    coalesce(registre.date_publication, cast(partenaires.recu_le as date)) as date_publication,
    coalesce(cast(registre.charge_le as timestamp), partenaires.recu_le) as date_chargement,
    coalesce(registre.prochaine_publication, e.prochaine_publication_source) as prochaine_publication
from evolutions as e
left join registre on registre.source = e.source_principale and registre.millesime = e.millesime
left join partenaires
    on e.source like 'partenaires:%' and partenaires.indicateur = e.indicateur and partenaires.millesime = e.millesime
