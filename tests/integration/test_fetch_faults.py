"""Faults of a live download, end to end through the pipeline against a local HTTP server on 127.0.0.1:
each ends in a correct load or a clear error naming source, URL and problem, with nothing half-loaded and the
published warehouse unchanged."""

from __future__ import annotations

import io
import logging
import os
import socket
import sqlite3
import time
import zipfile

import pytest

from extract.diagnosis import CONSOLE_WIDTH, summarize_fetch_failures
from observatoire.config import load_settings
from observatoire.errors import PipelineError
from observatoire.run import extraction, retention, run
from observatoire.run.conductor import land
from observatoire.run.context import Context
from tests.conftest import RECORDINGS, sha256_of
from tests.local_server import LocalServer, Reply

pytestmark = pytest.mark.slow

POP = (RECORDINGS / "insee_pop_qpv" / "2021" / "pop_QPV24.csv").read_bytes()
# a valid new version of the file: one population changed

_lines = POP.decode("utf-8").split("\n")
_f = _lines[1].split(";")
_f[8] = str(int(_f[8]) + 7)
_lines[1] = ";".join(_f)
POP_V2 = "\n".join(_lines).encode("utf-8")


@pytest.fixture
def server():
    with LocalServer() as srv:
        yield srv


def load_pop(monkeypatch, url: str, source: str = "insee_pop_qpv", **env) -> dict:
    """Extract and gate the latest millésime from ``url`` (what a run does before dbt): the result of that
    source's load. Raises PipelineError like a run."""
    monkeypatch.setenv(f"OBSERVATOIRE_URL_{source.upper()}", url)
    for k, v in env.items():
        monkeypatch.setenv(k, v)
    ctx = Context.create(load_settings())
    run_id = ctx.history.start_run(mode="demo", perimetre=ctx.settings.perimetre, trigger="test", params={})
    src = ctx.registry[source]
    items = [{"source_id": source, "millesime": src.latest_millesime, "target": src.latest_millesime}]
    try:
        return land(ctx, run_id, items)[0]
    finally:
        retention.prune_raw(ctx, run_id)


def run_pop(monkeypatch, url: str, **env):
    monkeypatch.setenv("OBSERVATOIRE_URL_INSEE_POP_QPV", url)
    for k, v in env.items():
        monkeypatch.setenv(k, v)
    return run(load_settings(), sources=["insee_pop_qpv"])


def assert_nothing_half_loaded(data, pub_sha):
    assert sha256_of(data / "warehouse" / "observatoire.duckdb") == pub_sha
    assert not [p for p in (data / "tmp").iterdir()]  # no partial download left
    con = sqlite3.connect(data / "meta" / "history.sqlite")
    try:
        assert con.execute("select count(*) from manifest where status = 'landed'").fetchone()[0] == 0
    finally:
        con.close()


def fails(monkeypatch, data, url, *texts, **env):
    pub_sha = sha256_of(data / "warehouse" / "observatoire.duckdb")
    with pytest.raises(PipelineError) as err:
        load_pop(monkeypatch, url, **env)
    msg = str(err.value)
    for text in ("insee_pop_qpv", *texts):
        assert text in msg, (text, msg)
    assert_nothing_half_loaded(data, pub_sha)
    return msg


def test_retry_after_500_then_success_end_to_end(server, demo_copy, monkeypatch):
    server.routes["/pop_QPV24.csv"] = [Reply(500, b"oops"), Reply(503, b"busy"), Reply(200, POP_V2)]
    pub = demo_copy / "warehouse" / "observatoire.duckdb"
    before = sha256_of(pub)
    result = run_pop(monkeypatch, server.url("/pop_QPV24.csv"))
    assert result.status == "published" and sha256_of(pub) != before
    assert len(server.requests) == 3


def test_429_with_retry_after_then_success(server, demo_copy, monkeypatch):
    server.routes["/pop_QPV24.csv"] = [Reply(429, b"slow down", {"Retry-After": "1"}), Reply(200, POP_V2)]
    result = load_pop(monkeypatch, server.url("/pop_QPV24.csv"))
    assert result["status"] == "new" and result["validation"]["success"] and len(server.requests) == 2


