{#- Filter on the observatory's perimeter (var `perimetre`, from OBSERVATOIRE_PERIMETRE):
    epci:<siren>, departement:<code> or france. -#}
{% macro perimetre_filter(epci_column, departement_column) -%}
    {%- set perimetre = var('perimetre') | string -%}
    {%- set kind, _, code = perimetre.partition(':') -%}
    {%- if kind == 'epci' -%}
        {{ epci_column }} = '{{ code }}'
    {%- elif kind == 'departement' -%}
        {{ departement_column }} = '{{ code }}'
    {%- elif kind == 'france' -%}
        true
    {%- else -%}
        {{ exceptions.raise_compiler_error("unknown perimetre '" ~ perimetre ~ "': expected epci:<siren>, departement:<code> or france") }}
    {%- endif -%}
{%- endmacro %}

{#- The code of the perimeter's own territory in the comparators (EPCI siren, département code, FRANCE). -#}
{% macro code_perimetre() -%}
    {%- set kind, _, code = (var('perimetre') | string).partition(':') -%}
    {%- if kind == 'france' -%}'F'{%- else -%}'{{ code }}'{%- endif -%}
{%- endmacro %}

{% macro niveau_perimetre() -%}
    {%- set kind = (var('perimetre') | string).partition(':')[0] -%}
    {%- if kind == 'epci' -%}'EPCI'{%- elif kind == 'departement' -%}'DEP'{%- else -%}'FRANCE'{%- endif -%}
{%- endmacro %}
