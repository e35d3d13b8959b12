"""The computed baromètres (issue 20): indicators the observatory computes itself from several landed inputs at
once (the Filosofi 200 m grid, the GTFS feeds, the BPE, the OSM green spaces, the results by bureau de vote and
their contours, the ANCT contours, the QPV census population), written as one raw table
``raw.calcul_indicateurs`` of the build warehouse during ``load`` (after every raw gate passed).

One row per indicateur × niveau (``qpv`` | ``commune``) × code × millésime with ``valeur``, ``numerateur``,
``denominateur``, ``statut`` (``disponible`` or ``non_calculable``), ``motif`` (French, when withheld),
``methode``, ``source`` and ``id_election`` (the abstention gap only). The perimeter's value is summed from its
communes in dbt (``int_indicateurs__calcules``, ``int_comparateurs``), so a change of perimeter needs no
recomputation.

**Abstention gap.** Its raw rows are the two halves of the gap, per election (``id_election``): ``qpv`` rows
hold the QPV's apportioned abstentions (numerator) and inscrits (denominator), ``commune`` rows the same outside
every QPV; dbt subtracts the perimeter's outside-QPV rate (``int_abstention_elections``) and keeps one election
per millésime for the baromètre.

**Bounded memory.** The grid is streamed (:func:`extract.calcules.carroyage.iter_grid`, blocks of 4 MB): each
block is split between QPV by area and tested against the served stops, and only the sums per zone (QPV,
commune: a few thousand numbers) are kept. The stops (tens of thousands for a national feed set) and the QPV
polygons are the only inputs held whole. The batches run on ``OBSERVATOIRE_CALCUL_WORKERS`` forked processes
(default: one per core, at most 4), at most two per worker in flight; their sums are added in the grid's order,
so the values do not depend on the number of workers.

**Census check.** A QPV whose grid population differs from its census population (latest ``insee_pop_qpv``)
beyond the tolerance of :func:`extract.calcules.carroyage.controle_recensement` gets its spatial baromètres
withheld: NULL, ``non_calculable`` with the motif; the run goes on.

**Cache.** The result is written next to the latest GTFS landed file, named by the sha256 of every input and
the code's fingerprint: an unchanged run reads it back.
"""

from __future__ import annotations

import hashlib
from pathlib import Path

import numpy as np
import pyarrow as pa

INDICATEUR_TC = "part_pop_arret_tc_300m"
INDICATEUR_EQUIP = "distance_equipements_gamme_proximite"
INDICATEUR_EQUIP_1KM = "part_types_gamme_proximite_1km"
INDICATEUR_EV = "m2_espaces_verts_5min_par_hab"
INDICATEUR_ABST = "ecart_taux_abstention"
BPE_SOURCE = "insee_bpe"
OSM_SOURCE = "osm_espaces_verts"
BUREAUX_SOURCE = "reu_contours_bureaux_vote"
ELECTIONS_PARSER = "mi_resultats_bureaux_vote"
RAYON_TC_M = 300.0
GRID_SOURCE = "insee_filosofi_carreaux"
CONTOURS_SOURCE = "anct_qpv_contours"
CENSUS_SOURCE = "insee_pop_qpv"
GTFS_PARSER = "gtfs"
METHODE_TC = ("Population carroyée Filosofi (carreaux de 200 m répartis entre QPV à la surface) dont le centre "
              "est à moins de 300 m à vol d'oiseau d'un arrêt desservi pendant la semaine de référence du GTFS")

METHODE_EQUIP = ("Distance à vol d'oiseau du centre de chaque carreau Filosofi habité à l'équipement le plus proche de "
                 "chaque type de la gamme de proximité (liste par défaut, à vérifier) géolocalisé par la BPE, moyenne "
                 "sur les types présents, pondérée par la population carroyée de la zone")
METHODE_EQUIP_1KM = ("Part des types de la gamme de proximité (liste par défaut, à vérifier) présents dans la BPE dont "
                     "l'équipement le plus proche est à moins de 1 km à vol d'oiseau du centre de chaque carreau "
                     "Filosofi habité, moyenne pondérée par la population carroyée de la zone")
