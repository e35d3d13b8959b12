"""Recordings of the paged APIs and comparator sources (real formats, synthetic values).

* ``insee_melodi_population`` / ``insee_melodi_filosofi``: cassettes of the INSEE Melodi API (several pages of
  ``maxResult`` observations, ``paging`` block with ``next`` / ``isLast`` / ``count``) for the 92 communes of the
  Métropole (``GEO=EPCI-200054807*COM``), the EPCI, the départements 13, 83 and 84 and France (``FRANCE-F``);
* ``ademe_dpe_existant``: cassettes of the ADEME data-fair ``/lines`` API (pages of ``size`` DPE, cursor ``next``),
  DPE located inside and around the QPV polygons of ``_base/qpv_contours.geojson`` and in a few other communes;
* ``dares_defm_communes``: the Opendatasoft CSV export (labels, ``;``, UTF-8 BOM, CRLF) of the DARES communal
  jobseekers file, one file per millésime (T4);
* ``caf_communes``: the Opendatasoft CSV export of data.caf.fr ``s_ben_com_f`` (field names, ``;``, UTF-8 BOM).

Commune codes and names are real (COG); populations and every other value are synthetic, drawn from
:func:`tests.recordings.generate.rng` seeded by (source, commune, millésime). The URLs recorded are built here
and are exactly the registry's (``tests/unit/test_apis.py`` checks it), so demo mode replays them unchanged.
"""

from __future__ import annotations

import csv
import io
import json
import math
from pathlib import Path
from urllib.parse import quote, urlencode

from extract.apis import first_url, with_params
from extract.replay import write_cassette
from tests.recordings import generate

EPCI_AMP = "200054807"
REGION = ("93", "Provence-Alpes-Côte d'Azur")
DEPARTEMENTS = {"13": "Bouches-du-Rhône", "83": "Var", "84": "Vaucluse"}

# -- communes (real COG codes and names; the third field is the order of magnitude of the population used to
#    draw synthetic values, not an official figure) -------------------------------------------------------------

#: the 92 communes of the Métropole Aix-Marseille-Provence: 90 of the Bouches-du-Rhône, Pertuis (84) and
#: Saint-Zacharie (83)
COMMUNES_AMP: list[tuple[str, str, int]] = [
    ("13001", "Aix-en-Provence", 147000), ("13002", "Allauch", 21500), ("13003", "Alleins", 2600),
    ("13005", "Aubagne", 47000), ("13007", "Auriol", 12500), ("13008", "Aurons", 600),
    ("13009", "La Barben", 850), ("13012", "Beaurecueil", 600), ("13013", "Belcodène", 1900),
    ("13014", "Berre-l'Étang", 13500), ("13015", "Bouc-Bel-Air", 15000), ("13016", "La Bouilladisse", 6300),
    ("13019", "Cabriès", 10000), ("13020", "Cadolive", 2300), ("13021", "Carry-le-Rouet", 6000),
    ("13022", "Cassis", 7200), ("13023", "Ceyreste", 4500), ("13024", "Charleval", 2700),
    ("13025", "Châteauneuf-le-Rouge", 2400), ("13026", "Châteauneuf-les-Martigues", 12500),
    ("13028", "La Ciotat", 36000), ("13029", "Cornillon-Confoux", 1500), ("13030", "Cuges-les-Pins", 5300),
    ("13031", "La Destrousse", 3500), ("13032", "Éguilles", 8000), ("13033", "Ensuès-la-Redonne", 5400),
    ("13035", "Eyguières", 7100), ("13037", "La Fare-les-Oliviers", 8600), ("13039", "Fos-sur-Mer", 16000),
    ("13040", "Fuveau", 10400), ("13041", "Gardanne", 21500), ("13042", "Gémenos", 6600),
    ("13043", "Gignac-la-Nerthe", 9600), ("13044", "Grans", 4600), ("13046", "Gréasque", 4300),
    ("13047", "Istres", 44000), ("13048", "Jouques", 4400), ("13049", "Lamanon", 2100),
    ("13050", "Lambesc", 10000), ("13051", "Lançon-Provence", 9000), ("13053", "Mallemort", 6300),
    ("13054", "Marignane", 33000), ("13055", "Marseille", 873000), ("13056", "Martigues", 49000),
    ("13059", "Meyrargues", 4000), ("13060", "Meyreuil", 5500), ("13062", "Mimet", 4700),
    ("13063", "Miramas", 27000), ("13069", "Pélissanne", 10500), ("13070", "La Penne-sur-Huveaune", 6500),
    ("13071", "Les Pennes-Mirabeau", 21000), ("13072", "Peynier", 3400), ("13073", "Peypin", 5500),
    ("13074", "Peyrolles-en-Provence", 5100), ("13075", "Plan-de-Cuques", 11000),
    ("13077", "Port-de-Bouc", 16500), ("13078", "Port-Saint-Louis-du-Rhône", 8500),
    ("13079", "Puyloubier", 1900), ("13080", "Le Puy-Sainte-Réparade", 5800), ("13081", "Rognac", 12000),
    ("13082", "Rognes", 4800), ("13084", "La Roque-d'Anthéron", 5500), ("13085", "Roquefort-la-Bédoule", 5800),
    ("13086", "Roquevaire", 9100), ("13087", "Rousset", 5000), ("13088", "Le Rove", 5200),
    ("13090", "Saint-Antonin-sur-Bayon", 130), ("13091", "Saint-Cannat", 5800), ("13092", "Saint-Chamas", 8500),
    ("13093", "Saint-Estève-Janson", 400), ("13095", "Saint-Marc-Jaumegarde", 1200),
    ("13098", "Saint-Mitre-les-Remparts", 5800), ("13099", "Saint-Paul-lès-Durance", 1000),
    ("13101", "Saint-Savournin", 3300), ("13102", "Saint-Victoret", 6700), ("13103", "Salon-de-Provence", 46000),
    ("13104", "Sausset-les-Pins", 7600), ("13105", "Sénas", 7200), ("13106", "Septèmes-les-Vallons", 11000),
    ("13107", "Simiane-Collongue", 5800), ("13109", "Le Tholonet", 2300), ("13110", "Trets", 11000),
    ("13111", "Vauvenargues", 1000), ("13112", "Velaux", 9000), ("13113", "Venelles", 8500),
    ("13114", "Ventabren", 5700), ("13115", "Vernègues", 1900), ("13117", "Vitrolles", 34000),
    ("13118", "Coudoux", 3800), ("13119", "Carnoux-en-Provence", 6700), ("83120", "Saint-Zacharie", 5700),
    ("84089", "Pertuis", 20000),
]

