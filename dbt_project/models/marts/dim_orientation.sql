select orientation, numero_orientation, libelle_orientation, figure_parcours_de_vie
from {{ ref('ref_orientation') }}