def test_timeout(server, demo_copy, monkeypatch):
    server.routes["/pop_QPV24.csv"] = [Reply(200, POP, delay=2.0)]
    fails(monkeypatch, demo_copy, server.url("/pop_QPV24.csv"), "Timeout", server.url("/pop_QPV24.csv"),
          OBSERVATOIRE_HTTP_TIMEOUT="0.5", OBSERVATOIRE_HTTP_RETRIES="1")


def test_truncated_body(server, demo_copy, monkeypatch):
    server.routes["/pop_QPV24.csv"] = [Reply(200, POP[:500], truncate=True)]
    fails(monkeypatch, demo_copy, server.url("/pop_QPV24.csv"), "truncated body", OBSERVATOIRE_HTTP_RETRIES="1")


def test_html_error_page_served_with_200(server, demo_copy, monkeypatch):
    server.routes["/pop_QPV24.csv"] = [Reply(200, b"<!DOCTYPE html><html><body>Service indisponible</body></html>",
                                             {"Content-Type": "text/html"})]
    fails(monkeypatch, demo_copy, server.url("/pop_QPV24.csv"), "HTML page", "pop_QPV24.csv")


def test_unchanged_source_skipped_via_etag(server, demo_copy, monkeypatch):
    server.routes["/pop_QPV24.csv"] = [Reply(200, POP_V2, etag='"v2"')]
    first = load_pop(monkeypatch, server.url("/pop_QPV24.csv"))
    assert first["status"] == "new" and first["validation"]["success"]
    second = load_pop(monkeypatch, server.url("/pop_QPV24.csv"))
    assert server.requests[-1]["headers"].get("If-None-Match") == '"v2"'
    assert second["status"] == "unchanged" and "304" in second["reason"]


def _zip(name: str, data: bytes) -> bytes:
    buf = io.BytesIO()
    with zipfile.ZipFile(buf, "w") as zf:
        zf.writestr(f"meta_{name}", "COD_VAR;LIB_VAR\n")
        zf.writestr(name, data)
    return buf.getvalue()


def test_zip_served_where_csv_expected(server, demo_copy, monkeypatch):
    server.routes["/pop_QPV24.csv"] = [Reply(200, _zip("pop_QPV24.csv", POP_V2), {"Content-Type": "application/zip"})]
    result = load_pop(monkeypatch, server.url("/pop_QPV24.csv"))
    assert result["status"] == "new" and result["validation"]["success"]
    landed = [p.name for p in (demo_copy / "raw" / "insee_pop_qpv" / "2021").iterdir()]
    assert any(n.endswith(".zip") for n in landed)  # named by what it is, not by its URL


def test_zip_expanding_beyond_the_limit_is_refused(server, demo_copy, monkeypatch):
    buf = io.BytesIO()
    with zipfile.ZipFile(buf, "w", compression=zipfile.ZIP_DEFLATED) as zf:
        zf.writestr("pop_QPV24.csv", POP_V2)
    zipped = buf.getvalue()
    assert len(zipped) < 5000 < len(POP_V2)
    server.routes["/pop_QPV24.zip"] = [Reply(200, zipped, {"Content-Type": "application/zip"})]
    fails(monkeypatch, demo_copy, server.url("/pop_QPV24.zip"), "ZIP archive expands beyond the limit (member "
          "pop_QPV24.csv) (file ", "at most 5000 bytes uncompressed over all members "
          "(OBSERVATOIRE_MAX_UNZIPPED_BYTES)", OBSERVATOIRE_MAX_UNZIPPED_BYTES="5000")