#: the 29 other communes of the Bouches-du-Rhône (Arles Crau Camargue Montagnette, Terre de Provence,
#: Vallée des Baux-Alpilles)
COMMUNES_13_HORS_AMP: list[tuple[str, str, int]] = [
    ("13004", "Arles", 51000), ("13006", "Aureille", 1500), ("13010", "Barbentane", 4100),
    ("13011", "Les Baux-de-Provence", 350), ("13017", "Boulbon", 1600), ("13018", "Cabannes", 4600),
    ("13027", "Châteaurenard", 16000), ("13034", "Eygalières", 1900), ("13036", "Eyragues", 4600),
    ("13038", "Fontvieille", 3600), ("13045", "Graveson", 4900), ("13052", "Maillane", 2600),
    ("13057", "Mas-Blanc-des-Alpilles", 500), ("13058", "Maussane-les-Alpilles", 2200),
    ("13061", "Saint-Pierre-de-Mézoargues", 220), ("13064", "Mollégès", 2600), ("13065", "Mouriès", 3600),
    ("13066", "Noves", 5800), ("13067", "Orgon", 3300), ("13068", "Paradou", 1300),
    ("13076", "Plan-d'Orgon", 3500), ("13083", "Rognonas", 4300), ("13089", "Saint-Andiol", 3300),
    ("13094", "Saint-Étienne-du-Grès", 2400), ("13096", "Saintes-Maries-de-la-Mer", 2300),
    ("13097", "Saint-Martin-de-Crau", 13500), ("13100", "Saint-Rémy-de-Provence", 9800),
    ("13108", "Tarascon", 15000), ("13116", "Verquières", 900),
]

#: Marseille's 16 arrondissements (published next to the commune 13055 by DARES, instead of it by the CAF)
ARRONDISSEMENTS_MARSEILLE: list[tuple[str, str, int]] = [
    ("13201", "Marseille 1er Arrondissement", 40000), ("13202", "Marseille 2e Arrondissement", 25000),
    ("13203", "Marseille 3e Arrondissement", 50000), ("13204", "Marseille 4e Arrondissement", 50000),
    ("13205", "Marseille 5e Arrondissement", 45000), ("13206", "Marseille 6e Arrondissement", 43000),
    ("13207", "Marseille 7e Arrondissement", 35000), ("13208", "Marseille 8e Arrondissement", 81000),
    ("13209", "Marseille 9e Arrondissement", 75000), ("13210", "Marseille 10e Arrondissement", 56000),
    ("13211", "Marseille 11e Arrondissement", 58000), ("13212", "Marseille 12e Arrondissement", 63000),
    ("13213", "Marseille 13e Arrondissement", 93000), ("13214", "Marseille 14e Arrondissement", 66000),
    ("13215", "Marseille 15e Arrondissement", 80000), ("13216", "Marseille 16e Arrondissement", 17000),
]
#: approximate centre (lat, lon) of each arrondissement, to give a DPE point in Marseille its code_insee_ban
CENTRES_ARRONDISSEMENTS = {
    "13201": (43.300, 5.384), "13202": (43.312, 5.366), "13203": (43.312, 5.380), "13204": (43.306, 5.400),
    "13205": (43.293, 5.398), "13206": (43.287, 5.380), "13207": (43.283, 5.360), "13208": (43.240, 5.380),
    "13209": (43.235, 5.440), "13210": (43.275, 5.425), "13211": (43.290, 5.480), "13212": (43.305, 5.440),
    "13213": (43.350, 5.430), "13214": (43.345, 5.395), "13215": (43.355, 5.360), "13216": (43.360, 5.315),
}

