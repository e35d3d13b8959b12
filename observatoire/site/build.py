"""Render the site's pages from :class:`observatoire.site.data.SiteData` (see ``observatoire.site``)."""

from __future__ import annotations

import json
import os
import shutil
import time
from collections import Counter
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from datetime import UTC, date, datetime
from pathlib import Path

import jinja2
from markupsafe import Markup

from observatoire.config import DEMO_NOTICE
from observatoire.site import charts, fmt, maps
from observatoire.site.data import SiteData, SiteDataError, load
from observatoire.site.errors import SITE_MARKER, SiteError
from observatoire.site.geo import class_of, quantile_breaks

HERE = Path(__file__).resolve().parent
TEMPLATES = HERE / "templates"
ASSETS = HERE / "assets"

#: the comparators of mart_derniere_valeur, in the order of the tables
COMPARATORS = [
    ("valeur_commune", "Commune"),
    ("valeur_commune_hors_qpv", "Commune hors QPV"),
    ("valeur_perimetre", None),  # the perimeter's label (« Métropole » by default)
    ("valeur_france", "France"),
]
#: the indicator shown on carte.html when nobody chose one
DEFAULT_MAP = ("taux_pauvrete", "revenu_median", "population")
EVOLUTION_2024 = {"N": "nouveau quartier en 2024", "M": "quartier de 2015 au contour modifié en 2024",
                  "I": "quartier de 2015 inchangé en 2024"}
ZONAGE_ARS = {"ZIP": "zone d'intervention prioritaire (ZIP)", "ZAC": "zone d'action complémentaire (ZAC)"}
#: the socle indicators repeated in a fiche's identity box
ESSENTIELS = ("population", "revenu_median", "taux_pauvrete")
SENS = {"hausse_favorable": "une hausse est favorable", "baisse_favorable": "une baisse est favorable",
        "neutre": "ni hausse ni baisse n'est favorable en soi (indicateur de contexte)"}
MODES = {"demo": "démonstration", "live": "production (données des producteurs)"}
#: a French label for the parts of a computed baromètre's ``source`` that are not a registry source with a
#: publisher (``election:<id_election>``, the election retained for the millésime), or whose registry title alone
#: would not say the observatory computed the value
COMPUTED_SOURCES = {
    "gtfs_amp": "Calcul de l'observatoire (GTFS des réseaux de transport en commun de la Métropole)",
    "osm_espaces_verts": "Calcul de l'observatoire (espaces verts OpenStreetMap, tampon de 400 m à vol d'oiseau)",
    "election": "Calcul de l'observatoire (résultats par bureau de vote affectés aux QPV), élection retenue",
    "anct_qpv_contours": "ANCT — contours des quartiers prioritaires (géographie 2024)",
}
#: where a source's file came from (meta.manifest.url_origin), in French
ORIGINES = {"recording": "enregistrement du projet (démonstration)", "override": "fichier déposé localement",
            "registry": "site du producteur", "live": "site du producteur",
            "repair": "fichier reconstitué par une réparation"}


