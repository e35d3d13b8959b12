"""Paged JSON APIs (extract/apis.py) against a local HTTP server on 127.0.0.1, and the cassettes of the
recordings replayed through the same code (extract/replay.py). Never the internet."""

from __future__ import annotations

import hashlib
import http.server
import json
import threading
import time
import zipfile
from urllib.parse import parse_qsl, urlsplit

import pyarrow as pa
import pytest

from extract.apis import batches_from_records, fetch_paged, first_url, iter_pages, with_params
from extract.errors import FetchError, FormatError
from extract.http import FetchPolicy
from extract.parsers import ParseContext, get_parser
from extract.registry import load_registry, recording_path, resolve_url
from extract.replay import ReplayAdapter, normalize_url, replay_session, write_cassette
from extract.tables import Column, TableSpec
from tests.conftest import RECORDINGS, with_extract_settings


class Api:
    """A scripted API: answers by path + sorted query; a list of answers is served in order (last repeated)."""

    def __init__(self):
        self.routes: dict[str, list[tuple[int, dict, bytes]]] = {}
        self.requests: list[str] = []
        self.headers: list[dict] = []
        self.base = ""
        self.delay = 0.0  # seconds before each answer

    @staticmethod
    def key(path_qs: str) -> str:
        parts = urlsplit(path_qs)
        return parts.path + "?" + "&".join(f"{k}={v}" for k, v in sorted(parse_qsl(parts.query)))

    def add(self, path_qs: str, body, status: int = 200, headers: dict | None = None,
            content_type: str = "application/json"):
        data = body if isinstance(body, bytes) else json.dumps(body).encode()
        self.routes.setdefault(self.key(path_qs), []).append(
            (status, {"Content-Type": content_type, **(headers or {})}, data))

    def url(self, path_qs: str) -> str:
        return self.base + path_qs


def _serve(script: Api):
    """Serve ``script`` on 127.0.0.1 (a free port): yields while it runs."""

    class Handler(http.server.BaseHTTPRequestHandler):
        protocol_version = "HTTP/1.1"

        def log_message(self, *args):
            pass

        def do_GET(self):
            script.requests.append(self.path)
            script.headers.append(dict(self.headers))
            if script.delay:
                time.sleep(script.delay)
            answers = script.routes.get(script.key(self.path))
            if not answers:
                status, headers, body = 404, {"Content-Type": "text/plain"}, b"not found"
            else:
                status, headers, body = answers.pop(0) if len(answers) > 1 else answers[0]
            self.send_response(status)
            for k, v in headers.items():
                self.send_header(k, v)
            self.send_header("Content-Length", str(len(body)))
            self.end_headers()
            self.wfile.write(body)

    httpd = http.server.ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    httpd.daemon_threads = True
    thread = threading.Thread(target=httpd.serve_forever, daemon=True)
    thread.start()
    script.base = f"http://127.0.0.1:{httpd.server_address[1]}"
    yield script
    httpd.shutdown()
    httpd.server_close()


@pytest.fixture
def api():
    yield from _serve(Api())


@pytest.fixture
def other_api():
    """A second API on another port of 127.0.0.1: another origin (same host, another port)."""
    yield from _serve(Api())


def policy(**kw):
    base = dict(connect_timeout=2, read_timeout=5, retries=3, backoff=0.01, max_retry_after=5, max_bytes=1_000_000)
    base.update(kw)
    return FetchPolicy(**base)


def pages_of(path):
    return list(iter_pages(path, source_id="t"))


# -- datafair ----------------------------------------------------------------------------------------