METHODE_EV = ("tampon_400m_vol_oiseau : surface de l'union des espaces verts ouverts au public d'OpenStreetMap "
              "(parcs, jardins publics, aires de jeux, espaces de loisirs, forêts, pelouses d'au moins 1 000 m²) "
              "dans un disque de 400 m à vol d'oiseau (5 minutes à 4,8 km/h) autour du centre de chaque carreau "
              "Filosofi habité, moyenne pondérée par la population carroyée de la zone ; pas encore l'isochrone "
              "sur le réseau piéton")
METHODE_ABST = ("Inscrits et abstentions de chaque bureau de vote répartis entre QPV à la part de la surface du "
                "bureau dans chaque QPV (contours des bureaux de vote Etalab/REU) ; hors QPV : le reste de chaque "
                "bureau ; l'écart au reste du périmètre est calculé par dbt")
#: the factor of each indicator: valeur = numerateur / denominateur × facteur (also used by dbt's comparators)
FACTEURS = {INDICATEUR_TC: 100.0, INDICATEUR_EQUIP: 1.0, INDICATEUR_EQUIP_1KM: 100.0, INDICATEUR_EV: 1.0,
            INDICATEUR_ABST: 100.0}

SCHEMA = pa.schema([
    ("indicateur", pa.string()), ("niveau", pa.string()), ("code", pa.string()), ("millesime", pa.int32()),
    ("valeur", pa.float64()), ("numerateur", pa.float64()), ("denominateur", pa.float64()),
    ("statut", pa.string()), ("motif", pa.string()), ("methode", pa.string()), ("source", pa.string()),
    ("id_election", pa.string()),
])
TABLE = "calcul_indicateurs"


def code_fingerprint() -> str:
    h = hashlib.sha256()
    here = Path(__file__).resolve()
    for p in [here, *sorted((here.parents[1] / "extract" / "calcules").glob("*.py"))]:
        h.update(p.name.encode())
        h.update(p.read_bytes())
    return h.hexdigest()[:16]


def _latest(landings: list[dict] | None) -> dict | None:
    return max(landings, key=lambda r: r["millesime"]) if landings else None


def calcul_indicateurs(by_source: dict[str, list[dict]], gtfs_sources: list[str],
                       election_sources: list[str] = ()) -> tuple[list[Path], pa.Schema]:
    """The raw table's files (one Parquet, cached) from the landed inputs; no file when an input is missing
    (the catalogue's ``non_calculable`` motif then stands)."""
    grid = _latest(by_source.get(GRID_SOURCE))
    contours = _latest(by_source.get(CONTOURS_SOURCE))
    census = _latest(by_source.get(CENSUS_SOURCE))
    bpe = _latest(by_source.get(BPE_SOURCE))
    osm = _latest(by_source.get(OSM_SOURCE))
    bureaux = _latest(by_source.get(BUREAUX_SOURCE))
    feeds = [_latest(by_source.get(s)) for s in sorted(gtfs_sources)]
    feeds = [f for f in feeds if f]
    # every landed election (each one is its own millésime), not only the latest of each source
    elections = sorted((r for s in election_sources for r in by_source.get(s) or []),
                       key=lambda r: (r["millesime"], r["source_id"])) if bureaux else []
    spatial = bool(grid and census and (feeds or bpe or osm))
    if not contours or not (spatial or elections):
        return [], SCHEMA
    inputs = [contours, *elections, *([bureaux] if elections else [])]
    if spatial:
        inputs += [r for r in (grid, census, *feeds, bpe, osm) if r]
    key = hashlib.sha256("|".join([r["sha256"] for r in inputs] + [code_fingerprint()]).encode()).hexdigest()[:24]
    anchor = Path(contours["parsed_path"])
    dest = anchor.with_name(f"{anchor.name.split('.')[0]}.{TABLE}-{key}.parquet")
    if not dest.exists():
        from extract.landing import write_parsed

        parts = []
        if spatial:
            parts.append(compute(grid, contours, census, feeds, bpe, osm))
        if elections:
            parts.append(compute_abstention(contours, bureaux, elections))
        write_parsed(pa.concat_tables(parts).to_batches(), SCHEMA, dest)
    return [dest], SCHEMA