def build(db: Path, out: Path, *, log: Callable[[str], None] | None = None) -> dict:
    started = time.monotonic()
    say = log or (lambda _msg: None)
    if not db.is_file():
        raise SiteError(f"{db} does not exist: nothing is published there (run `observatoire run` first)")
    out = out.absolute()
    if out.exists() and not (out.is_dir() and (out / SITE_MARKER).is_file()):
        raise SiteError(f"{out} exists and is not a site built by the observatory (no {SITE_MARKER}): "
                        "choose an empty or new directory")
    out.parent.mkdir(parents=True, exist_ok=True)
    tmp = out.parent / f".{out.name}.{os.getpid()}.tmp"
    shutil.rmtree(tmp, ignore_errors=True)
    try:
        try:
            data = load(db)
        except SiteDataError as err:
            raise SiteError(f"{db}: {err}") from None
        say(f"site: read {db} (publication {data.version}, {len(data.qpv)} QPV, {len(data.indicateurs)} "
            f"indicateurs{', ' + '; '.join(data.derived) if data.derived else ''})")
        stats = Renderer(data, tmp, say).render_all()
        files = [p for p in tmp.rglob("*") if p.is_file()]
        manifest = {
            "version": data.version,
            "mode": data.publication.get("mode"),
            "donnees_demonstration": data.demo,
            "publication": {k: data.publication.get(k) for k in ("run_id", "published_at", "perimetre")},
            "construit_le": datetime.now(UTC).isoformat(timespec="seconds"),
            "pages": stats["pages"],
            "graphiques": stats["charts"],
            "cartes": stats["maps"],
        }
        (tmp / SITE_MARKER).write_text(json.dumps(manifest, indent=2, ensure_ascii=False) + "\n", "utf-8")
        nbytes = sum(p.stat().st_size for p in files) + (tmp / SITE_MARKER).stat().st_size
        if out.exists():
            old = out.parent / f".{out.name}.{os.getpid()}.old.tmp"
            shutil.rmtree(old, ignore_errors=True)
            os.replace(out, old)
            os.replace(tmp, out)
            shutil.rmtree(old, ignore_errors=True)
        else:
            os.replace(tmp, out)
    except SiteError:
        shutil.rmtree(tmp, ignore_errors=True)
        raise
    except Exception as err:
        shutil.rmtree(tmp, ignore_errors=True)
        raise SiteError(f"site not built from {db}: {err.__class__.__name__}: {err}") from err
    seconds = round(time.monotonic() - started, 2)
    say(f"site: {stats['pages']} pages, {stats['charts']} charts, {stats['maps']} maps in {seconds} s → {out}")
    return {"path": str(out), "index": str(out / "index.html"), "version": data.version,
            "mode": data.publication.get("mode"), "pages": stats["pages"], "files": len(files) + 1,
            "bytes": nbytes, "seconds": seconds}


