-- Every election's abstention gap per QPV (the baromètre ecart_taux_abstention keeps one election per
-- millésime: retenue_barometre).
select
    a.code_qpv,
    q.libelle_qpv,
    a.id_election,
    a.millesime,
    a.type_election,
    a.tour,
    a.inscrits_qpv,
    a.abstentions_qpv,
    a.taux_abstention_qpv,
    a.taux_abstention_hors_qpv,
    a.ecart_points,
    a.statut,
    a.motif,
    a.retenue_barometre,
    a.source
from {{ ref('int_abstention_elections') }} as a
inner join {{ ref('dim_qpv') }} as q on q.code_qpv = a.code_qpv