def test_datafair_follows_the_next_cursor_over_several_pages(api, tmp_path):
    first = "/data-fair/api/v1/datasets/dpe03existant/lines?size=2&select=numero_dpe&qs=code_insee_ban:13055"
    nxt1 = "/data-fair/api/v1/datasets/internal-id/lines?size=2&select=numero_dpe&qs=code_insee_ban:13055&after=10,a"
    nxt2 = "/data-fair/api/v1/datasets/internal-id/lines?size=2&select=numero_dpe&qs=code_insee_ban:13055&after=20,b"
    api.add(first, {"total": 5, "next": api.url(nxt1), "results": [{"numero_dpe": "1"}, {"numero_dpe": "2"}]})
    api.add(nxt1, {"total": 5, "next": api.url(nxt2), "results": [{"numero_dpe": "3"}, {"numero_dpe": "4"}]})
    api.add(nxt2, {"total": 5, "results": [{"numero_dpe": "5"}]})
    r = fetch_paged(api.url(first), tmp_path, source_id="t", paginator="datafair", policy=policy())
    assert r.attempts == 3 and len(api.requests) == 3
    pages = pages_of(r.path)
    assert [u for u, _ in pages] == [api.url(first), api.url(nxt1), api.url(nxt2)]
    assert [x["numero_dpe"] for _, d in pages for x in d["results"]] == ["1", "2", "3", "4", "5"]
    with zipfile.ZipFile(r.path) as zf:
        assert zf.namelist() == ["page-0001.json", "page-0002.json", "page-0003.json", "requests.json"]
        log = json.loads(zf.read("requests.json"))
        assert [e["page"] for e in log] == [1, 2, 3] and log[0]["content_type"] == "application/json"


def test_datafair_stops_on_an_empty_page_even_with_a_next_link(api, tmp_path):
    first = "/lines?size=1"
    api.add(first, {"total": 1, "next": api.url("/lines?size=1&after=1"), "results": [{"numero_dpe": "1"}]})
    api.add("/lines?size=1&after=1", {"total": 1, "next": api.url("/lines?size=1&after=2"), "results": []})
    r = fetch_paged(api.url(first), tmp_path, source_id="t", paginator="datafair", policy=policy())
    assert r.attempts == 2 and len(pages_of(r.path)) == 2


def test_pagination_that_loops_is_an_error(api, tmp_path):
    api.add("/lines?a=1", {"total": 9, "next": api.url("/lines?a=2"), "results": [{"x": 1}]})
    api.add("/lines?a=2", {"total": 9, "next": api.url("/lines?a=1"), "results": [{"x": 2}]})
    with pytest.raises(FetchError, match="pagination loops"):
        fetch_paged(api.url("/lines?a=1"), tmp_path, source_id="t", paginator="datafair", policy=policy())
    assert list(tmp_path.iterdir()) == []


# -- melodi ------------------------------------------------------------------------------------------

def melodi_page(n_obs: int, start: int = 0, **paging):
    obs = [{"dimensions": {"GEO": f"2025-COM-{13000 + start + i:05d}", "FREQ": "A", "TIME_PERIOD": "2021",
                           "POPREF_MEASURE": "PMUN"}, "measures": {"OBS_VALUE_NIVEAU": {"value": 100.0 + i}}}
           for i in range(n_obs)]
    return {"identifier": "DS_POPULATIONS_REFERENCE", "observations": obs, "paging": paging}


def test_melodi_pages_then_429_with_retry_after_then_success(api, tmp_path):
    base = "/melodi/data/DS_POPULATIONS_REFERENCE?GEO=EPCI-200054807*COM&maxResult=2"
    api.add(base + "&page=1", melodi_page(2, 0))
    api.add(base + "&page=2", b"Too Many Requests", status=429, headers={"Retry-After": "1"},
            content_type="text/plain")
    api.add(base + "&page=2", melodi_page(2, 2))
    api.add(base + "&page=3", melodi_page(1, 4))
    slept: list[float] = []
    r = fetch_paged(api.url(base), tmp_path, source_id="t", paginator="melodi", policy=policy(),
                    rate_limit_per_minute=600, sleep=slept.append)
    assert [q.rsplit("page=", 1)[1] for q in api.requests] == ["1", "2", "2", "3"]
    assert 1.0 in slept  # the server's Retry-After, honoured
    assert all(0 < s <= 0.1 for s in slept if s != 1.0)  # pacing at 600 requests/min
    assert sum(len(d["observations"]) for _, d in pages_of(r.path)) == 5


