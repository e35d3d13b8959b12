{#- The rows of a landed source's latest millésime, as a subquery: for a référentiel replaced whole each year
    (the ANCT contours), read by more than one staging model.
    Usage: select ... from {{ dernier_millesime(source('raw', 'anct_qpv_contours')) }} as contours -#}
{% macro dernier_millesime(relation) -%}
(select * from {{ relation }} where millesime = (select max(millesime) from {{ relation }}))
{%- endmacro %}