#: communes of the Var and the Vaucluse in the recordings (the QPV communes of _base/ and Toulon's Métropole);
#: the live exports hold every commune of the three départements
COMMUNES_83_84: list[tuple[str, str, int]] = [
    ("83023", "Brignoles", 17500), ("83034", "Carqueiranne", 10000), ("83047", "La Crau", 18500),
    ("83050", "Draguignan", 40000), ("83061", "Fréjus", 55000), ("83062", "La Garde", 25000),
    ("83069", "Hyères", 50000), ("83073", "Le Luc", 11500), ("83086", "Le Muy", 9500),
    ("83090", "Ollioules", 13500), ("83098", "Le Pradet", 11000), ("83103", "Le Revest-les-Eaux", 3900),
    ("83126", "La Seyne-sur-Mer", 63000), ("83129", "Six-Fours-les-Plages", 34000),
    ("83137", "Toulon", 180000), ("83144", "La Valette-du-Var", 24000), ("83153", "Saint-Mandrier-sur-Mer", 5800),
    ("84003", "Apt", 11500), ("84007", "Avignon", 91000), ("84019", "Bollène", 13500), ("84031", "Carpentras", 29000),
    ("84035", "Cavaillon", 26000), ("84054", "L'Isle-sur-la-Sorgue", 19500), ("84080", "Monteux", 13000),
    ("84087", "Orange", 28500), ("84092", "Le Pontet", 17500), ("84129", "Sorgues", 18500),
    ("84138", "Valréas", 9500),
]

PLM_ARRONDISSEMENTS = {c for c, _, _ in ARRONDISSEMENTS_MARSEILLE}


def qpv_communes() -> set[str]:
    """Communes with at least one QPV in the recordings' territory (they get higher precarity values)."""
    out = set()
    for t in generate.territoires():
        out.update(c.strip() for c in t["insee_com"].split(","))
    return out


def departement_of(code: str) -> str:
    return code[:2]


def commune_population(code: str, base: int, millesime: int) -> int:
    """Synthetic population municipale of a commune (around ``base``), drifting by millésime."""
    value = base * (1.0 + min(0.02, max(-0.02, rng_gauss("pop_commune", code, sigma=0.015))))
    for year in range(2020, millesime + 1):
        value *= 1.0 + generate.rng("pop_commune", code, year).gauss(0.002, 0.006)
    return max(int(round(value)), 50)


def rng_gauss(*parts, sigma: float) -> float:
    return generate.rng(*parts).gauss(0.0, sigma)


def round5(x: float) -> int:
    return int(5 * round(x / 5))


# ===================================================================================================
# INSEE Melodi
# ===================================================================================================

MELODI_BASE = "https://api.insee.fr/melodi/data"
MELODI_GEO = [f"EPCI-{EPCI_AMP}*COM", f"EPCI-{EPCI_AMP}", "DEP-13", "DEP-83", "DEP-84", "FRANCE-F"]
MELODI_GEO_VINTAGE = "2025"
MELODI = {
    # source id: (dataset, millésimes, filters, maxResult)
    "insee_melodi_population": ("DS_POPULATIONS_REFERENCE", (2020, 2021), [("POPREF_MEASURE", "PMUN")], 40),
    "insee_melodi_filosofi": ("DS_FILOSOFI_CC", (2021, 2022),
                              [("FILOSOFI_MEASURE", "MED_SL"), ("FILOSOFI_MEASURE", "PR_MD60")], 60),
}
MELODI_TITLES = {
    "DS_POPULATIONS_REFERENCE": {"fr": "Populations de référence", "en": "Reference populations "},
    "DS_FILOSOFI_CC": {"fr": "Revenus, niveau de vie et pauvreté (Filosofi) - communes et supra-communal",
                       "en": "Income, standard of living and poverty (Filosofi) - municipalities and above"},
}
PUBLISHER = {"id": "INSEE", "label": [
    {"lang": "fr", "content": "Institut national de la statistique et des etudes economiques (INSEE)"},
    {"lang": "en", "content": "National Institute of Statistics and Economic Studies"}]}


#: the recordings' other perimeters (besides the Métropole): Toulon's Métropole and "France" (every QPV of the
#: recordings); their Melodi and DPE requests are in the same cassettes
OTHER_PERIMETRES = ("epci:248300543", "france")
EPCI_TPM = "248300543"
COMMUNES_TPM = ("83034", "83047", "83062", "83069", "83090", "83098", "83103", "83126", "83129", "83137", "83144",
                "83153")


def territory_rows() -> list[dict]:
    """The recordings' QPV with the contours' attribute names (observatoire.perimetre's input)."""
    return [{**t, "code_qpv": t["code_qp"]} for t in generate.territoires()]


def perimetre_url(source_id: str, millesime: int, perimetre: str) -> str:
    """The request the pipeline makes for ``perimetre`` (the registry's ``perimetre_url`` template)."""
    from extract.registry import load_registry
    from observatoire.perimetre import url_params_for

    template = load_registry()[source_id].perimetre_url
    return template.format(millesime=millesime, **url_params_for(territory_rows(), perimetre))


def _perimetre_communes(perimetre: str) -> list[tuple[str, str, int]]:
    """The communes a Melodi ``*COM`` request of the perimeter answers (with their population scale)."""
    known = {c[0]: c for c in COMMUNES_AMP + COMMUNES_13_HORS_AMP + COMMUNES_83_84}
    if perimetre == f"epci:{EPCI_TPM}":
        return [known[c] for c in COMMUNES_TPM]
    codes = set(known) | qpv_communes()  # france: every commune of the recordings
    return [known.get(c, (c, c, 15_000)) for c in sorted(codes) if c not in PLM_ARRONDISSEMENTS]