def test_melodi_follows_paging_next_and_stops_on_is_last(api, tmp_path):
    base = "/melodi/data/DS_X?GEO=DEP-13&maxResult=2"
    api.add(base + "&page=1", melodi_page(2, 0, next=api.url(base + "&page=2"), isLast=False, count=3))
    api.add(base + "&page=2", melodi_page(1, 2, isLast=True, count=3))
    r = fetch_paged(api.url(base), tmp_path, source_id="t", paginator="melodi", policy=policy())
    assert r.attempts == 2
    # a full last page flagged isLast: no request for a page 3
    api.requests.clear()
    api.add(base + "&page=1&x=1", melodi_page(2, 0, isLast=True))
    fetch_paged(api.url(base + "&x=1"), tmp_path, source_id="t", paginator="melodi", policy=policy())
    assert len(api.requests) == 1


def test_melodi_unknown_dataset_http_500_text_plain_is_explained(api, tmp_path):
    api.add("/melodi/data/DS_NEXISTEPAS?maxResult=10&page=1", "Le serveur a rencontré une erreur inattendue.".encode(),
            status=500, content_type="text/plain;charset=UTF-8")
    with pytest.raises(FetchError) as err:
        fetch_paged(api.url("/melodi/data/DS_NEXISTEPAS?maxResult=10"), tmp_path, source_id="insee_melodi_population",
                    paginator="melodi", policy=policy(retries=1), sleep=lambda s: None)
    msg = str(err.value)
    assert "[insee_melodi_population]" in msg and "HTTP 500" in msg and "unknown dataset" in msg
    assert "DS_NEXISTEPAS" in msg


# -- ods_records --------------------------------------------------------------------------------------

def test_ods_records_offset_paging(api, tmp_path):
    base = "/api/explore/v2.1/catalog/datasets/dares_defm_communales-brutes/records?where=x&limit=100"
    for offset, n in ((0, 100), (100, 100), (200, 50)):
        api.add(base + f"&offset={offset}", {"total_count": 250, "results": [{"i": offset + i} for i in range(n)]})
    r = fetch_paged(api.url(base), tmp_path, source_id="t", paginator="ods_records", policy=policy())
    assert [dict(parse_qsl(urlsplit(q).query))["offset"] for q in api.requests] == ["0", "100", "200"]
    assert [x["i"] for _, d in pages_of(r.path) for x in d["results"]] == list(range(250))


def test_ods_records_above_the_10000_cap_is_a_clear_error(api, tmp_path):
    base = "/api/explore/v2.1/catalog/datasets/s_ben_com_f/records?limit=100"
    api.add(base + "&offset=0", {"total_count": 34_891, "results": [{"i": 1}] * 100})
    with pytest.raises(FormatError) as err:
        fetch_paged(api.url(base), tmp_path, source_id="caf_communes", paginator="ods_records", policy=policy())
    msg = str(err.value)
    assert "[caf_communes]" in msg and "10000" in msg and "/exports" in msg and "34891" in msg
    assert list(tmp_path.iterdir()) == []


# -- landing: determinism, broken pages -------------------------------------------------------------------

def test_landed_zip_is_byte_identical_for_identical_responses(api, tmp_path):
    first = "/lines?size=2"
    api.add(first, {"total": 3, "next": api.url("/lines?size=2&after=x"), "results": [{"a": 1}, {"a": 2}]})
    api.add("/lines?size=2&after=x", {"total": 3, "results": [{"a": 3}]})
    a = fetch_paged(api.url(first), tmp_path / "a", source_id="t", paginator="datafair", policy=policy())
    b = fetch_paged(api.url(first), tmp_path / "b", source_id="t", paginator="datafair", policy=policy())
    assert a.path.read_bytes() == b.path.read_bytes()
    assert a.sha256 == b.sha256 == hashlib.sha256(a.path.read_bytes()).hexdigest()


def test_html_page_instead_of_json_names_the_page_url(api, tmp_path):
    first = "/lines?size=2"
    api.add(first, {"total": 3, "next": api.url("/lines?size=2&after=x"), "results": [{"a": 1}, {"a": 2}]})
    api.add("/lines?size=2&after=x", b"<!DOCTYPE html><html><body>Maintenance</body></html>",
            content_type="text/html")
    with pytest.raises(FormatError) as err:
        fetch_paged(api.url(first), tmp_path, source_id="ademe_dpe_existant", paginator="datafair", policy=policy())
    msg = str(err.value)
    assert "[ademe_dpe_existant] page 2 is not JSON" in msg and "HTML" in msg
    assert api.url("/lines?size=2&after=x") in msg
    assert list(tmp_path.iterdir()) == []  # nothing landed


