-- Partner values (observatoire/partenaires): one row per QPV listed in the file in force for each
-- indicateur × millésime, already validated on import (catalogue, range, perimeter, one file per pair).
select
    cast(indicateur as varchar)             as indicateur,
    cast(code_qpv as varchar)               as code_qpv,
    cast(millesime as integer)              as millesime,
    cast(valeur as double)                  as valeur,
    cast(statut as varchar)                 as statut,
    cast(commentaire as varchar)            as commentaire,
    cast(partenaire as varchar)             as partenaire,
    cast(_sha256 as varchar)                as fichier_sha256,
    cast(_nom_fichier as varchar)           as nom_fichier,
    cast(_recu_le as timestamp)             as recu_le,
    cast(_feuille as varchar)               as feuille,
    cast(_ligne as integer)                 as ligne,
    -- a break of series accepted on import (partenaires importer --accepter-rupture "motif")
    cast(_rupture as varchar)               as rupture_motif
from {{ source('raw', 'partenaires_valeurs') }}
