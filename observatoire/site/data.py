"""What the site shows, read from a published DuckDB file (read-only) in a handful of queries.

Only the published file is read (and the source registry, for the publishers' names and pages, as the
snapshots do). The latest value of each QPV × indicateur comes from ``mart_derniere_valeur``; a publication
from before that mart gets the same rows derived from ``fct_indicateur_qpv``. Catalogue columns added later
(``definition``, ``url_source``, ``date_reference``, ``decimales``) and the contours (``dim_qpv_contour``) are
used when present.
"""

from __future__ import annotations

import json
import math
from dataclasses import dataclass, field
from pathlib import Path

import duckdb

DEFAULT_PERIMETRE = "epci:200054807"

#: the rows of mart_derniere_valeur derived from fct_indicateur_qpv (a publication without that mart): the
#: latest millésime of each indicator, with the value at the baseline millésime
_DERNIERE_VALEUR_FALLBACK = """
with dernier as (
    select indicateur, max(millesime) as millesime from fct_indicateur_qpv group by indicateur
)
select q.code_qpv, q.libelle_qpv, q.code_commune, q.libelle_commune, i.defi, d.numero_defi, f.indicateur,
       i.libelle, f.unite, f.millesime, f.valeur, f.statut, f.motif, f.millesime_reference,
       r.valeur as valeur_reference, r.statut as statut_reference, r.motif as motif_reference,
       f.evolution_reference, f.valeur_commune, f.valeur_commune_hors_qpv,
       f.valeur_perimetre, f.valeur_france, f.ecart_commune, f.ecart_commune_hors_qpv, f.ecart_perimetre,
       f.ecart_france, f.source, f.rupture_serie
from fct_indicateur_qpv f
join dernier using (indicateur, millesime)
join dim_qpv q using (code_qpv)
join dim_indicateur i using (indicateur)
left join dim_defi d on d.defi = i.defi
left join fct_indicateur_qpv r
    on r.code_qpv = f.code_qpv and r.indicateur = f.indicateur and r.millesime = f.millesime_reference
"""


class SiteDataError(RuntimeError):
    """The file is not a publication the site can be built from."""


def _rows(con: duckdb.DuckDBPyConnection, sql: str, params: list | None = None) -> list[dict]:
    cur = con.execute(sql, params or [])
    names = [d[0] for d in cur.description]
    return [dict(zip(names, r, strict=True)) for r in cur.fetchall()]


def _clean(value):
    if isinstance(value, float) and math.isnan(value):
        return None
    return value


@dataclass
class SiteData:
    publication: dict
    defis: list[dict]
    indicateurs: dict[str, dict]
    qpv: list[dict]
    communes: dict[str, dict]
    qpv_communes: dict[str, list[dict]]
    territoires: list[dict]
    territoire_valeurs: list[dict]
    latest: dict[tuple[str, str], dict]
    chiffres: list[dict]
    sources: list[dict]
    sources_attendues: list[dict]
    ruptures: list[dict]
    contours: dict[str, object] = field(default_factory=dict)
    #: every source of the registry: id → {"titre", "editeur"} (the sources of an indicator not loaded yet)
    source_names: dict[str, dict] = field(default_factory=dict)
    table_comments: dict[str, str] = field(default_factory=dict)
    derived: list[str] = field(default_factory=list)

    # -- derived views ------------------------------------------------------------------------------
    @property
    def version(self) -> str:
        return str(self.publication.get("version") or "")

    @property
    def demo(self) -> bool:
        mode = str(self.publication.get("mode") or "").lower()
        synth = self.publication.get("donnees_synthetiques")
        return mode == "demo" or synth is True or str(synth).lower() == "true"

    @property
    def perimetre(self) -> str:
        return str(self.publication.get("perimetre") or DEFAULT_PERIMETRE)

    @property
    def perimetre_label(self) -> str:
        """The comparator ``valeur_perimetre`` as a column title."""
        kind = self.perimetre.split(":")[0]
        if self.perimetre == DEFAULT_PERIMETRE:
            return "Métropole"
        return {"epci": "EPCI", "departement": "Département", "france": "France"}.get(kind, "Périmètre")

    @property
    def perimetre_name(self) -> str:
        if self.perimetre == DEFAULT_PERIMETRE:
            return "la Métropole Aix-Marseille-Provence"
        kind, _, code = self.perimetre.partition(":")
        return {"epci": f"l'EPCI {code}", "departement": f"le département {code}"}.get(kind, "la France entière")

    def qpv_by_code(self) -> dict[str, dict]:
        return {q["code_qpv"]: q for q in self.qpv}

    def indicateurs_of(self, defi: str | None) -> list[dict]:
        """The catalogue's indicators of a défi (None: the socle), in catalogue order."""
        if defi is None:
            return [i for i in self.indicateurs.values() if i.get("categorie") == "socle" or not i.get("defi")]
        return [i for i in self.indicateurs.values() if i.get("defi") == defi and i.get("categorie") != "socle"]

    def values_of(self, indicateur: str) -> list[dict]:
        """The latest row of every QPV for one indicator, in the QPV order (QPV with no row get none)."""
        out = []
        for q in self.qpv:
            row = self.latest.get((q["code_qpv"], indicateur))
            if row is not None:
                out.append(row)
        return out