def test_truncated_json_page_is_a_format_error(api, tmp_path):
    api.add("/lines?size=2", b'{"total": 3, "results": [{"a": 1}', content_type="application/json")
    with pytest.raises(FormatError, match="page 1 is not valid JSON"):
        fetch_paged(api.url("/lines?size=2"), tmp_path, source_id="t", paginator="datafair", policy=policy())


def test_size_limit_over_all_pages(api, tmp_path):
    api.add("/lines?size=2", {"total": 3, "next": api.url("/lines?size=2&after=x"), "results": [{"a": "x" * 400}]})
    api.add("/lines?size=2&after=x", {"total": 3, "results": [{"a": "y" * 400}]})
    with pytest.raises(FetchError, match="size limit"):
        fetch_paged(api.url("/lines?size=2"), tmp_path, source_id="t", paginator="datafair",
                    policy=policy(max_bytes=600))


# -- untrusted links: next only on the first request's origin ------------------------------------------------------

def test_a_next_link_to_another_host_is_refused_and_nothing_is_sent_there(api, other_api, tmp_path, monkeypatch):
    with_extract_settings(monkeypatch, api_keys={"TEST_API_KEY": "SECRETKEY"})
    api.add("/lines?size=1", {"total": 2, "next": other_api.url("/steal?size=1&after=1"), "results": [{"a": 1}]})
    other_api.add("/steal?size=1&after=1", {"total": 2, "results": [{"a": 2}]})
    with pytest.raises(FormatError) as err:
        fetch_paged(api.url("/lines?size=1"), tmp_path, source_id="ademe_dpe_existant", paginator="datafair",
                    policy=policy(), api_key_env="TEST_API_KEY")
    msg = str(err.value)
    assert f"[ademe_dpe_existant] page 1's next link points to {other_api.base}: not followed" in msg
    assert f"expected a next link on {api.base} (the first request's scheme, host and port)" in msg
    assert "/steal" not in msg and "after=1" not in msg  # the link's scheme://host only
    assert other_api.requests == []  # nothing of its target is read, no key sent there
    assert api.headers[0]["Authorization"] == "Bearer SECRETKEY"  # (the key goes to the host it is for)
    assert list(tmp_path.iterdir()) == []


@pytest.mark.parametrize("link", ["file:///etc/passwd", "FILE://localhost/etc/passwd", "ftp://127.0.0.1/x",
                                  "//evil.invalid/lines?after=1", "https://127.0.0.1/lines?after=1"])
def test_a_next_link_to_a_file_or_another_scheme_or_host_is_refused(api, tmp_path, link):
    api.add("/lines?size=1", {"total": 2, "next": link, "results": [{"a": 1}]})
    with pytest.raises(FormatError) as err:
        fetch_paged(api.url("/lines?size=1"), tmp_path, source_id="t", paginator="datafair", policy=policy())
    msg = str(err.value)
    assert "page 1's next link points to" in msg and "not followed" in msg
    assert "root:" not in msg and "passwd" not in msg and "after=1" not in msg
    assert len(api.requests) == 1 and list(tmp_path.iterdir()) == []


def test_melodi_paging_next_to_a_file_url_is_refused(api, tmp_path):
    base = "/melodi/data/DS_X?GEO=DEP-13&maxResult=2"
    api.add(base + "&page=1", melodi_page(2, 0, next="file:///etc/passwd", isLast=False))
    with pytest.raises(FormatError, match=r"page 1's next link points to file://: not followed"):
        fetch_paged(api.url(base), tmp_path, source_id="t", paginator="melodi", policy=policy())


def test_a_relative_next_link_on_the_same_host_is_followed(api, tmp_path):
    api.add("/api/lines?size=1", {"total": 2, "next": "/api/lines?size=1&after=1", "results": [{"a": 1}]})
    api.add("/api/lines?size=1&after=1", {"total": 2, "results": [{"a": 2}]})
    r = fetch_paged(api.url("/api/lines?size=1"), tmp_path, source_id="t", paginator="datafair", policy=policy())
    assert [u for u, _ in pages_of(r.path)] == [api.url("/api/lines?size=1"), api.url("/api/lines?size=1&after=1")]


