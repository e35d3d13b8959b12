"""The static site (issue 19): written by every publication into warehouse/site/<version>/ (``current``
switched with the published file), by ``build_site`` and by ``observatoire site``; opened in a real headless
Chromium from file:// with no request outside the site's own files and no console error."""

from __future__ import annotations

import os
import re
import shutil
from html.parser import HTMLParser
from pathlib import Path

import duckdb
import pytest
from click.testing import CliRunner

from observatoire.config import DEMO_NOTICE, load_settings
from observatoire.site import SiteError, build_site, fmt

CHROMIUM = Path("/usr/bin/chromium")
ON_CI = bool(os.environ.get("CI"))


def _published(data: Path) -> Path:
    return data / "warehouse" / "observatoire.duckdb"


def _query(db: Path, sql: str, params: list | None = None) -> list[tuple]:
    con = duckdb.connect(str(db), read_only=True)
    try:
        return con.execute(sql, params or []).fetchall()
    finally:
        con.close()


@pytest.fixture(scope="module")
def demo_site(published_demo) -> Path:
    """The site the demo publication wrote: warehouse/site/current."""
    return published_demo / "warehouse" / "site" / "current"


# -- publication and API -------------------------------------------------------------------------------

def test_publication_switches_site_current_to_the_published_version(published_demo, demo_site):
    version = _query(_published(published_demo), "SELECT version FROM meta.publication")[0][0]
    assert demo_site.is_symlink() and os.readlink(demo_site) == version
    assert (demo_site / "index.html").is_file() and (demo_site / "site.json").is_file()
    assert f'"version": "{version}"' in (demo_site / "site.json").read_text(encoding="utf-8")
    assert os.readlink(published_demo / "warehouse" / "parquet" / "current") == version  # switched together
    assert not list((published_demo / "warehouse" / "site").glob(".*.tmp"))


def test_site_pages_links_and_offline_rules(published_demo, demo_site):
    db = _published(published_demo)
    defis = [r[0] for r in _query(db, "SELECT defi FROM dim_defi ORDER BY numero_defi")]
    codes = {r[0] for r in _query(db, "SELECT code_qpv FROM dim_qpv")}
    pages = {p.relative_to(demo_site).as_posix() for p in demo_site.rglob("*.html")}
    assert {"index.html", "carte.html"} | {f"defi/{d}.html" for d in defis} | {f"qpv/{c}.html" for c in codes} <= pages
    assert any(p.startswith("carte/") for p in pages)

    home = (demo_site / "index.html").read_text(encoding="utf-8")
    # the défis in the contract's order (numero_defi), never alphabetical
    assert re.findall(r'href="defi/([a-z_]+)\.html"', home) == defis
    # the banner of a demo publication; every QPV linked from the home
    assert DEMO_NOTICE in home.lower()
    assert {m for m in re.findall(r'href="qpv/([A-Z0-9]+)\.html"', home)} == codes

    css = (demo_site / "assets" / "site.css").read_text(encoding="utf-8")
    assert "url(" not in css and "@import" not in css and "@font-face" not in css

    for page in sorted(pages):
        html = (demo_site / page).read_text(encoding="utf-8")
        parsed = _Page.parse(html)
        assert parsed.lang == "fr", page
        assert parsed.h1 == 1, page
        assert parsed.heading_jumps == [], f"{page}: headings skip a level {parsed.heading_jumps}"
        assert parsed.loads == [], f"{page} loads {parsed.loads}"  # nothing loaded but the site's own files
        for ref in parsed.local_refs:
            target = (demo_site / page).parent / ref.split("#")[0]
            assert target.resolve().is_file(), f"{page}: broken link {ref}"
        assert all(not href.startswith(("file:", "//")) for href in parsed.external), page
        assert parsed.svg_ok, f"{page}: an <svg> without role=img and <title>"
        assert parsed.tables == parsed.captions, f"{page}: a table without caption"
        assert parsed.empty_cells == 0, f"{page}: a blank table cell"
        assert parsed.duplicate_attributes == [], f"{page}: {parsed.duplicate_attributes[:3]}"


