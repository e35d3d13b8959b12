-- "Where are we now": one row per QPV of the perimeter × indicateur of the catalogue (every pair, none
-- missing). The latest millésime with an available value; when none is available, the latest millésime known
-- for the pair with its statut and motif (NULL millésime if the pair has no row at all, then the catalogue's
-- statut rule). Comparators, gaps, series break and evolution since the reference millésime come from
-- fct_indicateur_qpv's row of that millésime, so they mean exactly what they mean there.
with qpv as (
    select code_qpv, libelle_qpv, code_commune, libelle_commune
    from {{ ref('dim_qpv') }}
),

catalogue as (
    select
        ind.indicateur,
        ind.defi,
        defi.numero_defi,
        ind.libelle,
        ind.unite,
        ind.sens,
        ind.type_source,
        ind.source,
        ind.motif_indisponibilite
    from {{ ref('dim_indicateur') }} as ind
    left join {{ ref('dim_defi') }} as defi using (defi)
),

fct as (
    select * from {{ ref('fct_indicateur_qpv') }}
),

derniere as (
    -- per pair: the latest available millésime, else the latest millésime
    select *
    from fct
    qualify row_number() over (
        partition by code_qpv, indicateur
        order by case when statut = 'disponible' then 0 else 1 end, millesime desc
    ) = 1
),

reference as (
    select code_qpv, indicateur, millesime, valeur, statut, motif
    from fct
)

select
    qpv.code_qpv,
    qpv.libelle_qpv,
    qpv.code_commune,
    qpv.libelle_commune,
    catalogue.defi,
    catalogue.numero_defi,
    catalogue.indicateur,
    catalogue.libelle,
    catalogue.unite,
    catalogue.sens,
    derniere.millesime,
    derniere.valeur,
    coalesce(derniere.statut, {{ statut_sans_valeur('catalogue.type_source') }}) as statut,
    case
        when derniere.valeur is not null then derniere.motif
        when derniere.motif is not null then derniere.motif
        when derniere.code_qpv is null and catalogue.motif_indisponibilite is not null
            then catalogue.motif_indisponibilite
        when derniere.code_qpv is null
            then 'Aucun millésime de cet indicateur pour ce quartier dans l''observatoire'
        else {{ motif_par_defaut('derniere.statut') }}
    end as motif,
    derniere.millesime_reference,
    reference.valeur as valeur_reference,
    reference.statut as statut_reference,
    case
        when reference.valeur is not null then reference.motif
        when reference.motif is not null then reference.motif
        when reference.statut is not null then {{ motif_par_defaut('reference.statut') }}
    end as motif_reference,
    derniere.evolution_reference,
    derniere.valeur_commune,
    derniere.valeur_commune_hors_qpv,
    derniere.valeur_perimetre,
    derniere.valeur_france,
    derniere.ecart_commune,
    derniere.ecart_commune_hors_qpv,
    derniere.ecart_perimetre,
    derniere.ecart_france,
    coalesce(derniere.source, catalogue.source) as source,
    coalesce(derniere.rupture_serie, false) as rupture_serie,
    derniere.note_rupture,
    derniere.date_publication,
    derniere.prochaine_publication
from qpv
cross join catalogue
left join derniere
    on derniere.code_qpv = qpv.code_qpv and derniere.indicateur = catalogue.indicateur
left join reference
    on reference.code_qpv = derniere.code_qpv and reference.indicateur = derniere.indicateur
    and reference.millesime = derniere.millesime_reference
