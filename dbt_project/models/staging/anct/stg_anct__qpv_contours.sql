-- The ANCT référentiel of the QPV 2024 (contours file), attributes only: one row per QPV of France, latest
-- millésime. The geometry is in stg_anct__qpv_geometries (the pipeline's point-in-polygon join reads raw).
-- A QPV over several communes lists them in one string ("13055, 13070"), split by int_qpv_commune.
select
    cast(code_qpv as varchar)   as code_qpv,
    cast(libelle_qpv as varchar) as libelle_qpv,
    cast(insee_com as varchar)  as codes_communes,
    cast(lib_com as varchar)    as libelles_communes,
    cast(insee_dep as varchar)  as code_departement,
    cast(lib_dep as varchar)    as libelle_departement,
    cast(insee_reg as varchar)  as code_region,
    cast(lib_reg as varchar)    as libelle_region,
    cast(siren_epci as varchar) as code_epci,
    cast(millesime as integer)  as millesime
from {{ dernier_millesime(source('raw', 'anct_qpv_contours')) }} as contours