def test_build_site_is_whole_or_absent_and_refuses_a_foreign_directory(published_demo, tmp_path):
    db = _published(published_demo)
    out = tmp_path / "edition" / "site"
    result = build_site(db, out)
    assert result["index"] == str(out / "index.html") and Path(result["index"]).is_file()
    assert result["pages"] >= 1 + 10 + 66 + 1 and result["mode"] == "demo"
    assert result["seconds"] < 60
    again = build_site(db, out)  # a site written earlier is replaced
    assert again["version"] == result["version"] and not list(out.parent.glob(".*.tmp"))
    foreign = tmp_path / "documents"
    foreign.mkdir()
    (foreign / "rapport.odt").write_text("x")
    with pytest.raises(SiteError, match="not a site"):
        build_site(db, foreign)
    assert (foreign / "rapport.odt").exists()
    with pytest.raises(SiteError, match="does not exist"):
        build_site(tmp_path / "absent.duckdb", tmp_path / "s")
    assert not (tmp_path / "s").exists()


def test_cli_site_writes_the_published_site_and_refuses_an_empty_directory(demo_copy, tmp_path, monkeypatch):
    from observatoire.cli_site import site

    version = _query(_published(demo_copy), "SELECT version FROM meta.publication")[0][0]
    shutil.rmtree(demo_copy / "warehouse" / "site")  # a publication from before the site existed
    res = CliRunner().invoke(site, [])
    assert res.exit_code == 0, res.output
    index = demo_copy / "warehouse" / "site" / version / "index.html"
    assert res.stdout.strip().splitlines()[-1] == str(index) and index.is_file()
    assert os.readlink(demo_copy / "warehouse" / "site" / "current") == version
    res = CliRunner().invoke(site, ["--out", str(tmp_path / "intranet")])
    assert res.exit_code == 0 and (tmp_path / "intranet" / "index.html").is_file()
    monkeypatch.setenv("OBSERVATOIRE_DATA_DIR", str(tmp_path / "vide"))
    res = CliRunner().invoke(site, [])
    assert res.exit_code == 1 and "nothing is published" in res.output


def test_a_site_that_cannot_be_built_fails_the_publication_and_switches_nothing(demo_copy, monkeypatch):
    """publish() on the run's build warehouse: the site fails, the published file, both ``current`` links and
    the Parquet versions are as before, no temporary file is left."""
    import observatoire.site
    from observatoire.errors import PipelineError
    from observatoire.warehouse import publish

    settings = load_settings()
    wh = settings.warehouse_dir
    before = _published(demo_copy).read_bytes()
    links = {d: os.readlink(wh / d / "current") for d in ("parquet", "site")}
    listing = {d: sorted(os.listdir(wh / d)) for d in ("parquet", "site")}

    def broken(db, out, **_kw):
        raise observatoire.site.SiteError("template missing (test)")

    working = observatoire.site.build_site
    monkeypatch.setattr(observatoire.site, "build_site", broken)
    with pytest.raises(PipelineError, match="site could not be built.*template missing") as err:
        publish(settings, version="20991231T000000Z-abcdef", publication={"mode": "demo"}, meta_tables={})
    assert err.value.stage == "publish"
    assert _published(demo_copy).read_bytes() == before
    assert {d: os.readlink(wh / d / "current") for d in ("parquet", "site")} == links
    assert {d: sorted(os.listdir(wh / d)) for d in ("parquet", "site")} == listing
    assert not list(wh.glob(".observatoire.*")) and not list(wh.rglob(".*.tmp"))

    monkeypatch.setattr(observatoire.site, "build_site", working)
    out = publish(settings, version="20991231T000001Z-abcdef", publication={"mode": "demo"}, meta_tables={})
    assert os.readlink(wh / "site" / "current") == "20991231T000001Z-abcdef" == os.readlink(wh / "parquet" / "current")
    assert Path(out["site"], "index.html").is_file() and out["site_seconds"] < 60