def test_zip_with_too_many_members_is_refused(server, demo_copy, monkeypatch):
    server.routes["/pop_QPV24.zip"] = [Reply(200, _zip("pop_QPV24.csv", POP_V2), {"Content-Type": "application/zip"})]
    fails(monkeypatch, demo_copy, server.url("/pop_QPV24.zip"), "ZIP archive has too many members",
          "at most 1 members (OBSERVATOIRE_MAX_ZIP_MEMBERS); found 2 members", OBSERVATOIRE_MAX_ZIP_MEMBERS="1")


class DripServer:
    """Answers every GET with ``Content-Length: total`` and then one byte every ``interval`` seconds: each read
    is well within the read timeout, the download never ends."""

    def __init__(self, total: int = 100_000, interval: float = 0.2) -> None:
        import http.server
        import threading

        self.requests = 0
        outer = self

        class Handler(http.server.BaseHTTPRequestHandler):
            protocol_version = "HTTP/1.1"

            def log_message(self, *args):
                pass

            def do_GET(self):
                outer.requests += 1
                self.send_response(200)
                self.send_header("Content-Length", str(total))
                self.end_headers()
                try:
                    for _ in range(total):
                        self.wfile.write(b"x")
                        self.wfile.flush()
                        time.sleep(interval)
                except OSError:  # the client hung up
                    pass
                self.close_connection = True

        self.httpd = http.server.ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.httpd.daemon_threads = True
        self.thread = threading.Thread(target=self.httpd.serve_forever, daemon=True)

    def url(self, path: str) -> str:
        return f"http://127.0.0.1:{self.httpd.server_address[1]}{path}"

    def __enter__(self) -> DripServer:
        self.thread.start()
        return self

    def __exit__(self, *exc) -> None:
        self.httpd.shutdown()
        self.httpd.server_close()


def test_a_dripping_server_is_cut_at_the_deadline(demo_copy, monkeypatch):
    with DripServer(interval=0.2) as drip:
        start = time.monotonic()
        msg = fails(monkeypatch, demo_copy, drip.url("/pop_QPV24.csv"),
                    "download cut at the deadline of 2 s (OBSERVATOIRE_HTTP_DEADLINE), after receiving ",
                    OBSERVATOIRE_HTTP_TIMEOUT="1", OBSERVATOIRE_HTTP_DEADLINE="2")
        elapsed = time.monotonic() - start
    assert elapsed < 30 and drip.requests == 1, (elapsed, drip.requests)  # cut once, not retried
    received = int(msg.split("after receiving ")[1].split()[0])
    assert 5 <= received <= 12, msg


def test_csv_served_where_zip_expected(server, demo_copy, monkeypatch):
    rec = RECORDINGS / "caf_allocataires_qpv" / "2024"
    zipped = next(rec.glob("*.zip"))
    with zipfile.ZipFile(zipped) as zf:
        member = next(n for n in zf.namelist() if n.lower().endswith("_qp.csv"))
        csv_bytes = zf.read(member)
    server.routes["/caf.zip"] = [Reply(200, csv_bytes, {"Content-Type": "text/csv"})]
    result = load_pop(monkeypatch, server.url("/caf.zip"), source="caf_allocataires_qpv")
    assert result["status"] == "new" and result["validation"]["success"]


def test_renamed_column(server, demo_copy, monkeypatch):
    server.routes["/pop_QPV24.csv"] = [Reply(200, POP.replace(b"popMuniQPV", b"populationMunicipale"))]
    fails(monkeypatch, demo_copy, server.url("/pop_QPV24.csv"), "missing column(s): population",
          "populationMunicipale", "popMuniQPV")


def test_missing_column(server, demo_copy, monkeypatch):
    lines = [";".join(line.split(";")[:8]) for line in POP.decode("utf-8").split("\n") if line]
    server.routes["/pop_QPV24.csv"] = [Reply(200, ("\n".join(lines) + "\n").encode("utf-8"))]
    fails(monkeypatch, demo_copy, server.url("/pop_QPV24.csv"), "missing column(s): population")


