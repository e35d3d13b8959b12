select
    indicateur,
    defi,
    categorie,
    libelle,
    unite,
    type_source,
    famille_source,
    source,
    sens,
    valeur_min,
    valeur_max,
    agregation,
    seuil_secret,
    comparateurs,
    motif_indisponibilite
from {{ ref('ref_indicateur') }}
