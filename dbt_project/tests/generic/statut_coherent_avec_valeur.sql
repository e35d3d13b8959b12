{% test statut_coherent_avec_valeur(model) %}
-- a value is present exactly when the statut says it is available (never 0 for a withheld value)
select code_qpv, indicateur, millesime, valeur, statut
from {{ model }}
where (statut = 'disponible' and valeur is null)
   or (statut <> 'disponible' and valeur is not null)
{% endtest %}
