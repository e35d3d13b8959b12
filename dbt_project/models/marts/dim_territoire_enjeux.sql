select
    territoire.territoire,
    territoire.libelle_territoire,
    territoire.code_commune,
    commune.libelle_commune,
    territoire.geographie,
    territoire.description
from {{ ref('ref_territoire_enjeux') }} as territoire
left join {{ ref('ref_commune') }} as commune using (code_commune)
