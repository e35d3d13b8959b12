{#- The commune of an arrondissement (Paris, Lyon, Marseille publish both levels): never sum both. -#}
{% macro commune_parente(code) -%}
    case
        when {{ code }} between '13201' and '13216' then '13055'
        when {{ code }} between '69381' and '69389' then '69123'
        when {{ code }} between '75101' and '75120' then '75056'
        else {{ code }}
    end
{%- endmacro %}
