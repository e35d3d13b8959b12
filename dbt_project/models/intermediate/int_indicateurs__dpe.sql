-- Share of energy-performance diagnoses (DPE) labelled F or G among the DPE issued in the year for dwellings
-- located in the QPV (ADEME DPE, point in the ANCT polygon). This describes the DPE issued, not the whole
-- housing stock. Below the catalogue's threshold of DPE the rate is not published (applied downstream).
with dpe as (
    select dpe.*, qpv.code_qpv
    from {{ ref('stg_ademe__dpe') }} as dpe
    inner join {{ ref('stg_ademe__dpe_qpv') }} as qpv using (numero_dpe, millesime)
    where dpe.etiquette_dpe in ('A', 'B', 'C', 'D', 'E', 'F', 'G')
),

millesimes as (
    select distinct millesime, source from {{ ref('stg_ademe__dpe') }}
),

grille as (
    select qpv.code_qpv, millesimes.millesime, millesimes.source
    from {{ ref('int_qpv_perimetre') }} as qpv
    cross join millesimes
),

comptes as (
    select code_qpv, millesime, count(*) as dpe, count(*) filter (where etiquette_dpe in ('F', 'G')) as dpe_f_g
    from dpe
    group by code_qpv, millesime
)

select
    grille.code_qpv,
    grille.millesime,
    'part_dpe_f_g' as indicateur,
    {{ ratio('coalesce(comptes.dpe_f_g, 0)', 'coalesce(comptes.dpe, 0)') }} as valeur,
    cast(coalesce(comptes.dpe_f_g, 0) as double) as numerateur,
    cast(coalesce(comptes.dpe, 0) as double) as denominateur,
    'disponible' as statut,
    grille.source
from grille
left join comptes using (code_qpv, millesime)
