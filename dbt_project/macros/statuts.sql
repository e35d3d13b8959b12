{#- The statut of an indicator with no row for a QPV × millésime, by the catalogue's rule (the same as
    fct_indicateur_qpv's): a partner baromètre is awaited, a computed one not computed yet, an open one not
    published. -#}
{% macro statut_sans_valeur(type_source) -%}
    case {{ type_source }}
        when 'partner' then 'attendu_partenaire'
        when 'computed' then 'non_calculable'
        else 'non_publie'
    end
{%- endmacro %}

{#- A French motif for a statut, when nothing more precise is known (a value is never left empty without one). -#}
{% macro motif_par_defaut(statut) -%}
    case {{ statut }}
        when 'secret_statistique' then 'Valeur couverte par le secret statistique'
        when 'attendu_partenaire' then 'Donnée attendue d''un partenaire, pas encore reçue'
        when 'non_calculable' then 'Calcul pas encore réalisé par l''observatoire'
        when 'non_publie' then 'Valeur non publiée par la source pour ce quartier et ce millésime'
        else 'Valeur indisponible'
    end
{%- endmacro %}

{#- Statut of a value from its nullity and the publisher's secret marker. -#}
{% macro statut_valeur(value_column, secret_flag) -%}
    case
        when {{ value_column }} is not null then 'disponible'
        when {{ secret_flag }} then 'secret_statistique'
        else 'non_publie'
    end
{%- endmacro %}
