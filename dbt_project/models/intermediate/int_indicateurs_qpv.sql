-- Every indicator value computed from the sources (and sent by partners), for the QPV of the perimeter, one row per
-- QPV × indicateur × millésime, with the project's secret-statistique rule applied from the catalogue:
-- a count below `seuil_secret`, or a rate whose numerator or denominator is below it, is not published
-- (valeur, numerateur and denominateur NULL, statut secret_statistique).
{% set sources = [
    'int_indicateurs__insee_pop_qpv', 'int_indicateurs__filosofi', 'int_indicateurs__estimations',
    'int_indicateurs__caf', 'int_indicateurs__defm', 'int_indicateurs__rpls', 'int_indicateurs__bpe',
    'int_indicateurs__dpe', 'int_indicateurs__rnic', 'int_indicateurs__composites',
    'int_indicateurs__partenaires',
] %}
with valeurs as (
    {% for model in sources %}
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
        perimetre.statut = 'disponible' and catalogue.seuil_secret is not null and (
            (catalogue.agregation = 'somme' and perimetre.valeur < catalogue.seuil_secret)
            or (catalogue.agregation <> 'somme' and (
                perimetre.numerateur < catalogue.seuil_secret or perimetre.denominateur < catalogue.seuil_secret
            ))
        ) as sous_le_seuil
    from perimetre
    inner join {{ ref('ref_indicateur') }} as catalogue using (indicateur)
)

select
    code_qpv,
    millesime,
    indicateur,
    case when sous_le_seuil then null else valeur end as valeur,
    case when sous_le_seuil then null else numerateur end as numerateur,
    case when sous_le_seuil then null else denominateur end as denominateur,
    case when sous_le_seuil then 'secret_statistique' else statut end as statut,
    case
        when sous_le_seuil then 'Effectif inférieur au seuil de diffusion (' || cast(seuil_secret as integer) || ') : non publié'
        when statut = 'secret_statistique' then 'Valeur couverte par le secret statistique chez le producteur'
        when statut = 'non_publie' and source like 'partenaires:%'
            then 'Valeur non transmise par le partenaire pour ce quartier (absente ou laissée vide)'
        when statut = 'non_publie' then 'Valeur non diffusée par le producteur pour ce quartier'
    end as motif,
    source
from regle