#: what every batch of the grid is tested against, built once per computation by :func:`compute` and inherited by
#: the worker processes (forked after it is set: nothing is pickled but the batches and the sums)
_SHARED: dict = {}
GRID_BATCH = 100_000


def calcul_workers() -> int:
    """Processes computing the grid's batches at the same time (``OBSERVATOIRE_CALCUL_WORKERS``; 0, the default:
    one per core this process may use, at most 4). One in a daemonic process (a Celery worker's task), which may
    not start children."""
    import multiprocessing
    import os

    from observatoire.config import current_settings

    workers = current_settings().calcul_workers
    if workers == 0:
        try:
            workers = min(len(os.sched_getaffinity(0)), 4)
        except AttributeError:  # not Linux
            workers = min(os.cpu_count() or 1, 4)
    if workers > 1 and multiprocessing.current_process().daemon:
        return 1
    return max(1, workers)


def _partial(t: pa.Table, value_column: str, weighted: bool) -> tuple[list[str], np.ndarray, np.ndarray]:
    """Σ population and Σ numerator by zone of one batch (``niveau`` and ``code`` joined by ``\\x1f``)."""
    vals = np.asarray(t.column(value_column).to_numpy(zero_copy_only=False), dtype=np.float64)
    pops = np.asarray(t.column("population").to_numpy(zero_copy_only=False), dtype=np.float64)
    if weighted:  # a mean weighted by population: carry Σ population × value, over the known values
        ok = np.isfinite(vals)
        pops, nums = np.where(ok, pops, 0.0), np.where(ok, pops * np.where(ok, vals, 0.0), 0.0)
    else:
        nums = vals
    keys = np.char.add(np.char.add(np.asarray(t.column("niveau").to_pylist(), dtype=str), "\x1f"),
                       np.asarray(t.column("code").to_pylist(), dtype=str))
    if not len(keys):
        return [], np.zeros(0), np.zeros(0)
    uniq, inv = np.unique(keys, return_inverse=True)
    return (uniq.tolist(), np.bincount(inv, weights=pops, minlength=len(uniq)),
            np.bincount(inv, weights=nums, minlength=len(uniq)))


def _merge(acc: dict[tuple[str, str], list[float]], partial) -> None:
    keys, p_sum, n_sum = partial
    for key, ps, ns in zip(keys, p_sum.tolist(), n_sum.tolist(), strict=True):
        cell = acc.setdefault(tuple(key.split("\x1f", 1)), [0.0, 0.0])
        cell[0] += ps
        cell[1] += ns


def _batch(batch: pa.RecordBatch) -> tuple[dict[str, tuple], set[str]]:
    """One batch of the grid: split between the QPV, tested against the stops, the equipments and the green
    pieces of :data:`_SHARED`; returns each indicator's sums by zone and the gamme's types with no equipment."""
    from extract.calcules.carroyage import GRID_SCHEMA, Carreaux, population_par_qpv
    from extract.calcules.gtfs import part_population_arret
    from extract.calcules.proximite import GAMME_PROXIMITE_DEFAUT, distance_moyenne

    shared = _SHARED
    names = ["idcar_200m", "ind", "code_commune", "impute", "x_3035", "y_3035"]
    arrays = [batch.column(c) for c in names] + [batch.column("res_m").cast(pa.int32()),
                                                  pa.nulls(batch.num_rows, pa.int64())]
    squares = Carreaux.from_table(pa.Table.from_arrays(arrays, schema=GRID_SCHEMA))
    zones = population_par_qpv(squares, qpv=shared["qpv_3035"], crs="EPSG:3035").zones(metropole=None)
    out: dict[str, tuple] = {}
    absents: set[str] = set()
    if shared["stops"] is not None:
        tree = shared["stops_tree"]
        t = part_population_arret(zones, squares, tree if tree is not None else shared["stops"], radius_m=RAYON_TC_M)
        out[INDICATEUR_TC] = _partial(t, "population_desservie", weighted=False)
    if shared["arbres"] is not None:
        t = distance_moyenne(zones, squares, shared["arbres"], GAMME_PROXIMITE_DEFAUT)
        absents |= set(filter(None, (t.schema.metadata or {}).get(b"types_absents", b"").decode().split(",")))
        out[INDICATEUR_EQUIP] = _partial(t, "distance_moyenne_m", weighted=True)
        out[INDICATEUR_EQUIP_1KM] = _partial(t, "part_types_1km", weighted=True)
    if shared["pieces"] is not None:
        from extract.calcules.espaces_verts import aire_atteignable

        m2 = aire_atteignable(np.column_stack(squares.centroids()), shared["pieces"])
        idx = zones.column("carreau").to_numpy()
        out[INDICATEUR_EV] = _partial(zones.append_column("m2", pa.array(m2[idx])), "m2", weighted=True)
    return out, absents


