-- CAF beneficiaries per QPV 2024 (via INSEE), 31 December of each millésime.
select
    cast(code_qpv as varchar)                               as code_qpv,
    cast(millesime as integer)                              as millesime,
    cast(allocataires as double)                            as allocataires,
    cast(personnes_couvertes as double)                     as personnes_couvertes,
    cast(allocataires_monoparents as double)                as allocataires_monoparents,
    cast(allocataires_couples_avec_enfants as double)       as allocataires_couples_avec_enfants,
    cast(allocataires_rsa as double)                        as allocataires_rsa,
    list_contains(_secret, 'allocataires')                  as allocataires_secret,
    list_contains(_secret, 'personnes_couvertes')           as personnes_couvertes_secret,
    list_contains(_secret, 'allocataires_rsa')              as allocataires_rsa_secret,
    cast(_source_id as varchar)                             as source
from {{ source('raw', 'caf_allocataires_qpv') }}