def _columns(con, schema: str, table: str) -> list[str]:
    return [r[0] for r in con.execute(
        "SELECT column_name FROM duckdb_columns() WHERE schema_name = ? AND table_name = ? ORDER BY column_index",
        [schema, table]).fetchall()]


def _tables(con, schema: str) -> set[str]:
    return {r[0] for r in con.execute(
        "SELECT table_name FROM duckdb_tables() WHERE schema_name = ?", [schema]).fetchall()}


def _registry() -> dict:
    try:
        from extract.registry import load_registry

        return load_registry()
    except Exception:  # noqa: BLE001 - the registry only adds names and pages: the site builds without it
        return {}


def load(db: Path) -> SiteData:
    """Read everything the site shows from the published file ``db`` (opened read-only)."""
    try:
        con = duckdb.connect(str(db), read_only=True)
    except duckdb.Error as err:
        raise SiteDataError(f"{db} does not open: {str(err).splitlines()[0]}") from None
    try:
        return _load(con)
    finally:
        con.close()


def _load(con) -> SiteData:
    main = _tables(con, "main")
    meta = _tables(con, "meta")
    needed = {"dim_qpv", "dim_defi", "dim_indicateur", "fct_indicateur_qpv"}
    if not needed <= main or "publication" not in meta:
        missing = sorted(needed - main) + ([] if "publication" in meta else ["meta.publication"])
        raise SiteDataError(f"not a published warehouse of the observatory: missing {', '.join(missing)}")
    derived = []
    pubs = _rows(con, "SELECT * FROM meta.publication")
    if not pubs:
        raise SiteDataError("meta.publication is empty: nothing was published in this file")
    publication = pubs[-1]
    try:
        publication["tables"] = json.loads(publication.get("tables") or "{}")
    except (TypeError, ValueError):
        publication["tables"] = {}

    defis = _rows(con, "SELECT * FROM dim_defi ORDER BY numero_defi")
    numero = {d["defi"]: d["numero_defi"] for d in defis}
    ind_cols = set(_columns(con, "main", "dim_indicateur"))
    indicateurs_list = _rows(con, "SELECT * FROM dim_indicateur")
    for i in indicateurs_list:
        for col in ("definition", "url_source", "date_reference", "decimales"):
            i.setdefault(col, None)
        i["decimales"] = None if i["decimales"] is None or (isinstance(i["decimales"], float)
                                                           and math.isnan(i["decimales"])) else int(i["decimales"])
    missing_cols = {"definition", "url_source", "date_reference", "decimales"} - ind_cols
    if missing_cols:
        derived.append("dim_indicateur sans " + ", ".join(sorted(missing_cols)))
    # catalogue order: the socle first, then the défis in the contract's order, each in the seed's order
    position = {i["indicateur"]: n for n, i in enumerate(indicateurs_list)}
    indicateurs_list.sort(key=lambda i: (0 if i.get("categorie") == "socle" or not i.get("defi") else 1,
                                         numero.get(i.get("defi"), 99), position[i["indicateur"]]))
    indicateurs = {i["indicateur"]: i for i in indicateurs_list}

    qpv = _rows(con, "SELECT * FROM dim_qpv ORDER BY libelle_commune, libelle_qpv, code_qpv")
    communes = {c["code_commune"]: c for c in _rows(con, "SELECT * FROM dim_commune")} \
        if "dim_commune" in main else {}
    qpv_communes: dict[str, list[dict]] = {}
    if "dim_qpv_commune" in main:
        for r in _rows(con, "SELECT * FROM dim_qpv_commune ORDER BY code_qpv, est_commune_principale DESC, "
                            "code_commune"):
            com = communes.get(r["code_commune"], {})
            qpv_communes.setdefault(r["code_qpv"], []).append(
                {**r, "libelle_commune": com.get("libelle_commune") or r["code_commune"]})

    territoires = _rows(con, "SELECT * FROM dim_territoire_enjeux ORDER BY territoire") \
        if "dim_territoire_enjeux" in main else []
    territoire_valeurs = _rows(con, "SELECT * FROM fct_indicateur_territoire ORDER BY territoire, indicateur, "
                                    "millesime") if "fct_indicateur_territoire" in main else []

    if "mart_derniere_valeur" in main:
        latest_rows = _rows(con, "SELECT * FROM mart_derniere_valeur")
    else:
        derived.append("mart_derniere_valeur dérivé de fct_indicateur_qpv")
        latest_rows = _rows(con, _DERNIERE_VALEUR_FALLBACK)
    fct_cols = set(_columns(con, "main", "fct_indicateur_qpv"))
    notes = {}
    if "note_rupture" in fct_cols:
        for r in _rows(con, "SELECT code_qpv, indicateur, millesime, note_rupture FROM fct_indicateur_qpv "
                            "WHERE rupture_serie AND note_rupture IS NOT NULL"):
            notes[(r["code_qpv"], r["indicateur"], r["millesime"])] = r["note_rupture"]
    latest = {}
    for r in latest_rows:
        r = {k: _clean(v) for k, v in r.items()}
        r.setdefault("note_rupture", notes.get((r["code_qpv"], r["indicateur"], r.get("millesime"))))
        r.setdefault("statut_reference", None)  # a publication from before these columns: « n. d. »
        r.setdefault("motif_reference", None)
        latest[(r["code_qpv"], r["indicateur"])] = r

    chiffres = []
    if "mart_chiffres_cles" in main:
        all_chiffres = _rows(con, "SELECT * FROM mart_chiffres_cles ORDER BY ordre, millesime")
        by_chiffre: dict[str, list[dict]] = {}
        for c in all_chiffres:
            by_chiffre.setdefault(c["chiffre"], []).append({k: _clean(v) for k, v in c.items()})
        for rows in by_chiffre.values():
            last = dict(rows[-1])
            last["precedents"] = rows[:-1]
            chiffres.append(last)

    registry = _registry()
    sources, attendues = _sources(con, meta, registry)
    source_names = {sid: {"titre": getattr(src, "title", None) or sid, "editeur": getattr(src, "publisher", None)}
                    for sid, src in registry.items()}
    ruptures = _rows(con, "SELECT * FROM meta.ruptures ORDER BY source_id, millesime") \
        if "ruptures" in meta and {"source_id", "millesime", "reason"} <= set(_columns(con, "meta", "ruptures")) \
        else []

    contours = {}
    if "dim_qpv_contour" in main:
        import shapely

        for code, wkb in con.execute("SELECT code_qpv, geometrie_wkb FROM dim_qpv_contour "
                                     "WHERE geometrie_wkb IS NOT NULL").fetchall():
            try:
                contours[code] = shapely.from_wkb(bytes(wkb))
            except shapely.errors.GEOSException:
                continue
    else:
        derived.append("pas de contours (dim_qpv_contour absent)")

    comments = {r[0]: r[1] for r in con.execute(
        "SELECT table_name, comment FROM duckdb_tables() WHERE schema_name = 'main' AND comment IS NOT NULL"
    ).fetchall()}

    return SiteData(publication=publication, defis=defis, indicateurs=indicateurs, qpv=qpv, communes=communes,
                    qpv_communes=qpv_communes, territoires=territoires, territoire_valeurs=territoire_valeurs,
                    latest=latest, chiffres=chiffres, sources=sources, sources_attendues=attendues,
                    ruptures=ruptures, contours=contours, source_names=source_names, table_comments=comments,
                    derived=derived)