def melodi_url(source_id: str, millesime: int) -> str:
    """The registry URL of a Melodi source's millésime (several GEO parameters: one request for every level)."""
    dataset, _, filters, max_result = MELODI[source_id]
    params = [("GEO", g) for g in MELODI_GEO] + filters
    params += [("TIME_PERIOD", str(millesime)), ("totalCount", "TRUE"), ("maxResult", str(max_result))]
    return f"{MELODI_BASE}/{dataset}?" + urlencode(params, safe="*")


def _population_levels(millesime: int, perimetre: str | None = None) -> list[tuple[str, str, float]]:
    """(niveau, code, PMUN) for every geography of the population recording (of another perimeter's request)."""
    if perimetre is not None:
        rows = [("COM", code, float(commune_population(code, base, millesime)))
                for code, _, base in _perimetre_communes(perimetre)]
        extra = [("EPCI", EPCI_TPM, sum(v for _, _, v in rows)),
                 ("DEP", "83", float(commune_population("DEP83", 1_090_000, millesime)))] \
            if perimetre.startswith("epci:") else []
        return rows + extra + [("FRANCE", "F", float(commune_population("FRANCE", 66_000_000, millesime)))]
    rows = [("COM", code, float(commune_population(code, base, millesime))) for code, _, base in COMMUNES_AMP]
    epci = sum(v for _, _, v in rows)
    dep13 = sum(commune_population(code, base, millesime) for code, _, base in COMMUNES_AMP + COMMUNES_13_HORS_AMP
                if code.startswith("13"))
    out = rows + [("EPCI", EPCI_AMP, epci), ("DEP", "13", float(dep13))]
    for dep, base in (("83", 1_090_000), ("84", 563_000)):
        out.append(("DEP", dep, float(commune_population(f"DEP{dep}", base, millesime))))
    out.append(("FRANCE", "F", float(commune_population("FRANCE", 66_000_000, millesime))))
    return out


def _filosofi_levels(millesime: int, perimetre: str | None = None) -> list[tuple[str, str, str, float | None]]:
    """(niveau, code, measure, value or None when withheld) for the Filosofi recording."""
    qpv = qpv_communes()
    out: list[tuple[str, str, str, float | None]] = []
    communes = COMMUNES_AMP if perimetre is None else _perimetre_communes(perimetre)
    if perimetre is None:
        territories = (("EPCI", EPCI_AMP, 18.6, 22_450), ("DEP", "13", 18.1, 22_300), ("DEP", "83", 15.3, 22_600),
                       ("DEP", "84", 19.7, 21_300), ("FRANCE", "F", 14.9, 23_100))
    elif perimetre.startswith("epci:"):
        territories = (("EPCI", EPCI_TPM, 16.2, 22_350), ("DEP", "83", 15.3, 22_600), ("FRANCE", "F", 14.9, 23_100))
    else:
        territories = (("FRANCE", "F", 14.9, 23_100),)
    for code, _, base in communes:
        pop = commune_population(code, base, millesime)
        r = generate.rng("filosofi", code)
        drift = generate.rng("filosofi", code, millesime).gauss(0.0, 0.4)
        if code == "13055":
            rate = 25.8 + drift
        elif code in qpv:
            rate = r.uniform(16.0, 24.0) + drift
        else:
            rate = r.uniform(10.0, 15.5) + drift
        rate = min(max(rate, 10.0), 30.0)
        median = 29_500 - 420 * rate + r.gauss(0, 600) + 350 * (millesime - 2021)
        out.append(("COM", code, "MED_SL", None if pop < 500 else float(round(median / 10) * 10)))
        out.append(("COM", code, "PR_MD60", None if pop < 2000 else round(rate, 1)))
    for niveau, code, rate, median in territories:
        drift = generate.rng("filosofi", niveau, code, millesime).gauss(0.0, 0.15)
        out.append((niveau, code, "MED_SL", float(round((median + 380 * (millesime - 2021)) / 10) * 10)))
        out.append((niveau, code, "PR_MD60", round(rate + drift, 1)))
    return out


def melodi_observations(source_id: str, millesime: int, perimetre: str | None = None) -> list[dict]:
    """The observations of a Melodi recording, in the order they are served (shuffled like the API's)."""
    obs: list[dict] = []
    if source_id == "insee_melodi_population":
        for niveau, code, value in _population_levels(millesime, perimetre):
            obs.append({"dimensions": {"GEO": f"{MELODI_GEO_VINTAGE}-{niveau}-{code}", "FREQ": "A",
                                       "TIME_PERIOD": str(millesime), "POPREF_MEASURE": "PMUN"},
                        "measures": {"OBS_VALUE_NIVEAU": {"value": value}}})
    else:
        for niveau, code, measure, value in _filosofi_levels(millesime, perimetre):
            unit = "EUR_YR" if measure == "MED_SL" else "PT"
            obs.append({"attributes": {"OBS_STATUS": "A", "CONF_STATUS": "F" if value is not None else "C"},
                        "dimensions": {"GEO": f"{MELODI_GEO_VINTAGE}-{niveau}-{code}", "FREQ": "A",
                                       "TIME_PERIOD": str(millesime), "FILOSOFI_MEASURE": measure,
                                       "UNIT_MEASURE": unit},
                        "measures": {"OBS_VALUE_NIVEAU": {"value": value}}})
    if perimetre is None:
        generate.rng("melodi-order", source_id, millesime).shuffle(obs)
    else:
        generate.rng("melodi-order", source_id, millesime, perimetre).shuffle(obs)
    return obs


