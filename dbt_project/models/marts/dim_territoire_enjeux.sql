select
    territoire.territoire,
    territoire.libelle_territoire,
    territoire.code_commune,
    commune.libelle_commune,
    territoire.geographie,
    (select string_agg(q.code_qp_2015, '|' order by q.code_qp_2015)
     from {{ ref('int_territoire_enjeux_qp2015') }} as q
     where q.territoire = territoire.territoire) as codes_qp_2015,
    territoire.description
from {{ ref('ref_territoire_enjeux') }} as territoire
left join {{ ref('ref_commune') }} as commune using (code_commune)