# -- in a real browser ------------------------------------------------------------------------------------

def _browser():
    """Playwright's sync API and the path of Debian's chromium; on CI both must exist (fail, never skip)."""
    try:
        from playwright.sync_api import sync_playwright
    except ImportError:
        sync_playwright = None
    missing = [what for what, ok in (("playwright", sync_playwright is not None),
                                     (str(CHROMIUM), CHROMIUM.exists())) if not ok]
    if missing:
        message = f"the browser test needs {' and '.join(missing)} (CI installs Debian's chromium)"
        if ON_CI:
            pytest.fail(message)
        if len(missing) == 2:
            pytest.skip(message)
        pytest.fail(message)
    return sync_playwright


def test_site_in_headless_chromium(published_demo, demo_site, tmp_path):
    sync_playwright = _browser()
    root = demo_site.resolve()
    root_url = root.as_uri() + "/"
    db = _published(published_demo)
    defis = [r[0] for r in _query(db, "SELECT defi FROM dim_defi ORDER BY numero_defi")]
    with_value = _query(db, "SELECT d.code_qpv, d.valeur, i.unite, i.decimales FROM mart_derniere_valeur d "
                            "JOIN dim_indicateur i USING (indicateur) WHERE d.indicateur = 'population' "
                            "AND d.valeur IS NOT NULL ORDER BY d.code_qpv LIMIT 1")[0]
    missing = _query(db, "SELECT code_qpv, indicateur, statut, motif FROM mart_derniere_valeur "
                         "WHERE valeur IS NULL AND statut = 'secret_statistique' AND code_qpv <> ? "
                         "ORDER BY code_qpv, indicateur LIMIT 1", [with_value[0]])[0]
    first_map = sorted((root / "carte").glob("*.html"))[0].relative_to(root).as_posix()
    # one chart per baromètre with a value (its QPV as bars)
    charts = dict(_query(db, "SELECT i.defi, count(DISTINCT m.indicateur) FROM mart_derniere_valeur m JOIN "
                             "dim_indicateur i USING (indicateur) WHERE m.valeur IS NOT NULL AND i.defi IS NOT NULL "
                             "AND i.categorie <> 'socle' GROUP BY i.defi"))
    assert sum(charts.values()) >= 1
    pages = (["index.html"] + [f"defi/{d}.html" for d in defis]
             + [f"qpv/{with_value[0]}.html", f"qpv/{missing[0]}.html", "carte.html", first_map])

    requests, problems = [], []
    shots = tmp_path / "captures"
    shots.mkdir()
    with sync_playwright() as p:
        browser = p.chromium.launch(executable_path=str(CHROMIUM), args=[
            "--headless", "--no-sandbox", "--disable-gpu", "--disable-background-networking"])
        try:
            page = browser.new_page(viewport={"width": 1200, "height": 900})
            page.on("request", lambda r: requests.append(r.url))
            page.on("console", lambda m: problems.append(f"console {m.type}: {m.text}")
                    if m.type in ("error", "warning") else None)
            page.on("pageerror", lambda e: problems.append(f"page error: {e}"))
            page.on("requestfailed", lambda r: problems.append(f"failed request: {r.url}"))
            for path in pages:
                response = page.goto(root_url + path)
                assert response is None or response.ok, path
                assert page.locator("html").get_attribute("lang") == "fr"
                assert page.locator("a.skip[href='#contenu']").count() == 1
                page.screenshot(path=str(shots / (path.replace("/", "_").replace(".html", ".png"))))
                if path == "index.html":
                    assert page.locator(".demo").first.is_visible()
                    hrefs = page.locator("ol.defis a").evaluate_all("els => els.map(e => e.getAttribute('href'))")
                    assert hrefs == [f"defi/{d}.html" for d in defis]
                    page.locator("a.skip").focus()
                    assert page.locator("a.skip").is_visible()  # shown when focused
                if path == f"qpv/{with_value[0]}.html":
                    code, valeur, unite, decimales = with_value
                    cell = page.locator("td[data-indicateur='population']")
                    assert float(cell.get_attribute("data-valeur")) == valeur
                    assert cell.text_content() == fmt.fmt_value(valeur, unite, decimales)
                    assert page.locator("svg.carte-qpv[role='img'] > title").count() == 1
                if path == f"qpv/{missing[0]}.html":
                    _code, indicateur, statut, motif = missing
                    cell = page.locator(f"td[data-indicateur='{indicateur}']")
                    assert cell.get_attribute("data-statut") == statut
                    assert cell.locator(".statut").text_content() == fmt.statut_label(statut)
                    assert cell.locator(".motif").text_content() == motif
                if path.startswith("defi/"):
                    assert page.locator("h1").count() == 1 and page.locator("section.barometre h2").count() >= 2
                    defi = path.removeprefix("defi/").removesuffix(".html")
                    svgs = page.locator("svg.chart").all()
                    assert len(svgs) == charts.get(defi, 0), path
                    for svg in svgs:
                        assert svg.get_attribute("role") == "img" and svg.locator("title").count() == 1
                        # the site's style sheet applies (one class attribute: the browser keeps the first)
                        assert svg.evaluate("e => getComputedStyle(e).display") == "block"
                        assert "marks" in svg.get_attribute("class").split()
                if path.startswith("carte"):
                    assert page.locator("svg.carte[role='img']").count() >= 1
                    assert page.locator("ul.legende li").count() >= 2
            # text that survives a 200 % zoom: the root font size follows the browser's, sizes are in rem
            page.goto(root_url + "index.html")
            page.evaluate("document.documentElement.style.fontSize = '200%'")
            assert page.evaluate("getComputedStyle(document.querySelector('h1')).fontSize") == "64px"
            page.screenshot(path=str(shots / "index_200.png"))
        finally:
            browser.close()
    outside = [u for u in requests if not u.startswith(root_url)]
    assert outside == [], f"requests outside the site: {outside[:5]}"
    assert problems == []
    assert len(list(shots.glob("*.png"))) == len(pages) + 1


