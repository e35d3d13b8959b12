-- The QPV 2024 each geocoded DPE lies in (point-in-polygon computed by the pipeline against the ANCT
-- contours, see extract/spatial.py). DPE outside any QPV or not geocoded have no row.
select
    cast(numero_dpe as varchar)     as numero_dpe,
    cast(millesime as integer)      as millesime,
    cast(code_qpv as varchar)       as code_qpv
from {{ source('raw', 'ademe_dpe_existant__qpv') }}
