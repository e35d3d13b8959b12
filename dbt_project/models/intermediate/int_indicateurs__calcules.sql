-- The computed baromètres per QPV (observatoire/calculs.py → raw.calcul_indicateurs): long rows like the other
-- int_indicateurs__<source>. A QPV withheld by the census check (grid population too far from the census) is
-- non_calculable with its motif (carried to fct_indicateur_qpv by int_indicateurs_qpv). The abstention gap is
-- the election retained for the millésime (int_abstention_elections: one per year; every election is in
-- mart_abstention_elections).
select
    code as code_qpv,
    millesime,
    indicateur,
    valeur,
    numerateur,
    denominateur,
    statut,
    source,
    motif
from {{ ref('stg_calcules__indicateurs') }}
where niveau = 'qpv' and indicateur <> 'ecart_taux_abstention'

union all

select
    code_qpv,
    millesime,
    'ecart_taux_abstention' as indicateur,
    ecart_points as valeur,
    cast(null as double) as numerateur,
    cast(null as double) as denominateur,
    statut,
    source || '|election:' || id_election as source,
    motif
from {{ ref('int_abstention_elections') }}
where retenue_barometre