def test_windows_1252_encoding_is_read(server, demo_copy, monkeypatch):
    server.routes["/pop_QPV24.csv"] = [Reply(200, POP_V2.decode("utf-8").encode("cp1252"))]
    result = load_pop(monkeypatch, server.url("/pop_QPV24.csv"))
    assert result["status"] == "new" and result["validation"]["success"]


def test_empty_file(server, demo_copy, monkeypatch):
    server.routes["/pop_QPV24.csv"] = [Reply(200, b"")]
    fails(monkeypatch, demo_copy, server.url("/pop_QPV24.csv"), "empty")


def test_oversized_file(server, demo_copy, monkeypatch):
    server.routes["/pop_QPV24.csv"] = [Reply(200, POP)]
    fails(monkeypatch, demo_copy, server.url("/pop_QPV24.csv"), "size limit", OBSERVATOIRE_MAX_BYTES="1000")


def test_retention_keeps_the_last_versions(server, demo_copy, monkeypatch):
    monkeypatch.setenv("OBSERVATOIRE_RETENTION", "2")
    folder = demo_copy / "raw" / "insee_pop_qpv" / "2021"
    for i in range(3):
        lines = POP.decode("utf-8").split("\n")
        f = lines[2].split(";")
        f[8] = str(int(f[8]) + i + 1)
        lines[2] = ";".join(f)
        server.routes[f"/v{i}.csv"] = [Reply(200, "\n".join(lines).encode("utf-8"))]
        assert load_pop(monkeypatch, server.url(f"/v{i}.csv"))["status"] == "new"
    raws = sorted(p for p in folder.iterdir() if p.suffix == ".csv")
    assert len(raws) == 2  # 1 recording + 3 versions, 2 kept (the current one among them)
    con = sqlite3.connect(demo_copy / "meta" / "history.sqlite")
    try:
        rows = con.execute("select status from manifest where source_id = 'insee_pop_qpv' and millesime = 2021 "
                           "order by rowid").fetchall()
    finally:
        con.close()
    assert [r[0] for r in rows].count("purged") == 2 and rows[-1][0] == "accepted"


# -- no network, or a proxy that refuses: fail fast, then one diagnosis ------------------------------------------

PROXY_VARIABLES = ("HTTP_PROXY", "HTTPS_PROXY", "ALL_PROXY", "NO_PROXY")


@pytest.fixture
def no_dns(monkeypatch):
    """Names under the reserved .invalid TLD fail to resolve at once, as on a machine without network. The real
    resolver is not asked (it would send the query to the configured DNS server)."""
    real = socket.getaddrinfo

    def getaddrinfo(host, *args, **kwargs):
        if str(host).rstrip(".").endswith(".invalid"):
            raise socket.gaierror(socket.EAI_NONAME, "Name or service not known")
        return real(host, *args, **kwargs)

    monkeypatch.setattr(socket, "getaddrinfo", getaddrinfo)
    for var in PROXY_VARIABLES:
        monkeypatch.delenv(var, raising=False)
        monkeypatch.delenv(var.lower(), raising=False)


LIVE_URLS = {
    "insee_pop_qpv": "http://publisher.invalid/pop_QPV24.csv",
    "caf_allocataires_qpv": "https://data.publisher.invalid/api/exports/csv?select=" + ",".join(
        f"champ_{i}" for i in range(200)) + "&apikey=s3cr3t",
}


def extract_live(monkeypatch) -> tuple[Context, str, list[dict], float]:
    """A live run's extract step for two sources on a fresh data directory, with the default retry policy
    (4 retries, backoff 2 s: 60 s of waits per source if nothing failed fast). Results and seconds taken."""
    monkeypatch.setenv("OBSERVATOIRE_MODE", "live")
    monkeypatch.setenv("OBSERVATOIRE_HTTP_RETRIES", "4")
    monkeypatch.setenv("OBSERVATOIRE_HTTP_BACKOFF", "2")
    for source, url in LIVE_URLS.items():
        monkeypatch.setenv(f"OBSERVATOIRE_URL_{source.upper()}", url)
    ctx = Context.create(load_settings())
    run_id = ctx.history.start_run(mode="live", perimetre=ctx.settings.perimetre, trigger="test", params={})
    start = time.monotonic()
    results = [extraction.extract_source(ctx, run_id, s, ctx.registry[s].latest_millesime,
                                       target=ctx.registry[s].latest_millesime) for s in LIVE_URLS]
    return ctx, run_id, results, time.monotonic() - start