# -- an HTML page's structure, without a browser ---------------------------------------------------------

class _Page(HTMLParser):
    """What the offline and accessibility checks read from a page."""

    LOADING = {("link", "href"), ("script", "src"), ("img", "src"), ("iframe", "src"), ("source", "src"),
               ("video", "src"), ("audio", "src"), ("image", "href"), ("use", "href"), ("object", "data"),
               ("embed", "src")}

    def __init__(self):
        super().__init__(convert_charrefs=True)
        self.lang = None
        self.h1 = 0
        self.loads: list[str] = []
        self.local_refs: list[str] = []
        self.external: list[str] = []
        self.tables = self.captions = 0
        self.svg_ok = True
        self.empty_cells = 0
        self.duplicate_attributes: list[str] = []
        self.heading_jumps: list[str] = []
        self._level = 0
        self._svg_depth = 0
        self._svg_title = False
        self._svg_root_role = None
        self._cell: list[str] | None = None
        self._style_urls: list[str] = []

    @classmethod
    def parse(cls, html: str) -> _Page:
        page = cls()
        page.feed(html)
        page.close()
        page.loads += [u for u in re.findall(r"url\(\s*['\"]?([^)'\"]+)", html) if not u.startswith("#")]
        page.loads += re.findall(r"@import", html)
        return page

    def handle_starttag(self, tag, attrs):
        a = dict(attrs)
        if len(a) != len(attrs):  # invalid HTML: a browser keeps the first of two class attributes
            self.duplicate_attributes.append(f"<{tag} {' '.join(k for k, _v in attrs)}>"[:120])
        if tag == "html":
            self.lang = a.get("lang")
        if tag == "h1":
            self.h1 += 1
        if re.fullmatch(r"h[1-6]", tag):
            level = int(tag[1])
            if level > self._level + 1:
                self.heading_jumps.append(f"h{self._level} → {tag}")
            self._level = level
        for t, attr in self.LOADING:
            if tag == t and a.get(attr):
                ref = a[attr]
                if tag == "link" and a.get("rel") == "stylesheet" and not re.match(r"^[a-z]+:|^//", ref):
                    self.local_refs.append(ref)
                elif tag == "use" and ref.startswith("#"):
                    pass
                else:
                    self.loads.append(f"<{tag} {attr}={ref}>")
        if tag == "a" and a.get("href"):
            href = a["href"]
            if href.startswith(("http://", "https://")):
                self.external.append(href)
            elif href.startswith("#"):
                pass
            elif re.match(r"^[a-z]+:|^//", href):
                self.external.append(href)
            else:
                self.local_refs.append(href)
        if tag == "svg":
            if self._svg_depth == 0:
                self._svg_root_role = a.get("role")
                self._svg_title = False
            self._svg_depth += 1
        if tag == "title" and self._svg_depth == 1:
            self._svg_title = True
        if tag == "table":
            self.tables += 1
        if tag == "caption":
            self.captions += 1
        if tag in ("td", "th"):
            self._cell = []

    def handle_endtag(self, tag):
        if tag == "svg":
            self._svg_depth -= 1
            if self._svg_depth == 0 and not (self._svg_root_role == "img" and self._svg_title):
                self.svg_ok = False
        if tag in ("td", "th") and self._cell is not None:
            if not "".join(self._cell).strip():
                self.empty_cells += 1
            self._cell = None

    def handle_data(self, data):
        if self._cell is not None:
            self._cell.append(data)


