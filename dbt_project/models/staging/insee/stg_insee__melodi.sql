-- INSEE Melodi observations (population and Filosofi comparators), long format, both datasets.
{% for src in ['insee_melodi_population', 'insee_melodi_filosofi'] %}
select
    cast(niveau_geo as varchar)     as niveau_geo,
    cast(code_geo as varchar)       as code_geo,
    cast(time_period as integer)    as millesime,
    cast(mesure as varchar)         as mesure,
    cast(mesure_code as varchar)    as mesure_code,
    cast(valeur as double)          as valeur,
    cast(_source_id as varchar)     as source
from {{ source('raw', src) }}
{% if not loop.last %}union all{% endif %}
{% endfor %}
