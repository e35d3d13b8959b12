-- The computed baromètres per QPV (observatoire/calculs.py → raw.calcul_indicateurs): long rows like the other
-- int_indicateurs__<source>. A QPV withheld by the census check (grid population too far from the census) is
-- non_calculable with its motif (carried to fct_indicateur_qpv by int_indicateurs_qpv).
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
where niveau = 'qpv'