def melodi_pages(source_id: str, millesime: int, perimetre: str | None = None) -> list[tuple[str, bytes]]:
    """``(url, body)`` of every page the ``melodi`` paginator requests for the registry URL (or for the
    request of another perimeter)."""
    dataset, _, _, per_page = MELODI[source_id]
    url = melodi_url(source_id, millesime) if perimetre is None else perimetre_url(source_id, millesime, perimetre)
    obs = melodi_observations(source_id, millesime, perimetre)
    n_pages = max(1, math.ceil(len(obs) / per_page))
    pages = []
    for k in range(1, n_pages + 1):
        paging: dict = {"first": with_params(url, page=1)}
        if k > 1:
            paging["previous"] = with_params(url, page=k - 1)
        if k < n_pages:
            paging["next"] = with_params(url, page=k + 1)
        paging.update(last=with_params(url, page=n_pages), isLast=k == n_pages, count=len(obs))
        doc = {"identifier": dataset, "title": MELODI_TITLES[dataset], "publisher": PUBLISHER,
               "observations": obs[(k - 1) * per_page:k * per_page], "paging": paging}
        page_url = first_url("melodi", url) if k == 1 else with_params(url, page=k)
        pages.append((page_url, json.dumps(doc, ensure_ascii=False, separators=(",", ":")).encode("utf-8")))
    return pages


# ===================================================================================================
# ADEME DPE (data-fair)
# ===================================================================================================

DPE_BASE = "https://data.ademe.fr/data-fair/api/v1/datasets/dpe03existant/lines"
#: the id the ``next`` links may carry instead of ``dpe03existant`` (seen in third-party code; [inferred])
DPE_INTERNAL_ID = "meg-83tjwtg8dyz4vv7h1dqe"
DPE_PAGE_SIZE = 1000
DPE_SELECT = ["numero_dpe", "date_etablissement_dpe", "etiquette_dpe", "etiquette_ges", "type_batiment",
              "periode_construction", "surface_habitable_logement", "code_insee_ban", "_geopoint"]
DPE_COUNTS_PERIMETRE = {"epci:248300543": 450, "france": 1700}
DPE_COUNTS = {2024: 2600, 2025: 3000}  # 2025 is a multiple of the page size: the API then serves an empty page
ETIQUETTES = "ABCDEFG"
PERIODES = ["avant 1948", "1948-1974", "1975-1977", "1978-1982", "1983-1988", "1989-2000", "2001-2005",
            "2006-2012", "2013-2021", "après 2021"]
#: approximate centres of a few communes without QPV where DPE are recorded too (« territoires d'enjeux »…)
AUTRES_CENTRES = {"13041": (43.4546, 5.4690), "13028": (43.1748, 5.6046), "13002": (43.3360, 5.4820),
                  "13071": (43.4100, 5.3100), "13022": (43.2150, 5.5380)}


def dpe_codes_insee() -> list[str]:
    """The ``code_insee_ban`` values of the Métropole: its communes, Marseille as its 16 arrondissements."""
    codes = [c for c, _, _ in COMMUNES_AMP if c != "13055"] + sorted(PLM_ARRONDISSEMENTS)
    return sorted(codes)


def dpe_url(millesime: int) -> str:
    """The registry URL: ``qs`` Lucene filter on the communes and the year (never ``?field=value``)."""
    qs = (f"code_insee_ban:({' OR '.join(dpe_codes_insee())}) AND "
          f"date_etablissement_dpe:[{millesime}-01-01 TO {millesime}-12-31]")
    params = [("size", str(DPE_PAGE_SIZE)), ("select", ",".join(DPE_SELECT)), ("qs", qs)]
    return DPE_BASE + "?" + urlencode(params, safe=":,()[]", quote_via=quote)


def _amp_qpv_shapes(codes: set[str] | None = None):
    """(code, communes, polygon, ring around it up to ~1 km) of each AMP QPV (or of ``codes``), sorted by code."""
    from shapely import make_valid
    from shapely.geometry import shape

    with open(generate.BASE / "qpv_contours.geojson", encoding="utf-8") as fh:
        doc = json.load(fh)
    out = []
    for f in doc["features"]:
        p = f["properties"]
        if (p["code_qp"] in codes) if codes is not None else p["siren_epci"] == EPCI_AMP:
            geom = make_valid(shape(f["geometry"]))
            ring = geom.buffer(0.012).difference(geom)
            out.append((p["code_qp"], [c.strip() for c in str(p["insee_com"]).split(",")], geom, ring))
    return sorted(out, key=lambda t: t[0])


def _code_for_point(communes: list[str], lat: float, lon: float) -> str:
    """code_insee_ban of a point of a QPV's commune(s): Marseille by nearest arrondissement centre."""
    candidates: dict[str, tuple[float, float]] = {}
    for c in communes:
        if c == "13055":
            candidates.update(CENTRES_ARRONDISSEMENTS)
        elif c == "13070":
            candidates[c] = (43.283, 5.518)
    if not candidates:
        return communes[0]
    return min(candidates, key=lambda k: (candidates[k][0] - lat) ** 2 + (candidates[k][1] - lon) ** 2)


