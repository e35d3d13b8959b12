"""The perimeter's request parameters for the sources whose URL depends on it (``perimetre_url`` in the registry).

For the default perimeter (the Métropole) the registry's millésime URLs are used as they are. For any other
perimeter, ``{geo}`` (INSEE Melodi: the member communes, the territory itself, its départements and France) and
``{dpe_communes}`` (ADEME: the Lucene filter on the communes of the perimeter's QPV, Paris, Lyon and Marseille as
their arrondissements; no filter for ``france``) and ``{ods_departements}`` (Opendatasoft exports: the
départements of the perimeter's QPV; none for ``france``) are computed from the ANCT contours landed in the data
directory. Pure functions of the contours' attributes, shared with the recordings' generator.

Also which QPV are in the perimeter (:func:`perimeter_qpv_codes`): the ANCT contours accepted in the data
directory, else the contract's 66 QPV of the seed. ``OBSERVATOIRE_PERIMETRE`` itself is parsed with the settings
(:func:`observatoire.config.parse_perimetre`).
"""

from __future__ import annotations

from observatoire.catalogue import qpv
from observatoire.config import load_settings, parse_perimetre

CONTOURS_SOURCE = "anct_qpv_contours"


def qpv_in_perimetre(rows: list[dict], perimetre: str, *, epci: str = "siren_epci", departement: str = "insee_dep",
                     code: str = "code_qpv") -> list[str]:
    """The codes of the rows (ANCT référentiel attributes) inside the perimeter."""
    kind, value = parse_perimetre(perimetre)
    if kind == "france":
        return sorted({r[code] for r in rows})
    column = epci if kind == "epci" else departement
    return sorted({r[code] for r in rows if (r.get(column) or "").strip() == value})


def contours_attributes(settings) -> list[dict] | None:
    """The QPV attributes (code, EPCI, département, communes) of the ANCT contours currently accepted in the
    data directory, or None when the contours were never landed there."""
    import sqlite3

    import pyarrow.parquet as pq

    if not settings.history_db.exists():
        return None
    con = sqlite3.connect(f"file:{settings.history_db}?mode=ro", uri=True)
    try:
        row = con.execute(
            "SELECT parsed_path FROM manifest WHERE source_id = ? AND status = 'accepted' AND parsed_path IS NOT NULL "
            "ORDER BY millesime DESC, last_seen_at DESC, rowid DESC LIMIT 1", [CONTOURS_SOURCE]).fetchone()
    except sqlite3.Error:
        return None
    finally:
        con.close()
    if not row:
        return None
    path = settings.data_dir / row[0]
    if not path.exists():
        return None
    table = pq.read_table(path, columns=["code_qpv", "libelle_qpv", "insee_com", "insee_dep", "siren_epci"])
    return table.to_pylist()


def _settings(settings):
    if settings is not None:
        return settings
    return load_settings()


def known_qpv(settings=None) -> dict[str, dict]:
    """Every QPV 2024 the observatory knows, by code: the ANCT contours landed in the data directory
    (``settings``, default: the environment's), else the project's seed (the contract's 66 QPV)."""
    rows = contours_attributes(_settings(settings))
    if rows is not None:
        return {r["code_qpv"]: {**r, "code_epci": r["siren_epci"], "code_departement": r["insee_dep"]} for r in rows}
    return {r["code_qpv"]: r for r in qpv()}


def perimeter_qpv_codes(perimetre: str | None = None, settings=None) -> list[str]:
    """Codes of the QPV of the perimeter (default: the settings'), from the ANCT contours landed in the data
    directory; before they are landed, from the project's seed (the contract's 66 QPV: the default perimeter
    only, so the completeness checks of another perimeter wait for the contours)."""
    settings = _settings(settings)
    perimetre = perimetre or settings.perimetre
    parse_perimetre(perimetre)
    return qpv_in_perimetre(list(known_qpv(settings).values()), perimetre, epci="code_epci",
                            departement="code_departement")


#: communes published by ADEME (code_insee_ban) as their arrondissements
ARRONDISSEMENTS = {
    "13055": [f"132{i:02d}" for i in range(1, 17)],
    "69123": [f"6938{i}" for i in range(1, 10)],
    "75056": [f"751{i:02d}" for i in range(1, 21)],
}


class PerimetreError(RuntimeError):
    pass


def melodi_geo(perimetre: str, departements: list[str]) -> list[str]:
    kind, code = parse_perimetre(perimetre)
    if kind == "epci":
        return [f"EPCI-{code}*COM", f"EPCI-{code}", *[f"DEP-{d}" for d in sorted(set(departements))], "FRANCE-F"]
    if kind == "departement":
        return [f"DEP-{code}*COM", f"DEP-{code}", "FRANCE-F"]
    return ["FRANCE-F*COM", "FRANCE-F"]


def url_params_for(rows: list[dict], perimetre: str) -> dict[str, str]:
    """``{geo}`` and ``{dpe_communes}`` for the perimeter, from the contours' attribute rows
    (``code_qpv``, ``insee_com``, ``insee_dep``, ``siren_epci``)."""
    kind, _ = parse_perimetre(perimetre)
    codes = set(qpv_in_perimetre(rows, perimetre))
    if not codes:
        raise PerimetreError(f"OBSERVATOIRE_PERIMETRE={perimetre}: no QPV of the ANCT référentiel in this perimeter")
    selected = [r for r in rows if r["code_qpv"] in codes]
    communes = {c.strip() for r in selected for c in (r.get("insee_com") or "").split(",") if c.strip()}
    departements = [r["insee_dep"] for r in selected if r.get("insee_dep")]
    geo = "&".join(f"GEO={g}" for g in melodi_geo(perimetre, departements))
    ban = sorted({a for c in communes for a in ARRONDISSEMENTS.get(c, [c])})
    dpe = "" if kind == "france" else "code_insee_ban:(" + "%20OR%20".join(ban) + ")%20AND%20"
    deps = sorted(set(departements))
    ods = "" if kind == "france" else "%20and%20%28" + "%20or%20".join(
        f"code_departement%3D%22{d}%22" for d in deps) + "%29"
    return {"geo": geo, "dpe_communes": dpe, "ods_departements": ods}


def url_params(settings) -> dict[str, str] | None:
    """The URL parameters of the settings' perimeter; None for the default perimeter (the registry's URLs)."""
    from observatoire.config import DEFAULT_PERIMETRE

    if settings.perimetre == DEFAULT_PERIMETRE:
        return None
    rows = contours_attributes(settings)
    if rows is None:
        raise PerimetreError(
            f"OBSERVATOIRE_PERIMETRE={settings.perimetre}: the requests of this perimeter are built from the ANCT "
            "contours, which are not landed in this data directory yet; run `observatoire run` (it lands them "
            "first) or `observatoire run --source anct_qpv_contours`")
    return url_params_for(rows, settings.perimetre)