def test_unresolvable_hosts_fail_fast_with_the_no_network_diagnosis(no_dns, monkeypatch, caplog):
    with caplog.at_level(logging.WARNING, logger="extract.http"):
        ctx, run_id, results, seconds = extract_live(monkeypatch)
    assert seconds < 8, seconds  # one quick retry (1 s) per source, not the 2 + 4 + 8 + 16 s backoff
    assert [r["status"] for r in results] == ["failed", "failed"]
    assert [(r["error"]["cause"], r["error"]["host"], r["error"]["attempts"]) for r in results] == [
        ("dns", "publisher.invalid", 2), ("dns", "data.publisher.invalid", 2)]
    retries = [r.getMessage() for r in caplog.records]
    assert retries == [
        "[insee_pop_qpv] publisher.invalid: host name not resolved (Name or service not known); one quick retry in 1.0 s",
        "[caf_allocataires_qpv] data.publisher.invalid: host name not resolved (Name or service not known); one quick "
        "retry in 1.0 s"]

    console, report = summarize_fetch_failures(results, environ=os.environ)
    lines = console.splitlines()
    assert lines[0] == ("  insee_pop_qpv 2021: host name not resolved (Name or service not known), 2 attempts — "
                        "http://publisher.invalid/…")
    assert lines[1].startswith("  caf_allocataires_qpv ") and lines[1].endswith(" — https://data.publisher.invalid/…")
    assert lines[2] == ("Diagnosis: no network or proxy? No host name could be resolved (publisher.invalid, "
                        "data.publisher.invalid).")
    assert "HTTPS_PROXY/HTTP_PROXY/NO_PROXY not set" in console and "`make demo` runs on the project's recordings" in console
    assert all(len(line) <= CONSOLE_WIDTH for line in lines) and "champ_" not in console
    assert "URL: https://data.publisher.invalid/api/exports/csv?select=champ_0," in report
    assert "apikey=***" in report and "s3cr3t" not in console + report

    # the run's extract step stops there: nothing landed, the error and the report name the source and URL
    with pytest.raises(PipelineError) as err:
        land(ctx, run_id, [{"source_id": "insee_pop_qpv", "millesime": 2021, "target": 2021}])
    assert err.value.stage == "extract" and "insee_pop_qpv" in str(err.value)
    assert "http://publisher.invalid/pop_QPV24.csv" in err.value.details_path.read_text(encoding="utf-8")


def test_proxy_on_a_closed_local_port_gives_the_proxy_diagnosis(no_dns, monkeypatch):
    s = socket.socket()
    s.bind(("127.0.0.1", 0))
    port = s.getsockname()[1]
    s.close()  # nothing listens there: the proxy refuses every connection
    for var in ("HTTPS_PROXY", "HTTP_PROXY"):
        monkeypatch.setenv(var, f"http://agent:s3cr3t-pw@127.0.0.1:{port}")
    ctx, run_id, results, seconds = extract_live(monkeypatch)
    assert seconds < 8, seconds
    proxy = f"http://***@127.0.0.1:{port}"
    assert [(r["error"]["cause"], r["error"]["proxy"]) for r in results] == [("proxy", proxy), ("proxy", proxy)]

    console, report = summarize_fetch_failures(results, environ=os.environ)
    assert f"Diagnosis: proxy problem, for every source: proxy {proxy} refused the connection." in console.splitlines()
    assert f"HTTPS_PROXY={proxy}, HTTP_PROXY={proxy}; NO_PROXY not set" in console
    assert "no network" not in console
    assert "s3cr3t-pw" not in console + report and "agent" not in console + report
