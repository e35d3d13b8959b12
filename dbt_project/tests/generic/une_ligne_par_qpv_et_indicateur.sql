{% test une_ligne_par_qpv_et_indicateur(model) %}
-- pairs QPV of the perimeter × indicateur of the catalogue that have no row in the model
select qpv.code_qpv, ind.indicateur
from {{ ref('dim_qpv') }} as qpv
cross join {{ ref('dim_indicateur') }} as ind
where not exists (
    select 1 from {{ model }} as m where m.code_qpv = qpv.code_qpv and m.indicateur = ind.indicateur
)
{% endtest %}
