"""Faults of a live download, end to end through the pipeline against a local HTTP server on 127.0.0.1:
each ends in a correct load or a clear error naming source, URL and problem, with nothing half-loaded and the
published warehouse unchanged."""

from __future__ import annotations

import io
import sqlite3
import zipfile

import pytest

from observatoire import pipeline
from observatoire.config import load_settings
from observatoire.pipeline import PipelineError, run
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
    ctx = pipeline.Context.create(load_settings())
    run_id = ctx.history.start_run(mode="demo", perimetre=ctx.settings.perimetre, trigger="test", params={})
    src = ctx.registry[source]
    items = [{"source_id": source, "millesime": src.latest_millesime, "target": src.latest_millesime}]
    try:
        return pipeline.extract_and_gate(ctx, run_id, items)[0]
    finally:
        pipeline.prune_raw(ctx, run_id)


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