def test_recovery_points_site_current_at_the_published_version_and_drops_unfinished_sites(demo_copy):
    """A run killed after writing its site but before replacing the published file: its site goes, and a
    ``current`` link left behind is switched back to the published version."""
    from observatoire.warehouse import recover

    version = _query(_published(demo_copy), "SELECT version FROM meta.publication")[0][0]
    sites = demo_copy / "warehouse" / "site"
    unfinished = "20991231T000000Z-abcdef"
    shutil.copytree(sites / version, sites / unfinished)
    (sites / ".current.123.tmp").symlink_to(unfinished)
    (sites / "current").unlink()
    (sites / "current").symlink_to(unfinished)
    actions = recover(load_settings())
    assert f"site/current switched to {version} to match the published file" in actions
    assert f"removed unfinished publication site/{unfinished}" in actions
    assert os.readlink(sites / "current") == version and not (sites / unfinished).exists()
    assert not list(sites.glob(".*.tmp"))


def test_build_site_from_a_publication_before_the_new_marts(published_demo, tmp_path):
    """A publication without mart_derniere_valeur, dim_qpv_contour and the catalogue's new columns (an older
    edition): the latest values are derived from fct_indicateur_qpv, the pages say there is no map."""
    old = tmp_path / "ancienne.duckdb"
    shutil.copyfile(_published(published_demo), old)
    con = duckdb.connect(str(old))
    try:
        con.execute("DROP TABLE mart_derniere_valeur")
        con.execute("DROP TABLE dim_qpv_contour")
        for col in ("definition", "url_source", "date_reference", "decimales"):
            con.execute(f"ALTER TABLE dim_indicateur DROP COLUMN {col}")
        code, valeur = con.execute("SELECT code_qpv, valeur FROM fct_indicateur_qpv WHERE indicateur = 'population' "
                                   "AND valeur IS NOT NULL ORDER BY millesime DESC, code_qpv LIMIT 1").fetchone()
    finally:
        con.close()
    result = build_site(old, tmp_path / "site")
    fiche = (tmp_path / "site" / "qpv" / f"{code}.html").read_text(encoding="utf-8")
    assert f'data-indicateur="population" data-valeur="{valeur}">{fmt.fmt_value(valeur, "habitants")}<' in fiche
    assert "pas de carte" in fiche
    assert "contours absents" in (tmp_path / "site" / "carte.html").read_text(encoding="utf-8")
    assert result["pages"] == 1 + 10 + 66 + 1