def _sources(con, meta: set[str], registry: dict) -> tuple[list[dict], list[dict]]:
    """The source files the publication is built from, one entry per source with its millésimes and their
    freshness (from meta.manifest, named from the registry), and the registry's sources not published yet."""
    manifest = []
    if "manifest" in meta:
        cols = set(_columns(con, "meta", "manifest"))
        if {"source_id", "millesime"} <= cols:
            where = " WHERE status = 'accepted'" if "status" in cols else ""
            manifest = _rows(con, f"SELECT * FROM meta.manifest{where} ORDER BY source_id, millesime")
    by_source: dict[str, dict] = {}
    for row in manifest:
        sid = row["source_id"]
        src = registry.get(sid)
        entry = by_source.setdefault(sid, {
            "source_id": sid,
            "titre": getattr(src, "title", None) or sid,
            "editeur": getattr(src, "publisher", None),
            "licence": getattr(src, "licence", None),
            "page": _http(getattr(src, "landing_page", None)),
            "prochaine_publication": getattr(src, "next_release", None),
            "millesimes": [],
            "origine": set(),
        })
        mill = (getattr(src, "millesimes", None) or {}).get(int(row["millesime"])) if src else None
        entry["millesimes"].append({
            "millesime": row["millesime"],
            "publie_le": getattr(mill, "published", None),
            "charge_le": row.get("fetched_at"),
            "verifie_le": row.get("last_seen_at"),
        })
        if row.get("url_origin"):
            entry["origine"].add(row["url_origin"])
    sources = sorted(by_source.values(), key=lambda s: ((s["editeur"] or "~").lower(), s["titre"].lower()))
    for s in sources:
        s["origine"] = sorted(s["origine"])
        s["dernier_millesime"] = max(m["millesime"] for m in s["millesimes"])
        s["verifie_le"] = max((m["verifie_le"] or m["charge_le"] or "" for m in s["millesimes"]), default="")
    attendues = []
    for sid, src in registry.items():
        if sid in by_source or getattr(src, "status", "publie") != "non_publie":
            continue
        attendues.append({"source_id": sid, "titre": getattr(src, "title", None) or sid,
                          "editeur": getattr(src, "publisher", None), "raison": getattr(src, "reason", None),
                          "page": _http(getattr(src, "landing_page", None)),
                          "prochaine_publication": getattr(src, "next_release", None)})
    return sources, attendues


def _http(url: str | None) -> str | None:
    """An address the site may link to: http(s) only (never a file:// path of the machine that built it)."""
    if url and str(url).startswith(("https://", "http://")):
        return str(url)
    return None