def _each_batch(parsed_path, workers: int):
    """The results of :func:`_batch` for every batch of the parsed grid, **in the grid's order** (the sums are
    then added in the same order whatever the number of workers: the same values to the last bit). With
    ``workers`` > 1, forked processes compute them; at most ``2 × workers`` batches are in flight, so memory stays
    bounded by the batches, never by the grid."""
    import pyarrow.parquet as pq

    columns = ["idcar_200m", "ind", "code_commune", "impute", "x_3035", "y_3035", "res_m"]
    batches = pq.ParquetFile(parsed_path).iter_batches(batch_size=GRID_BATCH, columns=columns)
    if workers <= 1:
        for batch in batches:
            yield _batch(batch)
        return
    import multiprocessing
    from collections import deque
    from concurrent.futures import ProcessPoolExecutor

    with ProcessPoolExecutor(workers, mp_context=multiprocessing.get_context("fork")) as pool:
        pending: deque = deque()
        for batch in batches:
            pending.append(pool.submit(_batch, batch))
            if len(pending) >= 2 * workers:
                yield pending.popleft().result()
        while pending:
            yield pending.popleft().result()


def compute(grid: dict, contours: dict, census: dict, feeds: list[dict], bpe: dict | None = None,
            osm: dict | None = None) -> pa.Table:
    import pyarrow.parquet as pq

    from extract.calcules.carroyage import (
        controle_recensement,
        points_3035,
        qpv_polygones_3035,
    )
    from extract.calcules.proximite import GAMME_PROXIMITE_DEFAUT
    from extract.spatial import QpvIndex

    index = QpvIndex.from_table(pq.read_table(contours["parsed_path"], columns=["code_qpv", "geometry_wkb"]))
    stops = None
    if feeds:
        stops = pa.concat_tables([
            pq.read_table(f["parsed_path"], columns=["stop_lon", "stop_lat", "desservi"]) for f in feeds])
        stops = stops.filter(pa.array(stops.column("desservi").to_numpy() == 1))
    equipements = None
    if bpe:
        import pyarrow.compute as pc

        codes = sorted({c for v in GAMME_PROXIMITE_DEFAUT.values() for c in v})
        eq = pq.read_table(bpe["parsed_path"], columns=["typequ", "longitude", "latitude"],
                           filters=[("typequ", "in", codes)])  # only the gamme's equipments are held
        eq = eq.filter(pc.and_(pc.is_valid(eq.column("longitude")), pc.is_valid(eq.column("latitude"))))
        ex, ey = points_3035(eq.column("longitude").to_numpy(zero_copy_only=False),
                             eq.column("latitude").to_numpy(zero_copy_only=False), "EPSG:4326")
        equipements = pa.table({"typequ": eq.column("typequ"), "x_3035": pa.array(ex), "y_3035": pa.array(ey)})
    pieces = None
    if osm:
        import shapely

        from extract.calcules.espaces_verts import union_espaces_verts

        green = shapely.from_wkb(np.asarray(
            pq.read_table(osm["parsed_path"], columns=["geometry_wkb"]).column("geometry_wkb").to_pylist(),
            dtype=object))
        pieces = union_espaces_verts(green)  # EPSG:3035, disjoint: overlapping tags counted once
    # per indicator: (niveau, code) → [Σ population, Σ numerator]
    sums: dict[str, dict[tuple[str, str], list[float]]] = {INDICATEUR_TC: {}, INDICATEUR_EQUIP: {},
                                                           INDICATEUR_EQUIP_1KM: {}, INDICATEUR_EV: {}}
    absents: set[str] = set()
    # built once for every batch: the QPV polygons in EPSG:3035, the stops' and the equipments' indexes
    stops_tree = None
    if stops is not None:
        from extract.calcules.gtfs import arbre_arrets

        sx, sy = points_3035(stops.column("stop_lon").to_numpy(zero_copy_only=False),
                             stops.column("stop_lat").to_numpy(zero_copy_only=False), "EPSG:4326")
        stops_tree = arbre_arrets(sx, sy)
    arbres = None
    if equipements is not None:
        from extract.calcules.proximite import arbres_equipements

        arbres = arbres_equipements(equipements, GAMME_PROXIMITE_DEFAUT)
    _SHARED.clear()
    _SHARED.update(qpv_3035=qpv_polygones_3035(index), stops=stops, stops_tree=stops_tree, arbres=arbres,
                   pieces=pieces)
    try:
        for partials, types_absents in _each_batch(grid["parsed_path"], calcul_workers()):
            absents |= types_absents
            for indicateur, partial in partials.items():
                _merge(sums[indicateur], partial)
    finally:
        _SHARED.clear()
    recensement = {c: v for c, v in zip(
        *(pq.read_table(census["parsed_path"], columns=["code_qpv", "population"]).column(n).to_pylist()
          for n in ("code_qpv", "population")), strict=True)}
    pop = {k: v[0] for k, v in (sums[INDICATEUR_TC] or sums[INDICATEUR_EQUIP] or sums[INDICATEUR_EV]).items()}
    par_qpv = {code: p for (niveau, code), p in pop.items() if niveau == "qpv"}
    # only the QPV the grid covers or the census lists (a national census file lists every QPV of France)
    ecarts = {e.code_qpv: e for e in controle_recensement(
        {c: par_qpv.get(c, 0.0) for c in set(par_qpv) | set(recensement)}, recensement)}
    rows = []
    if feeds:
        source = "|".join([*(f"{f['source_id']}:{f['millesime']}" for f in feeds),
                           f"{GRID_SOURCE}:{grid['millesime']}", f"{CENSUS_SOURCE}:{census['millesime']}"])
        rows += _rows(INDICATEUR_TC, sums[INDICATEUR_TC], ecarts, recensement,
                      max(f["millesime"] for f in feeds), METHODE_TC, source)
    if bpe:
        methode = METHODE_EQUIP + (f" ; types sans équipement dans la BPE, laissés de côté : {', '.join(sorted(absents))}"
                                   if absents else "")
        source = f"{BPE_SOURCE}:{bpe['millesime']}|{GRID_SOURCE}:{grid['millesime']}|{CENSUS_SOURCE}:{census['millesime']}"
        rows += _rows(INDICATEUR_EQUIP, sums[INDICATEUR_EQUIP], ecarts, recensement, bpe["millesime"], methode, source)
        methode = METHODE_EQUIP_1KM + (methode[len(METHODE_EQUIP):] if absents else "")
        rows += _rows(INDICATEUR_EQUIP_1KM, sums[INDICATEUR_EQUIP_1KM], ecarts, recensement, bpe["millesime"],
                      methode, source)
    if osm:
        source = f"{OSM_SOURCE}:{osm['millesime']}|{GRID_SOURCE}:{grid['millesime']}|{CENSUS_SOURCE}:{census['millesime']}"
        rows += _rows(INDICATEUR_EV, sums[INDICATEUR_EV], ecarts, recensement, osm["millesime"], METHODE_EV, source)
    return pa.Table.from_pylist(rows, schema=SCHEMA)


