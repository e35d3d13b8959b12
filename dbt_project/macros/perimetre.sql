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
