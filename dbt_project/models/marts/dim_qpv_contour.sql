-- The contour of each QPV of the perimeter (ANCT, QP2024), for maps: the polygon as landed, WKB in WGS84
-- longitude/latitude (EPSG:4326), with the QPV's name and principal commune.
select
    qpv.code_qpv,
    qpv.libelle_qpv,
    qpv.code_commune,
    qpv.libelle_commune,
    geo.geometrie_wkb,
    geo.millesime as millesime_contour,
    geo.source
from {{ ref('dim_qpv') }} as qpv
inner join {{ ref('stg_anct__qpv_geometries') }} as geo using (code_qpv)