def compute_abstention(contours: dict, bureaux: dict, elections: list[dict]) -> pa.Table:
    """The two halves of the abstention gap for every landed election (see the module doc): each bureau's share
    in each QPV by area overlap (EPSG:3035), computed once; then per election the QPV's apportioned inscrits and
    abstentions (withheld under the coverage or inscrits thresholds, with the French motif) and each commune's
    outside-QPV inscrits and abstentions."""
    import pyarrow.parquet as pq
    import shapely

    from extract.calcules.carroyage import to_3035
    from extract.calcules.elections import ecart_abstention, hors_qpv_par_commune, part_bureau_qpv

    qpv = pq.read_table(contours["parsed_path"], columns=["code_qpv", "geometry_wkb"])
    bv = pq.read_table(bureaux["parsed_path"], columns=["id_bv", "geometry_wkb"])

    def polys(t):
        return to_3035(shapely.from_wkb(np.asarray(t.column("geometry_wkb").to_pylist(), dtype=object)))

    qpv_codes = qpv.column("code_qpv").to_pylist()
    shares = part_bureau_qpv(bv.column("id_bv").to_pylist(), polys(bv), qpv_codes, polys(qpv))
    touched = set(shares.column("code_qpv").to_pylist())
    rows = []
    for landing in elections:
        results = pq.read_table(landing["parsed_path"],
                                columns=["id_election", "code_commune", "id_bv", "inscrits", "abstentions"])
        if not results.num_rows:
            continue
        id_election = results.column("id_election")[0].as_py()
        source = f"{landing['source_id']}:{landing['millesime']}|{BUREAUX_SOURCE}:{bureaux['millesime']}"
        par_qpv, _ = ecart_abstention(results, shares, qpv_codes=touched)
        for r in par_qpv.to_pylist():
            ok = r["motif"] is None or r["motif"].startswith("aucun inscrit hors QPV")
            den, num = r["inscrits_qpv"], r["abstentions_qpv"]
            rows.append({"indicateur": INDICATEUR_ABST, "niveau": "qpv", "code": r["code_qpv"],
                         "millesime": landing["millesime"], "valeur": 100 * num / den if ok and den else None,
                         "numerateur": num, "denominateur": den, "statut": "disponible" if ok else "non_calculable",
                         "motif": None if ok else r["motif"], "methode": METHODE_ABST, "source": source,
                         "id_election": id_election})
        for r in hors_qpv_par_commune(results, shares).to_pylist():
            den, num = r["inscrits_hors_qpv"], r["abstentions_hors_qpv"]
            rows.append({"indicateur": INDICATEUR_ABST, "niveau": "commune", "code": r["code_commune"],
                         "millesime": landing["millesime"], "valeur": 100 * num / den if den else None,
                         "numerateur": num, "denominateur": den,
                         "statut": "disponible" if den else "non_calculable",
                         "motif": None if den else "aucun inscrit hors QPV dans la commune", "methode": METHODE_ABST,
                         "source": source, "id_election": id_election})
    return pa.Table.from_pylist(rows, schema=SCHEMA)


def _rows(indicateur, acc, ecarts, recensement, millesime, methode, source) -> list[dict]:
    facteur = FACTEURS[indicateur]
    rows = []
    for (niveau, code), (p, num) in sorted(acc.items()):
        ecart = ecarts.get(code) if niveau == "qpv" else None
        ok = p > 0 and ecart is None
        rows.append({"indicateur": indicateur, "niveau": niveau, "code": code, "millesime": millesime,
                     "valeur": facteur * num / p if ok else None, "numerateur": num, "denominateur": p,
                     "statut": "disponible" if ok else "non_calculable",
                     "motif": None if ok else (ecart.motif if ecart else "aucune population carroyée"),
                     "methode": methode, "source": source, "id_election": None})
    for code, e in sorted(ecarts.items()):
        if ("qpv", code) not in acc and code in recensement:
            rows.append({"indicateur": indicateur, "niveau": "qpv", "code": code, "millesime": millesime,
                         "valeur": None, "numerateur": None, "denominateur": None, "statut": "non_calculable",
                         "motif": e.motif, "methode": methode, "source": source, "id_election": None})
    return rows
