-- Indicators combining two sources. Each takes the other source's closest millésime not after its own
-- (else the first one), and says which in `source`.
--  * taux_effort_loyer: annual rent of a typical social dwelling (RPLS average rent per m² × var
--    surface_logement_type_m2 × 12) as a share of the median disposable income per consumption unit
--    (Filosofi) — the contract's « écart entre les revenus et les montants des loyers ».
--  * indice_fragilite_mineurs: mean of three shares (0-100): single-parent families among CAF recipients
--    with children, poverty rate (Filosofi), households on RSA among CAF recipients. A provisional open-data
--    index until the partners' components (ASE, PMI) are received.
with rpls as (
    select * from {{ ref('stg_logement__rpls_qpv') }}
),

filo as (
    select * from {{ ref('stg_insee__filosofi_qpv') }}
),

caf as (
    select * from {{ ref('stg_caf__allocataires_qpv') }}
),

rpls_filo as (
    select
        rpls.code_qpv,
        rpls.millesime,
        rpls.loyer_moyen_m2,
        rpls.loyer_moyen_m2_secret,
        coalesce(avant.revenu_median, premiere.revenu_median) as revenu_median,
        coalesce(avant.revenu_median_secret, premiere.revenu_median_secret) as revenu_median_secret,
        coalesce(avant.millesime, premiere.millesime) as millesime_filosofi,
        rpls.source
    from rpls
    asof left join filo as avant on avant.code_qpv = rpls.code_qpv and rpls.millesime >= avant.millesime
    left join (
        select code_qpv, arg_min(revenu_median, millesime) as revenu_median,
            arg_min(revenu_median_secret, millesime) as revenu_median_secret, min(millesime) as millesime
        from filo group by code_qpv
    ) as premiere on premiere.code_qpv = rpls.code_qpv
),

caf_filo as (
    select
        caf.code_qpv,
        caf.millesime,
        caf.allocataires,
        caf.allocataires_monoparents,
        caf.allocataires_couples_avec_enfants,
        caf.allocataires_rsa,
        caf.allocataires_secret or caf.allocataires_rsa_secret as caf_secret,
        coalesce(avant.taux_pauvrete, premiere.taux_pauvrete) as taux_pauvrete,
        coalesce(avant.taux_pauvrete_secret, premiere.taux_pauvrete_secret) as taux_pauvrete_secret,
        coalesce(avant.millesime, premiere.millesime) as millesime_filosofi,
        caf.source
    from caf
    asof left join filo as avant on avant.code_qpv = caf.code_qpv and caf.millesime >= avant.millesime
    left join (
        select code_qpv, arg_min(taux_pauvrete, millesime) as taux_pauvrete,
            arg_min(taux_pauvrete_secret, millesime) as taux_pauvrete_secret, min(millesime) as millesime
        from filo group by code_qpv
    ) as premiere on premiere.code_qpv = caf.code_qpv
),

fragilite as (
    select
        *,
        {{ ratio('allocataires_monoparents', 'allocataires_monoparents + allocataires_couples_avec_enfants') }}
            as part_monoparents,
        {{ ratio('allocataires_rsa', 'allocataires') }} as part_rsa
    from caf_filo
)

select
    code_qpv,
    millesime,
    'taux_effort_loyer' as indicateur,
    {{ ratio('loyer_moyen_m2 * ' ~ var('surface_logement_type_m2') ~ ' * 12', 'revenu_median') }} as valeur,
    loyer_moyen_m2 * {{ var('surface_logement_type_m2') }} * 12 as numerateur,
    revenu_median as denominateur,
    case
        when loyer_moyen_m2 is not null and revenu_median > 0 then 'disponible'
        when loyer_moyen_m2_secret or revenu_median_secret then 'secret_statistique'
        else 'non_publie'
    end as statut,
    source || '|insee_filosofi_qpv:' || coalesce(cast(millesime_filosofi as varchar), '?') as source
from rpls_filo

union all

select
    code_qpv,
    millesime,
    'indice_fragilite_mineurs' as indicateur,
    (part_monoparents + taux_pauvrete + part_rsa) / 3 as valeur,
    cast(null as double) as numerateur,
    cast(null as double) as denominateur,
    case
        when part_monoparents is not null and taux_pauvrete is not null and part_rsa is not null then 'disponible'
        when caf_secret or taux_pauvrete_secret then 'secret_statistique'
        else 'non_publie'
    end as statut,
    source || '|insee_filosofi_qpv:' || coalesce(cast(millesime_filosofi as varchar), '?') as source
from fragilite
