-- Every indicator value computed from the sources (and sent by partners), for the QPV of the perimeter, one row per
-- QPV × indicateur × millésime, with the project's secret-statistique rule applied from the catalogue:
-- a count below `seuil_secret`, or a rate whose numerator or denominator is below it, is not published
-- (valeur, numerateur and denominateur NULL, statut secret_statistique).
-- The per-source models unioned are every models/intermediate/int_indicateurs__*.sql, listed by the macro
-- modeles_indicateurs() that dbt_project/scripts/generate_marts.py writes.
with valeurs as (
    {% for model in modeles_indicateurs() %}
    select code_qpv, millesime, indicateur, valeur, numerateur, denominateur, statut, source
    from {{ ref(model) }}
    {% if not loop.last %}union all{% endif %}
    {% endfor %}
),

perimetre as (
    select valeurs.*
    from valeurs
    inner join {{ ref('int_qpv_perimetre') }} using (code_qpv)
),

regle as (
    select
        perimetre.*,
        catalogue.seuil_secret,
        catalogue.valeur_min,
        catalogue.valeur_max,
        catalogue.unite,
        perimetre.statut = 'disponible' and catalogue.seuil_secret is not null and (
            (catalogue.agregation = 'somme' and perimetre.valeur < catalogue.seuil_secret)
            or (catalogue.agregation <> 'somme' and (
                perimetre.numerateur < catalogue.seuil_secret or perimetre.denominateur < catalogue.seuil_secret
            ))
        ) as sous_le_seuil,
        -- a value the project derives from several sources or millésimes (a rate, a ratio, a per-1,000: the
        -- catalogue lists its sources with '|') that falls outside its plausible range is not published: the
        -- sources disagree for this QPV (different millésimes, new housing…); it never blocks the others
        perimetre.statut = 'disponible' and catalogue.source like '%|%' and (
            perimetre.valeur < catalogue.valeur_min or perimetre.valeur > catalogue.valeur_max
        ) as hors_plage,
        split_part(catalogue.source, '|', 2) as source_denominateur_catalogue
    from perimetre
    inner join {{ ref('ref_indicateur') }} as catalogue using (indicateur)
)

select
    code_qpv,
    millesime,
    indicateur,
    case when sous_le_seuil or hors_plage then null else valeur end as valeur,
    case when sous_le_seuil then null else numerateur end as numerateur,
    case when sous_le_seuil then null else denominateur end as denominateur,
    case
        when sous_le_seuil then 'secret_statistique'
        when hors_plage then 'non_calculable'
        else statut
    end as statut,
    case
        when sous_le_seuil then 'Effectif inférieur au seuil de diffusion (' || cast(seuil_secret as integer) || ') : non publié'
        when hors_plage then
            'Valeur non calculable : ' || {{ nombre_fr('valeur') }} || ' (' || unite || ') hors de la plage plausible ['
            || {{ nombre_fr('valeur_min') }} || ' ; ' || {{ nombre_fr('valeur_max') }} || '] ; numérateur '
            || coalesce({{ nombre_fr('numerateur') }}, 'non défini') || ' ('
            || {{ origine_fr("split_part(source, '|', 1)", 'millesime') }} || '), dénominateur '
            || coalesce({{ nombre_fr('denominateur') }}, 'non défini') || ' ('
            || {{ origine_fr("coalesce(nullif(split_part(source, '|', 2), ''), source_denominateur_catalogue)", 'null') }}
            || '). Les sources ne concordent pas pour ce quartier (millésimes différents, logements neufs…) : '
            || 'valeur non publiée.'
        when statut = 'secret_statistique' then 'Valeur couverte par le secret statistique chez le producteur'
        when statut = 'non_calculable' then (
            select c.motif from {{ ref('int_indicateurs__calcules') }} as c
            where c.code_qpv = regle.code_qpv and c.indicateur = regle.indicateur and c.millesime = regle.millesime
        )
        when statut = 'non_publie' and source like 'partenaires:%'
            then 'Valeur non transmise par le partenaire pour ce quartier (absente ou laissée vide)'
        when statut = 'non_publie' then 'Valeur non diffusée par le producteur pour ce quartier'
    end as motif,
    source
from regle