def test_cli_site_refuses_to_write_into_a_frozen_edition(demo_copy, tmp_path):
    """``--out`` under snapshots/ or in a directory holding an edition's manifest.json/SHA256SUMS would change
    files the edition's hashes freeze (``snapshot verify`` would fail): refused, nothing written."""
    from observatoire.cli_site import site

    edition = demo_copy / "snapshots" / "2025"
    (edition / "site").mkdir(parents=True)
    (edition / "site" / "site.json").write_text("{}\n")  # a site: build_site alone would replace it
    (edition / "manifest.json").write_text('{"edition": 2025, "version": "2025", "files": []}\n')
    (edition / "SHA256SUMS").write_text("")
    for out in (edition / "site", demo_copy / "snapshots" / "2026" / "site", demo_copy / "snapshots"):
        res = CliRunner().invoke(site, ["--out", str(out)])
        assert res.exit_code == 1, res.output
        assert "SITE ERROR" in res.output and "snapshots" in res.output
    assert sorted(p.name for p in (edition / "site").iterdir()) == ["site.json"]
    assert not (demo_copy / "snapshots" / "2026").exists()
    # an edition copied elsewhere (e.g. onto a share) is just as frozen
    copy = tmp_path / "partage" / "2025"
    shutil.copytree(edition, copy)
    res = CliRunner().invoke(site, ["--out", str(copy / "site")])
    assert res.exit_code == 1 and "frozen edition" in res.output
    assert sorted(p.name for p in (copy / "site").iterdir()) == ["site.json"]
    # a directory with an unrelated manifest.json (a web app's) is not an edition
    www = tmp_path / "www"
    www.mkdir()
    (www / "manifest.json").write_text('{"name": "intranet"}\n')
    res = CliRunner().invoke(site, ["--out", str(www / "observatoire")])
    assert res.exit_code == 0, res.output


def test_fiche_says_why_a_baseline_value_is_missing(published_demo, demo_site, tmp_path):
    """statut_reference and motif_reference of mart_derniere_valeur: « Secret statistique (2021) » and its motif,
    not « n. d. »; a publication from before these columns still shows « n. d. »."""
    db = _published(published_demo)
    code, indicateur, statut, motif, millesime = _query(
        db, "SELECT code_qpv, indicateur, statut_reference, motif_reference, millesime_reference "
            "FROM mart_derniere_valeur WHERE valeur_reference IS NULL AND statut_reference <> 'disponible' "
            "AND millesime_reference <> millesime ORDER BY valeur IS NULL, code_qpv, indicateur LIMIT 1")[0]
    fiche = (demo_site / "qpv" / f"{code}.html").read_text(encoding="utf-8")
    row = re.search(rf'data-indicateur="{indicateur}".*?</tr>', fiche, re.S).group(0)
    cell = re.search(r'<td class="manque reference" data-statut-reference="([a-z_]+)">(.*?)</td>', row, re.S)
    assert cell and cell.group(1) == statut
    text = re.sub(r"<[^>]+>", "", cell.group(2)).replace("&#39;", "'")
    assert text.startswith(f"{fmt.statut_label(statut)} ({millesime})")
    assert f'title="{motif}"'.replace("'", "&#39;") in cell.group(2) or motif.replace("'", "&#39;") in cell.group(2)

    old = tmp_path / "avant.duckdb"
    shutil.copyfile(db, old)
    con = duckdb.connect(str(old))
    try:
        for col in ("statut_reference", "motif_reference"):
            con.execute(f"ALTER TABLE mart_derniere_valeur DROP COLUMN {col}")
    finally:
        con.close()
    build_site(old, tmp_path / "site")
    fiche = (tmp_path / "site" / "qpv" / f"{code}.html").read_text(encoding="utf-8")
    row = re.search(rf'data-indicateur="{indicateur}".*?</tr>', fiche, re.S).group(0)
    assert "data-statut-reference" not in row and f"n. d.</abbr> <span class=\"petit\">({millesime})" in row
