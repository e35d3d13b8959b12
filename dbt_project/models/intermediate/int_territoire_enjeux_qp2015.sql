-- The 2015 QPV (codes QP + 6 digits) of each territoire à enjeux, as found in the sources that still carry
-- the 2015 geography (RNIC: code_qp_2015 of the co-ownerships of the territory's commune).
select distinct
    territoire.territoire,
    rnic.code_qp_2015
from {{ ref('ref_territoire_enjeux') }} as territoire
inner join {{ ref('stg_logement__rnic') }} as rnic
    on {{ commune_parente('rnic.code_commune') }} = territoire.code_commune
where regexp_matches(rnic.code_qp_2015, '^QP\d{6}$')
