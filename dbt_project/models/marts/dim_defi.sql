select
    defi.defi,
    defi.numero_defi,
    defi.libelle_defi,
    cast(count(ind.indicateur) as integer) as nombre_barometres
from {{ ref('ref_defi') }} as defi
left join {{ ref('ref_indicateur') }} as ind on ind.defi = defi.defi and ind.categorie = 'barometre'
group by all