def _sample_in(geom, r, tries: int = 1000) -> tuple[float, float]:
    from shapely import contains_xy

    minx, miny, maxx, maxy = geom.bounds
    for _ in range(tries):
        x, y = r.uniform(minx, maxx), r.uniform(miny, maxy)
        if contains_xy(geom, x, y):
            return y, x
    c = geom.representative_point()
    return c.y, c.x


def _label(r, in_qpv: bool) -> str:
    weights = [1, 3, 12, 28, 27, 17, 12] if in_qpv else [3, 7, 21, 32, 21, 10, 6]
    return r.choices(ETIQUETTES, weights=weights)[0]


def dpe_records(millesime: int, perimetre: str | None = None) -> list[dict]:
    """The synthetic DPE of a millésime, in the order the API serves them, with their truth for the tests
    (``_zone``: qpv / autour / autre / bogus, ``_qpv``: the QPV a point was drawn in). ``perimetre``: the DPE
    of another perimeter's request (drawn in and around its QPV only)."""
    import datetime as dt

    from observatoire.perimetre import qpv_in_perimetre
    if perimetre is None:
        r = generate.rng("dpe", millesime)
        shapes = _amp_qpv_shapes()
        n = DPE_COUNTS[millesime]
    else:
        r = generate.rng("dpe", millesime, perimetre)
        shapes = _amp_qpv_shapes(set(qpv_in_perimetre(territory_rows(), perimetre)))
        n = DPE_COUNTS_PERIMETRE[perimetre] + (millesime - 2024) * 50
    weights = [generate.population(code, 2021) for code, _, _, _ in shapes]
    start = dt.date(millesime, 1, 1)
    days = (dt.date(millesime, 12, 31) - start).days
    serial = r.randrange(10_000, 900_000)
    records = []
    for i in range(n):
        u = r.random()
        zone = "qpv" if u < 0.55 else "autour" if u < 0.88 else "autre"
        if perimetre is not None and zone == "autre":
            zone = "autour"
        if i in (17, 1234) and perimetre is None:
            zone = "bogus"
        qpv_code = None
        if zone in ("qpv", "autour"):
            qpv_code, communes, geom, ring = r.choices(shapes, weights=weights)[0]
            if zone == "qpv":
                lat, lon = _sample_in(geom, r)
            else:
                lat, lon = _sample_in(ring, r)
                qpv_code = None
            code = _code_for_point(communes, lat, lon)
        elif zone == "autre":
            code = r.choice(sorted(AUTRES_CENTRES))
            clat, clon = AUTRES_CENTRES[code]
            lat, lon = clat + r.gauss(0, 0.01), clon + r.gauss(0, 0.013)
        else:  # a bogus point, published as such (a Marseille DPE geocoded in Scotland / at 0,0)
            code = "13203"
            lat, lon = (56.123456, -3.987654) if i == 17 else (0.0, 0.0)
        in_qpv = zone == "qpv"
        etiquette = _label(r, in_qpv)
        ges = ETIQUETTES[min(6, max(0, ETIQUETTES.index(etiquette) + r.choice([-2, -1, -1, 0, 0, 0, 1])))]
        kind = r.choices(["appartement", "maison", "immeuble"], weights=[80, 12, 8] if in_qpv else [55, 40, 5])[0]
        periode = r.choices(PERIODES, weights=[14, 46, 8, 6, 5, 8, 4, 4, 4, 1] if in_qpv
                            else [18, 24, 6, 6, 7, 12, 7, 9, 9, 2])[0]
        if kind == "appartement":
            surface = round(min(max(r.lognormvariate(4.05, 0.35), 12.0), 180.0), 1)
        elif kind == "maison":
            surface = round(min(max(r.lognormvariate(4.55, 0.3), 35.0), 350.0), 1)
        else:
            surface = round(min(max(r.lognormvariate(7.0, 0.5), 300.0), 9000.0), 1)
        serial += r.randrange(1, 40)
        date = start + dt.timedelta(days=r.randrange(days + 1))
        rec = {"numero_dpe": f"{millesime % 100:02d}{code[:2]}E{serial:07d}{r.choice('ABCDEFGHJKLMNPRSTUVWXYZ')}",
               "date_etablissement_dpe": date.isoformat(), "etiquette_dpe": etiquette, "etiquette_ges": ges,
               "type_batiment": kind, "periode_construction": periode}
        if r.random() > 0.01:
            rec["surface_habitable_logement"] = surface
        rec["code_insee_ban"] = code
        if zone == "bogus" or r.random() > 0.35:  # ~35 % of DPE are not geocoded by ADEME: no _geopoint
            rec["_geopoint"] = f"{lat:.6f},{lon:.6f}"
        rec["_zone"], rec["_qpv"] = zone, qpv_code
        records.append(rec)
    records.sort(key=lambda x: (x["date_etablissement_dpe"], x["numero_dpe"]))
    return records