def test_the_deadline_covers_the_whole_paged_fetch(api, tmp_path):
    api.delay = 0.4  # each page answers in time; all of them do not
    for i in range(10):
        api.add(f"/lines?size=1&after={i}", {"total": 10, "next": api.url(f"/lines?size=1&after={i + 1}"),
                                             "results": [{"a": i}]})
    start = time.monotonic()
    with pytest.raises(FetchError) as err:
        fetch_paged(api.url("/lines?size=1&after=0"), tmp_path, source_id="t", paginator="datafair",
                    policy=policy(deadline=1.5))
    assert time.monotonic() - start < 2.5
    e = err.value
    assert e.cause == "timeout" and "paged download cut at the deadline of 1.5 s (OBSERVATOIRE_HTTP_DEADLINE)" \
        " at page " in e.problem and "bytes" in e.problem
    assert 3 <= len(api.requests) <= 5 and list(tmp_path.iterdir()) == []


def test_unknown_paginator(tmp_path):
    with pytest.raises(FetchError, match="unknown paginator 'cursor'"):
        fetch_paged("http://127.0.0.1:1/x", tmp_path, source_id="t", paginator="cursor")


def test_iter_pages_on_something_else_than_a_page_archive(tmp_path):
    bad = tmp_path / "x.zip"
    bad.write_text("<html></html>")
    with pytest.raises(FormatError, match="not a landed page archive"):
        list(iter_pages(bad, source_id="t"))


def test_with_params_keeps_repeated_parameters():
    url = with_params("https://h/d?GEO=EPCI-200054807*COM&GEO=DEP-13&maxResult=40", page=2)
    assert url == "https://h/d?GEO=EPCI-200054807*COM&GEO=DEP-13&maxResult=40&page=2"
    assert first_url("melodi", "https://h/d?maxResult=4") == "https://h/d?maxResult=4&page=1"
    assert first_url("ods_records", "https://h/r?limit=100") == "https://h/r?limit=100&offset=0"


def test_batches_from_records():
    spec = TableSpec("t", (Column("a"), Column("b", type="number")), key=("a",), qpv_column=None)
    recs = [(i, {"a": str(i), "b": float(i) if i % 2 else None}, [] if i % 2 else ["b"]) for i in range(5)]
    batches = list(batches_from_records(recs, spec.arrow_schema(), 2024, batch_rows=2))
    assert [b.num_rows for b in batches] == [2, 2, 1]
    rows = pa.Table.from_batches(batches).to_pylist()
    assert rows[0] == {"a": "0", "b": None, "millesime": 2024, "_line": 0, "_secret": ["b"]}


# -- replay (cassettes) -------------------------------------------------------------------------------

def test_cassette_replays_sequences_and_unknown_url_is_a_clear_error(tmp_path):
    url = "https://api.insee.fr/melodi/data/DS_X?GEO=DEP-13&maxResult=2"
    cassette = write_cassette(tmp_path / "c", [
        (first_url("melodi", url), b"Too Many Requests", 429, {"Retry-After": "2", "Content-Type": "text/plain"}),
        (first_url("melodi", url), json.dumps(melodi_page(1)).encode()),
    ])
    assert cassette.name == "cassette.json"
    slept: list[float] = []
    r = fetch_paged(url, tmp_path / "out", source_id="t", paginator="melodi", session=replay_session(cassette),
                    sleep=slept.append)
    assert slept == [2.0] and len(pages_of(r.path)) == 1
    with pytest.raises(FetchError) as err:
        fetch_paged(url.replace("DEP-13", "DEP-84"), tmp_path / "out", source_id="insee_melodi_population",
                    paginator="melodi", session=replay_session(tmp_path / "c"))
    msg = str(err.value)
    assert "[insee_melodi_population]" in msg and "no recorded response for" in msg and "DEP-84" in msg
    assert "cassette.json" in msg


