{#- A number written the French way for a motif: decimal comma, at most one decimal (NULL stays NULL). -#}
{% macro nombre_fr(expr) -%}
    replace(regexp_replace(cast(round(cast({{ expr }} as double), 1) as varchar), '\.0$', ''), '.', ',')
{%- endmacro %}

{#- "source caf_allocataires_qpv, millésime 2024" from "caf_allocataires_qpv:2024" (or from a source id and
    the row's millésime when the part carries none). -#}
{% macro origine_fr(part, millesime) -%}
    'source ' || coalesce(nullif(split_part({{ part }}, ':', 1), ''), 'inconnue') || ', millésime '
    || coalesce(nullif(split_part({{ part }}, ':', 2), ''), cast({{ millesime }} as varchar), 'inconnu')
{%- endmacro %}
