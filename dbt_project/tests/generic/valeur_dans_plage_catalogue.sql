{% test valeur_dans_plage_catalogue(model) %}
-- rows whose value lies outside the catalogue's plausible range for the indicator
select f.code_qpv, f.indicateur, f.millesime, f.valeur, c.valeur_min, c.valeur_max
from {{ model }} as f
inner join {{ ref('ref_indicateur') }} as c using (indicateur)
where f.valeur < c.valeur_min or f.valeur > c.valeur_max
{% endtest %}