class Renderer:
    def __init__(self, data: SiteData, out: Path, say: Callable[[str], None]):
        self.d = data
        self.out = out
        self.say = say
        self.pages = 0
        self.n_charts = 0
        self.n_maps = 0
        self.env = jinja2.Environment(loader=jinja2.FileSystemLoader(str(TEMPLATES)), autoescape=True,
                                      trim_blocks=True, lstrip_blocks=True, undefined=jinja2.StrictUndefined)
        self.env.filters.update(
            date=fmt.fmt_date, datetime=fmt.fmt_datetime, statut=fmt.statut_label, number=fmt.fmt_number,
            unit_title=fmt.unit_title)
        self.env.globals.update(fv=self.fv, fev=self.fev, motif=fmt.motif_text, missing=fmt.MISSING)
        self.qpv_by_code = data.qpv_by_code()
        self.defi_by_id = {d["defi"]: d for d in data.defis}
        self.labels = {q["code_qpv"]: f"{q['libelle_qpv']} ({q['libelle_commune']})" for q in data.qpv}
        self.perimeter_frame = None
        self._zoom = None
        self.index = None
        bounds = maps.perimeter_bounds(data.contours)
        if bounds:
            import shapely

            self.index = shapely.STRtree(list(data.contours.values()))
            self.perimeter_frame = maps.Frame(data.contours, bounds, width=860, index=self.index)
            outside = len(data.contours) - len(self.perimeter_frame.paths)
            self.off_map = outside if outside > 0 else 0
        else:
            self.off_map = 0
        self.common = {
            "demo": data.demo,
            "demo_notice": DEMO_NOTICE,
            "publication": data.publication,
            "version": data.version,
            "mode_label": MODES.get(str(data.publication.get("mode")), str(data.publication.get("mode") or "?")),
            "published": fmt.fmt_datetime(data.publication.get("published_at")),
            "perimetre_label": data.perimetre_label,
            "perimetre_article": "la Métropole" if data.perimetre_label == "Métropole" else f"le périmètre ({data.perimetre_label})",
            "perimetre_name": data.perimetre_name,
            "perimetre_code": data.perimetre,
            "defis": data.defis,
            "n_qpv": len(data.qpv),
            "off_map": self.off_map,
        }

    # -- formatting helpers given to the templates --------------------------------------------------
    @staticmethod
    def fv(value, ind: dict | None = None, unite: str | None = None) -> str:
        if ind is not None:
            return fmt.fmt_value(value, ind.get("unite"), ind.get("decimales"))
        return fmt.fmt_value(value, unite)

    @staticmethod
    def fev(value, ind: dict) -> str:
        return fmt.fmt_evolution(value, ind.get("unite"), ind.get("decimales"))

    # -- pages ----------------------------------------------------------------------------------------
    def page(self, template: str, path: str, **ctx) -> None:
        depth = path.count("/")
        html = self.env.get_template(template).render(root="../" * depth, page_path=path, **self.common, **ctx)
        dest = self.out / path
        dest.parent.mkdir(parents=True, exist_ok=True)
        dest.write_text(html, encoding="utf-8")
        self.pages += 1

    def render_all(self) -> dict:
        self.out.mkdir(parents=True)
        (self.out / "assets").mkdir()
        for asset in ASSETS.iterdir():
            if asset.is_file():
                shutil.copyfile(asset, self.out / "assets" / asset.name)
        defi_sections = self.defi_sections()
        map_pages = self.map_pages()
        for n, defi in enumerate(self.d.defis):
            self.page("defi.html", f"defi/{defi['defi']}.html", title=f"Défi n° {defi['numero_defi']}",
                      defi=defi, sections=defi_sections[defi["defi"]],
                      previous=self.d.defis[n - 1] if n > 0 else None,
                      next=self.d.defis[n + 1] if n + 1 < len(self.d.defis) else None, current="defis")
        for n, q in enumerate(self.d.qpv):
            self.page("qpv.html", f"qpv/{q['code_qpv']}.html", title=q["libelle_qpv"], current="quartiers",
                      **self.qpv_context(q, n))
        index: list[tuple[str, list[dict]]] = []
        for item in map_pages:
            if not index or index[-1][0] != item["groupe"]:
                index.append((item["groupe"], []))
            index[-1][1].append(item)
        for item in map_pages:
            if item.get("svg"):
                self.page("carte_indicateur.html", f"carte/{item['indicateur']}.html",
                          title=f"Carte : {item['libelle']}", item=item, index=index, current="carte",
                          svgs=self.map_svgs(item, "../"))
        default = next((m for code in DEFAULT_MAP for m in map_pages if m["indicateur"] == code and m.get("svg")),
                       next((m for m in map_pages if m.get("svg")), None))
        self.page("carte.html", "carte.html", title="Carte des quartiers", index=index, item=default,
                  current="carte", has_contours=self.perimeter_frame is not None,
                  svgs=self.map_svgs(default, "") if default else None)
        self.page("index.html", "index.html", title="Accueil", current="accueil", **self.home_context())
        return {"pages": self.pages, "charts": self.n_charts, "maps": self.n_maps}

    # -- home -------------------------------------------------------------------------------------------
    def home_context(self) -> dict:
        d = self.d
        communes: dict[str, list[dict]] = {}
        for q in d.qpv:
            communes.setdefault(q["libelle_commune"], []).append(q)
        defis = []
        for defi in d.defis:
            inds = d.indicateurs_of(defi["defi"])
            with_values = sum(1 for i in inds if any(r.get("valeur") is not None for r in d.values_of(i["indicateur"])))
            defis.append({**defi, "n_barometres": len(inds), "n_avec_valeurs": with_values})
        chiffres = []
        for c in d.chiffres:
            unite = c.get("unite")
            chiffres.append({**c, "valeur_txt": fmt.fmt_value(c.get("valeur"), unite),
                             "nombre_txt": fmt.fmt_number(c.get("valeur"), fmt.decimals_for(unite)),
                             "unite_txt": fmt.unit_suffix(unite),
                             "contrat_txt": fmt.fmt_value(c.get("valeur_contrat"), unite),
                             "ecart_txt": fmt.fmt_evolution(c.get("ecart_contrat"), unite)})
        today = _publication_date(d.publication.get("published_at"))
        sources = []
        for s in d.sources:
            due = _due(s.get("prochaine_publication"))
            sources.append({**s, "en_retard": bool(due and today and due < today),
                            "origine_txt": [ORIGINES.get(o, o) for o in s.get("origine") or [] if o != "registry"]})
        territoires = []
        for t in d.territoires:
            vals = [v for v in d.territoire_valeurs if v.get("territoire") == t["territoire"]]
            for v in vals:
                ind = d.indicateurs.get(v["indicateur"])
                v["libelle"] = ind["libelle"] if ind else v["indicateur"].replace("_", " ").capitalize()
                v["valeur_txt"] = fmt.fmt_value(v.get("valeur"), ind.get("unite") if ind else "nombre",
                                                ind.get("decimales") if ind else None)
            territoires.append({**t, "valeurs": vals})
        return {"communes": sorted(communes.items(), key=lambda kv: (-len(kv[1]), kv[0])),
                "defis_home": defis, "chiffres": chiffres, "sources": sources,
                "sources_attendues": d.sources_attendues, "territoires": territoires, "ruptures": d.ruptures,
                "statuts": fmt.STATUTS, "n_indicateurs": len(d.indicateurs),
                "git_commit": (d.publication.get("git_commit") or "")[:12]}

    # -- défis ------------------------------------------------------------------------------------------
    def describe(self, ind: dict, rows: list[dict]) -> dict:
        """What a page says about one indicator's latest values over the QPV."""
        missing = Counter(r.get("statut") for r in rows if r.get("valeur") is None)
        motifs = Counter((r.get("statut"), fmt.motif_text(r.get("statut"), r.get("motif")))
                         for r in rows if r.get("valeur") is None)
        millesimes = sorted({r["millesime"] for r in rows if r.get("millesime") is not None})
        with_value = Counter(r["millesime"] for r in rows if r.get("valeur") is not None and r.get("millesime"))
        if with_value:
            main, _n = max(with_value.items(), key=lambda kv: (kv[1], kv[0]))
            others = sorted(((m, n) for m, n in with_value.items() if m != main), reverse=True)
            millesime_text = str(main) + (" (" + " ; ".join(
                f"{m} pour {n} quartier{'s' if n > 1 else ''}" for m, n in others) + ", dernier millésime publié)"
                if others else "")
        else:
            millesime_text = ", ".join(map(str, millesimes)) or "aucun"
        prochaines = Counter(r.get("prochaine_publication") for r in rows if r.get("prochaine_publication"))
        refs = sorted({r["millesime_reference"] for r in rows if r.get("millesime_reference") is not None})
        comparators = [(col, label or self.d.perimetre_label) for col, label in COMPARATORS
                       if any(r.get(col) is not None for r in rows)]
        return {
            "ind": ind,
            "rows": rows,
            "n_values": sum(1 for r in rows if r.get("valeur") is not None),
            "missing": [(fmt.statut_label(s), n) for s, n in missing.most_common()],
            "motifs": [(fmt.statut_label(s), m, n) for (s, m), n in motifs.most_common()],
            "millesimes": millesimes,
            "millesime_text": millesime_text,
            "references": refs,
            "prochaine": prochaines.most_common(1)[0][0] if prochaines else None,
            "sens": SENS.get(ind.get("sens") or ""),
            "comparators": comparators,
            "sources": self.source_labels(ind.get("source"), rows),
            "url_source": ind.get("url_source") if str(ind.get("url_source") or "").startswith("http") else None,
            "is_count": ind.get("agregation") == "somme",
            "rupture": any(r.get("rupture_serie") for r in rows),
            "chart": None,
            "legend": [],
        }

    def source_labels(self, catalogue_source: str | None, rows: list[dict]) -> list[str]:
        names = {**self.d.source_names, **{s["source_id"]: s for s in self.d.sources}}
        used = Counter(r.get("source") for r in rows if r.get("source"))
        text = used.most_common(1)[0][0] if used else (catalogue_source or "")
        out = []
        for part in str(text).split("|"):
            sid, _, millesime = part.partition(":")
            if not sid:
                continue
            if sid == "partenaires":
                out.append("Partenaires du contrat" + (f" ({millesime})" if millesime else ""))
                continue
            src = names.get(sid)
            if src is None and sid in COMPUTED_SOURCES:
                label = COMPUTED_SOURCES[sid]
            else:
                label = f"{src['editeur']} — {src['titre']}" if src and src.get("editeur") else (src or {}).get(
                    "titre", COMPUTED_SOURCES.get(sid, sid))
            if sid == "election":  # its "millésime" is the election's id (2024_legi_t1)
                out.append(f"{label} : {millesime}")
                continue
            out.append(label + (f", millésime {millesime}" if millesime else ""))
        return out

    def defi_sections(self) -> dict[str, list[dict]]:
        labels = charts.labels_for(self.d.qpv)
        sections: dict[str, list[dict]] = {}
        jobs = []
        for defi in self.d.defis:
            items = []
            for ind in self.d.indicateurs_of(defi["defi"]):
                rows = self.d.values_of(ind["indicateur"])
                item = self.describe(ind, rows)
                item["anchor"] = ind["indicateur"]
                if item["n_values"]:
                    comparators = not item["is_count"]
                    desc = (f"Graphique en barres : {item['n_values']} quartiers sur {len(rows)} ont une valeur"
                            f" ({ind['libelle']}, {fmt.unit_title(ind.get('unite'))}), du plus élevé au plus bas"
                            + ("; ronds : valeur de la commune du quartier, losanges : commune hors QPV ; lignes "
                               f"verticales : {self.d.perimetre_label} et France quand elles sont publiées"
                               if comparators else "") + ". Les valeurs sont dans le tableau qui suit.")
                    spec = charts.barometre_spec(rows, labels, unite=ind.get("unite"), decimales=ind.get("decimales"),
                                                 perimetre_label=self.d.perimetre_label,
                                                 with_comparators=comparators, description=desc)
                    item["legend"] = spec["usermeta"]["legend"]
                    jobs.append((item, spec, desc))
                items.append(item)
            sections[defi["defi"]] = items
        if jobs:
            workers = max(1, min(4, os.cpu_count() or 1))
            with ThreadPoolExecutor(workers) as pool:
                svgs = list(pool.map(charts.render_svg, [spec for _item, spec, _desc in jobs]))
            for (item, _spec, desc), svg in zip(jobs, svgs, strict=True):
                item["chart"] = Markup(charts.inline_svg(svg, f"g-{item['anchor']}", item["ind"]["libelle"], desc))
                self.n_charts += 1
        return sections

    # -- fiches -----------------------------------------------------------------------------------------
    def qpv_context(self, q: dict, n: int) -> dict:
        d = self.d
        code = q["code_qpv"]
        groups = [{"defi": None, "titre": "Socle : portrait du quartier", "anchor": "socle",
                   "rows": self.fiche_rows(code, d.indicateurs_of(None))}]
        for defi in d.defis:
            groups.append({"defi": defi, "titre": f"Défi n° {defi['numero_defi']} : {defi['libelle_defi']}",
                           "anchor": f"defi-{defi['defi']}", "rows": self.fiche_rows(code, d.indicateurs_of(defi["defi"]))})
        communes = d.qpv_communes.get(code) or [{"code_commune": q["code_commune"],
                                                 "libelle_commune": q["libelle_commune"],
                                                 "est_commune_principale": True}]
        territoires = [t for t in d.territoires if t.get("code_commune") in {c["code_commune"] for c in communes}]
        siblings = [o for o in d.qpv if o["code_commune"] == q["code_commune"] and o["code_qpv"] != code]
        map_svg = locator = None
        if code in d.contours:
            lon0, lat0, lon1, lat1 = d.contours[code].bounds
            dx, dy = max((lon1 - lon0) * 0.35, 0.004), max((lat1 - lat0) * 0.35, 0.003)
            frame = maps.Frame(d.contours, (lon0 - dx, lat0 - dy, lon1 + dx, lat1 + dy), width=560, height=400,
                               tolerance=0.2, index=self.index)
            neighbours = len(frame.paths) - 1
            map_svg = Markup(maps.qpv_svg(
                frame, code, "m", f"Carte du quartier {q['libelle_qpv']}",
                f"Contour du quartier prioritaire {q['libelle_qpv']} ({q['libelle_commune']}), en bleu"
                + (f", et des {neighbours} autres quartiers prioritaires voisins, en gris" if neighbours > 1 else
                   ", et du quartier prioritaire voisin, en gris" if neighbours == 1 else "")
                + ". Échelle en bas à gauche.", self.labels))
            if self.perimeter_frame is not None:
                locator = Markup(maps.locator_svg(
                    self.perimeter_frame, code, "s", f"Situation de {q['libelle_qpv']} dans le périmètre",
                    f"Les {len(d.qpv)} quartiers du périmètre en points gris ; {q['libelle_qpv']} en rouge, cerclé."))
            self.n_maps += 1
        socle = {row["ind"]["indicateur"]: row for row in groups[0]["rows"]}
        essentiels = [socle[i] for i in ESSENTIELS if i in socle]
        return {"q": q, "groups": groups, "essentiels": essentiels, "communes": communes, "territoires": territoires, "siblings": siblings,
                "map_svg": map_svg, "locator": locator,
                "evolution_2024": EVOLUTION_2024.get(q.get("type_evolution_2024") or "", q.get("type_evolution_2024")),
                "zonage_ars": ZONAGE_ARS.get(q.get("zonage_ars_medecins") or "", q.get("zonage_ars_medecins")),
                "previous": d.qpv[n - 1] if n > 0 else None, "next": d.qpv[n + 1] if n + 1 < len(d.qpv) else None,
                "comparator_titles": [label or d.perimetre_label for _col, label in COMPARATORS],
                "comparator_cols": [col for col, _label in COMPARATORS]}

    def fiche_rows(self, code: str, inds: list[dict]) -> list[dict]:
        out = []
        for ind in inds:
            row = self.d.latest.get((code, ind["indicateur"]))
            if row is None:
                row = {"valeur": None, "statut": None, "motif": "Aucune ligne publiée pour ce quartier.",
                       "millesime": None, "millesime_reference": None, "valeur_reference": None,
                       "statut_reference": None, "motif_reference": None,
                       "evolution_reference": None, "rupture_serie": False, "note_rupture": None}
                for col, _label in COMPARATORS:
                    row[col] = None
            out.append({"ind": ind, "r": row})
        return out

    # -- maps -------------------------------------------------------------------------------------------
    def map_pages(self) -> list[dict]:
        """One entry per indicator: its map (when it has values and contours exist), legend and table."""
        d = self.d
        frame = self.perimeter_frame
        zoom = self._zoom = self.zoom_frame()
        items = []
        groups = [(None, "Socle : portrait des quartiers")] + [
            (defi["defi"], f"Défi n° {defi['numero_defi']} : {defi['libelle_defi']}") for defi in d.defis]
        for defi, group_title in groups:
            for ind in d.indicateurs_of(defi):
                rows = d.values_of(ind["indicateur"])
                item = self.describe(ind, rows)
                item.update(indicateur=ind["indicateur"], libelle=ind["libelle"], groupe=group_title, svg=None,
                            zoom_svg=None)
                values = [r["valeur"] for r in rows if r.get("valeur") is not None]
                item["raison"] = ("contours absents de la publication" if values else
                                  (item["missing"][0][0].lower() if item["missing"] else "aucune valeur"))
                if values and frame is not None:
                    decimals = fmt.decimals_for(ind.get("unite"), ind.get("decimales"))
                    breaks = quantile_breaks(values, 5, decimals)
                    classes = maps.legend_classes(breaks, ind.get("unite"), ind.get("decimales"))
                    fills, tips = {}, {}
                    counts = Counter()
                    for r in rows:
                        c = r["code_qpv"]
                        if r.get("valeur") is not None:
                            k = class_of(r["valeur"], breaks)
                            fills[c] = classes[k]["color"]
                            counts[k] += 1
                            tips[c] = f"{self.labels[c]} : {self.fv(r['valeur'], ind)}"
                        else:
                            tips[c] = f"{self.labels[c]} : {fmt.statut_label(r.get('statut'))}"
                    for k in classes:
                        k["count"] = counts[k["index"]]
                    item["classes"] = classes
                    item["fills"] = fills
                    title = f"Carte : {ind['libelle']}, millésime {item['millesime_text']}"
                    desc = (f"Les {len(d.qpv)} quartiers prioritaires du périmètre colorés selon {ind['libelle'].lower()}"
                            f" en {len(classes)} classes (plus la couleur est foncée, plus la valeur est élevée) ;"
                            " hachurés : pas de valeur. Les valeurs sont dans le tableau sous la carte.")
                    item["map_title"], item["map_desc"] = title, desc
                    item["tips"] = tips
                    item["svg"] = True
                    item["zoom_commune"] = zoom["commune"] if zoom else None
                    self.n_maps += 1 + (zoom is not None)
                items.append(item)
        return items

    def map_svgs(self, item: dict, prefix: str) -> dict:
        """The choropleth of a map page (and its zoom), with links to the fiches relative to ``prefix``."""
        links = {c: f"{prefix}qpv/{c}.html" for c in self.qpv_by_code}
        ind = item["indicateur"]
        out = {"main": Markup(maps.choropleth_svg(self.perimeter_frame, f"c-{ind}", item["map_title"],
                                                  item["map_desc"], item["fills"], item["tips"], links)),
               "zoom": None}
        if self._zoom is not None:
            commune = self._zoom["commune"]
            out["zoom"] = Markup(maps.choropleth_svg(
                self._zoom["frame"], f"z-{ind}", f"{item['map_title']} — zoom sur {commune}",
                item["map_desc"].replace("du périmètre", f"de {commune} et alentour"), item["fills"], item["tips"],
                links))
        return out

    def zoom_frame(self) -> dict | None:
        """A second map on the commune with the most QPV when they crowd (Marseille: 41 of 66)."""
        d = self.d
        if self.perimeter_frame is None:
            return None
        counts = Counter(q["code_commune"] for q in d.qpv if q["code_qpv"] in d.contours)
        if not counts:
            return None
        commune, n = counts.most_common(1)[0]
        if n < 8 or n == len(d.contours):
            return None
        codes = {q["code_qpv"] for q in d.qpv if q["code_commune"] == commune}
        bounds = maps.perimeter_bounds(d.contours, codes)
        name = next(q["libelle_commune"] for q in d.qpv if q["code_commune"] == commune)
        return {"frame": maps.Frame(d.contours, bounds, width=860, height=640, index=self.index), "commune": name}


def _publication_date(value) -> date | None:
    try:
        return datetime.fromisoformat(str(value)).date()
    except (TypeError, ValueError):
        return None


def _due(value) -> date | None:
    """``2026-12`` → the end of that month; ``2027`` → the end of that year; else None."""
    text = str(value or "").strip()
    try:
        if len(text) == 4 and text.isdigit():
            return date(int(text), 12, 31)
        if len(text) == 7 and text[4] == "-":
            y, m = int(text[:4]), int(text[5:])
            return date(y + (m == 12), m % 12 + 1, 1)
        if len(text) >= 10:
            return date.fromisoformat(text[:10])
    except ValueError:
        return None
    return None