def dpe_pages(millesime: int, perimetre: str | None = None) -> list[tuple[str, bytes]]:
    """``(url, body)`` of every page the ``datafair`` paginator requests for the registry URL (or for the
    request of another perimeter)."""
    if perimetre is None:
        url = dpe_url(millesime)
        r = generate.rng("dpe-cursor", millesime)
    else:
        url = perimetre_url("ademe_dpe_existant", millesime, perimetre)
        r = generate.rng("dpe-cursor", millesime, perimetre)
    records = [{k: v for k, v in rec.items() if not k.startswith("_") or k == "_geopoint"}
               for rec in dpe_records(millesime, perimetre)]
    internal = url.replace("/datasets/dpe03existant/", f"/datasets/{DPE_INTERNAL_ID}/")
    pages = []
    current = url
    k = 0
    while True:
        chunk = records[k * DPE_PAGE_SIZE:(k + 1) * DPE_PAGE_SIZE]
        doc: dict = {"total": len(records)}
        nxt = None
        if len(chunk) == DPE_PAGE_SIZE:  # a full page has a next link, even when nothing follows
            cursor = f"{1_700_000_000_000 + (k + 1) * 86_400_000 + r.randrange(86_400_000)},{r.randrange(10**6)}"
            nxt = with_params(internal, after=cursor)
            doc["next"] = nxt
        doc["results"] = chunk
        pages.append((current, json.dumps(doc, ensure_ascii=False, separators=(",", ":")).encode("utf-8")))
        if nxt is None:
            break
        current, k = nxt, k + 1
    return pages


# ===================================================================================================
# DARES DEFM (Opendatasoft export)
# ===================================================================================================

DARES_EXPORT = ("https://data.dares.travail-emploi.gouv.fr/api/explore/v2.1/catalog/datasets/"
                "dares_defm_communales-brutes/exports/csv")
DARES_HEADER = ["Date", "Code région", "Région", "Code département", "Département", "Code commune", "Commune",
                "Type de données", "Catégorie", "Sexe", "Tranche d'âge", "Nombre de demandeurs d'emploi"]
SEXES = {"Total": 1.0, "Hommes": 0.49, "Femmes": 0.51}
AGES = {"Total": 1.0, "Moins de 25 ans": 0.13, "De 25 à 49 ans": 0.55, "50 ans et plus": 0.32}
DARES_FILE = "dares_defm_communales-brutes.csv"


def dares_url(millesime: int) -> str:
    where = (f'date="{millesime}-T4" and '
             f'({" or ".join(f"code_departement={chr(34)}{d}{chr(34)}" for d in sorted(DEPARTEMENTS))})')
    return DARES_EXPORT + "?" + urlencode([("use_labels", "true"), ("delimiter", ";"), ("where", where)],
                                          quote_via=quote, safe="")


def dares_communes() -> list[tuple[str, str, int]]:
    return sorted(COMMUNES_AMP + COMMUNES_13_HORS_AMP + ARRONDISSEMENTS_MARSEILLE + [
        c for c in COMMUNES_83_84 if c[0] not in {a for a, _, _ in COMMUNES_AMP}])


def _defm_total(code: str, base: int, millesime: int, qpv: set[str]) -> float:
    rate = (0.115 if code in qpv or code in PLM_ARRONDISSEMENTS else 0.072) * (1 + rng_gauss("defm", code, sigma=0.12))
    year = {2023: 1.0, 2024: 0.985, 2025: 1.11}.get(millesime, 1.0)  # 2025: RSA recipients auto-registered
    pop = commune_population(code, base, 2021)
    return pop * rate * year * (1 + generate.rng("defm", code, millesime).gauss(0, 0.015))


def dares_rows(millesime: int) -> list[list[str]]:
    """Data rows of the DARES export of a millésime (T4), in file order."""
    qpv = qpv_communes()
    arr_total = {c: _defm_total(c, b, millesime, qpv) for c, _, b in ARRONDISSEMENTS_MARSEILLE}
    rows = []
    trimestre = f"{millesime}-T4"
    for code, name, base in dares_communes():
        total = sum(arr_total.values()) if code == "13055" else _defm_total(code, base, millesime, qpv)
        dep = departement_of(code)
        r = generate.rng("defm-split", code, millesime)
        for sexe, s_share in SEXES.items():
            s = s_share if sexe == "Total" else s_share * (1 + r.gauss(0, 0.02))
            for age, a_share in AGES.items():
                a = a_share if age == "Total" else a_share * (1 + r.gauss(0, 0.04))
                rows.append([trimestre, REGION[0], REGION[1], dep, DEPARTEMENTS[dep], code, name, "Brutes", "ABC",
                             sexe, age, str(round5(total * s * a))])
    # aggregate rows the export carries next to the communes: dropped by the parser
    rows.append([trimestre, REGION[0], REGION[1], "13", DEPARTEMENTS["13"], "Total", "Non localisés", "Brutes",
                 "ABC", "Total", "Total", str(round5(1200 * (1 + generate.rng("defm-nl", millesime).random())))])
    rows.append([trimestre, "", "", "", "", "Total", "Total France métropolitaine", "Brutes", "ABC", "Total",
                 "Total", str(round5(5_400_000 * (1 + generate.rng("defm-fr", millesime).gauss(0, 0.02))))])
    return rows


