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

{#- Statut of a value from its nullity and the publisher's secret marker. -#}
{% macro statut_valeur(value_column, secret_flag) -%}
    case
        when {{ value_column }} is not null then 'disponible'
        when {{ secret_flag }} then 'secret_statistique'
        else 'non_publie'
    end
{%- endmacro %}

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

{#- The commune of an arrondissement (Paris, Lyon, Marseille publish both levels): never sum both. -#}
{% macro commune_parente(code) -%}
    case
        when {{ code }} between '13201' and '13216' then '13055'
        when {{ code }} between '69381' and '69389' then '69123'
        when {{ code }} between '75101' and '75120' then '75056'
        else {{ code }}
    end
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
