{% test motif_si_valeur_vide(model, indicateurs) %}
-- cells of a wide mart whose value is empty without a motif saying why (or without a statut)
{% for ind in indicateurs %}
select code_qpv, millesime, '{{ ind }}' as indicateur, {{ ind }}_statut as statut
from {{ model }}
where {{ ind }} is null and ({{ ind }}_motif is null or {{ ind }}_statut is null)
{% if not loop.last %}union all{% endif %}
{% endfor %}
{% endtest %}
