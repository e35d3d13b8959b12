{#- Use the layer's schema name as is (staging, intermediate, marts, referentiel) instead of
    prefixing it with the target schema: the build warehouse is private and has one target. -#}
{% macro generate_schema_name(custom_schema_name, node) -%}
    {%- if custom_schema_name is none -%}{{ target.schema }}{%- else -%}{{ custom_schema_name | trim }}{%- endif -%}
{%- endmacro %}