def write_dares(millesime: int) -> Path:
    dest = generate.HERE / "dares_defm_communes" / str(millesime) / DARES_FILE
    dest.parent.mkdir(parents=True, exist_ok=True)
    buf = io.StringIO(newline="")
    w = csv.writer(buf, delimiter=";", lineterminator="\r\n", quoting=csv.QUOTE_MINIMAL)
    w.writerow(DARES_HEADER)
    w.writerows(dares_rows(millesime))
    dest.write_bytes(buf.getvalue().encode("utf-8-sig"))
    return dest


# ===================================================================================================
# data.caf.fr s_ben_com_f (Opendatasoft export)
# ===================================================================================================

CAF_EXPORT = "https://data.caf.fr/api/explore/v2.1/catalog/datasets/s_ben_com_f/exports/csv"
CAF_FIELDS = ["dtreffre", "numcomdo", "nomcom", "indfoy_ndur", "indnbp_ndur", "indfoy_rsa", "indfoy_ppa",
              "indfoy_ndural", "indfoy_apl", "indfoy_als", "indfoy_alf"]
CAF_FILE = "s_ben_com_f.csv"


def caf_url(millesime: int) -> str:
    """Every December of every commune (no date filter: the type of ``dtreffre`` is not known, see the
    registry notes); the parser keeps the millésime's December."""
    return CAF_EXPORT + "?" + urlencode([("select", ",".join(CAF_FIELDS)), ("delimiter", ";")], safe=",")


def caf_communes() -> list[tuple[str, str, int]]:
    """The CAF publishes Marseille as its arrondissements only (no 13055 row)."""
    return [c for c in dares_communes() if c[0] != "13055"]


def caf_values(code: str, base: int, year: int, qpv: set[str]) -> dict[str, int | None]:
    r = generate.rng("caf", code)
    fragile = code in qpv or code in PLM_ARRONDISSEMENTS
    pop = commune_population(code, base, min(year, 2022))
    foyers = pop * (0.23 if fragile else 0.17) * (1 + r.gauss(0, 0.05)) * (1 + 0.01 * (year - 2022))
    foyers *= 1 + generate.rng("caf", code, year).gauss(0, 0.01)
    rsa_share = (0.17 if fragile else 0.07) * (1 + r.gauss(0, 0.1)) * (1 - 0.01 * (year - 2022))
    al = foyers * (0.45 if fragile else 0.33)
    values = {"indfoy_ndur": round5(foyers), "indnbp_ndur": round5(foyers * (2.35 + r.gauss(0, 0.1))),
              "indfoy_rsa": round5(foyers * rsa_share), "indfoy_ppa": round5(foyers * (0.22 + r.gauss(0, 0.02))),
              "indfoy_ndural": round5(al), "indfoy_apl": round5(al * 0.55), "indfoy_als": round5(al * 0.36),
              "indfoy_alf": round5(al * 0.09)}
    if pop < 300:  # « données floutées »: small counts withheld (blank cells)
        for k in ("indfoy_rsa", "indfoy_ppa", "indfoy_alf"):
            values[k] = None
    return values


def caf_years(millesime: int) -> list[int]:
    """The Decembers a recording holds: the live export holds every year since 2020; the recording keeps the
    millésime and the year before (the parser must keep only the millésime's)."""
    return [millesime - 1, millesime]


def caf_rows(millesime: int) -> list[list[str]]:
    qpv = qpv_communes()
    rows = []
    for year in caf_years(millesime):
        for code, name, base in caf_communes():
            v = caf_values(code, base, year, qpv)
            rows.append([f"{year}-12", code, name.upper()] + ["" if v[f] is None else str(v[f])
                                                                for f in CAF_FIELDS[3:]])
        # allocataires the CAF cannot place in a commune: empty numcomdo (dropped by the parser)
        nl = generate.rng("caf-nl", year)
        rows.append([f"{year}-12", "", ""] + [str(round5(nl.uniform(200, 2000))) for _ in CAF_FIELDS[3:]])
    return rows


def write_caf(millesime: int) -> Path:
    dest = generate.HERE / "caf_communes" / str(millesime) / CAF_FILE
    dest.parent.mkdir(parents=True, exist_ok=True)
    buf = io.StringIO(newline="")
    w = csv.writer(buf, delimiter=";", lineterminator="\r\n", quoting=csv.QUOTE_MINIMAL)
    w.writerow(CAF_FIELDS)
    w.writerows(caf_rows(millesime))
    dest.write_bytes(buf.getvalue().encode("utf-8-sig"))
    return dest


# ===================================================================================================

def write_all() -> list[Path]:
    written: list[Path] = []
    for source_id, (_, millesimes, _, _) in MELODI.items():
        for year in millesimes:
            pages = melodi_pages(source_id, year)
            for perimetre in OTHER_PERIMETRES:
                pages += melodi_pages(source_id, year, perimetre)
            written.append(write_cassette(generate.HERE / source_id / str(year), pages))
    for year in sorted(DPE_COUNTS):
        pages = dpe_pages(year)
        for perimetre in OTHER_PERIMETRES:
            pages += dpe_pages(year, perimetre)
        written.append(write_cassette(generate.HERE / "ademe_dpe_existant" / str(year), pages))
    for year in (2023, 2024, 2025):
        written.append(write_dares(year))
    for year in (2023, 2024):
        written.append(write_caf(year))
    return written