def test_normalize_url_ignores_parameter_order_and_encoding():
    a = "https://API.insee.fr/melodi/data/DS?GEO=EPCI-1%2ACOM&GEO=DEP-13&page=1"
    b = "https://api.insee.fr/melodi/data/DS?page=1&GEO=DEP-13&GEO=EPCI-1*COM"
    assert normalize_url(a) == normalize_url(b)
    assert normalize_url("https://h/l?qs=a%20OR%20b") == normalize_url("https://h/l?qs=a+OR+b")


API_SOURCES = ["insee_melodi_population", "insee_melodi_filosofi", "ademe_dpe_existant"]


def api_millesimes():
    reg = load_registry()
    return [(sid, year) for sid in API_SOURCES for year in sorted(reg[sid].millesimes)]


@pytest.mark.parametrize("source_id,millesime", api_millesimes())
def test_registry_cassettes_replay_through_fetch_paged(source_id, millesime, tmp_path):
    """Demo mode: the cassette answers exactly the URLs the paginator requests for the registry URL,
    and the landed archive parses."""
    src = load_registry()[source_id]
    url, origin = resolve_url(src, millesime, "demo", overrides={})
    assert origin == "recording" and url == src.millesimes[millesime].url
    session = replay_session(recording_path(src, millesime))
    r = fetch_paged(url, tmp_path, source_id=source_id, paginator=src.paginator, session=session,
                    sleep=lambda s: None)
    adapter: ReplayAdapter = session.get_adapter(url)
    assert len(adapter.served) == r.attempts >= 3  # several pages, each served once
    parser = get_parser(src.parser)
    table = pa.Table.from_batches(list(parser.parse(r.path, ParseContext(source_id, millesime, url, "x"))),
                                  schema=parser.spec.arrow_schema())
    assert table.num_rows > 0
    # the recordings' other perimeters' requests (observatoire.perimetre) are in the same cassette: with the
    # default one, they use every recorded interaction exactly once
    from tests.recordings import gen_apis

    served = len(adapter.served)
    for perimetre in gen_apis.OTHER_PERIMETRES:
        purl = gen_apis.perimetre_url(source_id, millesime, perimetre)
        psession = replay_session(recording_path(src, millesime))
        pr = fetch_paged(purl, tmp_path / perimetre.replace(":", "_"), source_id=source_id, paginator=src.paginator,
                         session=psession, sleep=lambda s: None)
        served += len(psession.get_adapter(purl).served)
        rows = sum(b.num_rows for b in parser.parse(pr.path, ParseContext(source_id, millesime, purl, "x")))
        assert rows > 0, perimetre
    assert served == len(adapter.interactions)
    # identical answers land identical bytes (the unchanged-source check relies on it)
    again = fetch_paged(url, tmp_path / "again", source_id=source_id, paginator=src.paginator,
                        session=replay_session(recording_path(src, millesime)))
    assert again.sha256 == r.sha256


def test_registry_urls_are_the_recorded_ones():
    from tests.recordings import gen_apis

    reg = load_registry()
    for year in reg["insee_melodi_population"].millesimes:
        assert reg["insee_melodi_population"].millesimes[year].url == gen_apis.melodi_url("insee_melodi_population", year)
    for year in reg["insee_melodi_filosofi"].millesimes:
        assert reg["insee_melodi_filosofi"].millesimes[year].url == gen_apis.melodi_url("insee_melodi_filosofi", year)
    for year in reg["ademe_dpe_existant"].millesimes:
        assert reg["ademe_dpe_existant"].millesimes[year].url == gen_apis.dpe_url(year)
    for year in reg["dares_defm_communes"].millesimes:
        assert reg["dares_defm_communes"].millesimes[year].url == gen_apis.dares_url(year)
    for year in reg["caf_communes"].millesimes:
        assert reg["caf_communes"].millesimes[year].url == gen_apis.caf_url(year)
    for sid in API_SOURCES:
        assert reg[sid].kind == "api" and reg[sid].paginator
        for m in reg[sid].millesimes.values():
            assert (RECORDINGS / m.recording).is_file()


def test_recorded_pages_stay_small():
    for sid in API_SOURCES + ["dares_defm_communes", "caf_communes"]:
        for p in (RECORDINGS / sid).rglob("*"):
            if p.is_file():
                assert p.stat().st_size < 600_000, p
