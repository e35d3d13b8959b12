-- The ANCT contours of the QPV 2024, geometry only: one row per QPV of France, latest millésime. The polygon
-- stays as landed: WKB (2D, little-endian), WGS84 longitude/latitude (EPSG:4326), Polygon or MultiPolygon.
select
    cast(code_qpv as varchar)   as code_qpv,
    cast(geometry_wkb as blob)  as geometrie_wkb,
    cast(millesime as integer)  as millesime,
    cast(_source_id as varchar) as source
from {{ dernier_millesime(source('raw', 'anct_qpv_contours')) }} as contours
