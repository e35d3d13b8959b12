{#- One long-format indicator row per source row: a published value as is (a count, a median…). -#}
{% macro indicateur_simple(relation, indicateur, colonne, secret_flag, denominateur='null') -%}
    select
        code_qpv,
        millesime,
        '{{ indicateur }}' as indicateur,
        cast({{ colonne }} as double) as valeur,
        cast(null as double) as numerateur,
        cast({{ denominateur }} as double) as denominateur,
        {{ statut_valeur(colonne, secret_flag) }} as statut,
        source
    from {{ relation }}
{%- endmacro %}

{#- A ratio computed by the project: numerator / denominator × factor, NULL when either is unknown or the
    denominator is 0 (the secret-statistique threshold is applied later, from the catalogue). -#}
{% macro ratio(numerateur, denominateur, facteur=100) -%}
    case when ({{ denominateur }}) > 0 then ({{ numerateur }}) / ({{ denominateur }}) * {{ facteur }} end
{%- endmacro %}
