"""Untrusted inputs stay in their place (issue 18): credentials in an override URL are written nowhere (data
directory, published file, snapshot, console), a paged API's link to a ``file://`` URL is not read, and a history
database written before is rewritten redacted. Against local HTTP servers on 127.0.0.1, never the internet."""

from __future__ import annotations

import hashlib
import json
import sqlite3
import zipfile
from pathlib import Path

import duckdb
import pytest

from extract.http import redact
from observatoire.config import load_settings
from observatoire.errors import PipelineError
from observatoire.history import SCHEMA, History, url_key
from observatoire.run.conductor import land
from observatoire.run.context import Context
from tests.conftest import RECORDINGS, run_cli
from tests.local_server import LocalServer, Reply

pytestmark = pytest.mark.slow

POP = (RECORDINGS / "insee_pop_qpv" / "2021" / "pop_QPV24.csv").read_bytes()


def _pop_v2() -> bytes:
    """A valid new version of the file (one population changed): it lands, passes its gate and is published."""
    lines = POP.decode("utf-8").split("\n")
    fields = lines[1].split(";")
    fields[8] = str(int(fields[8]) + 11)
    lines[1] = ";".join(fields)
    return "\n".join(lines).encode("utf-8")


@pytest.fixture
def server():
    with LocalServer() as srv:
        yield srv


# -- where a needle could hide under a data directory --------------------------------------------------------------

def _duckdb_hits(con, needle: str, where: str) -> list[str]:
    hits = []
    cols = con.execute("SELECT table_catalog, table_schema, table_name, column_name FROM information_schema.columns "
                       "WHERE data_type = 'VARCHAR'").fetchall()
    for catalog, schema, table, column in cols:
        n = con.execute(f'SELECT count(*) FROM "{catalog}"."{schema}"."{table}" WHERE "{column}" LIKE ?',
                        [f"%{needle}%"]).fetchone()[0]
        if n:
            hits.append(f"{where}: {schema}.{table}.{column}")
    return hits


def find_everywhere(root: Path, needle: str) -> list[str]:
    """Every file under ``root`` holding ``needle``: its bytes; the members of a ZIP (XLSX, landed archives),
    whose bytes are compressed; the string columns of a DuckDB or Parquet file, which may be compressed too."""
    raw = needle.encode()
    hits = []
    for path in sorted(p for p in root.rglob("*") if p.is_file()):
        data = path.read_bytes()
        if raw in data:
            hits.append(str(path))
        if data[:4] == b"PK\x03\x04":
            with zipfile.ZipFile(path) as zf:
                hits += [f"{path}!{n}" for n in zf.namelist() if raw in zf.read(n)]
        if path.suffix == ".duckdb":
            con = duckdb.connect(str(path), read_only=True)
            try:
                hits += _duckdb_hits(con, needle, str(path))
            finally:
                con.close()
        if path.suffix == ".parquet":
            con = duckdb.connect()
            try:
                quoted = str(path).replace("'", "''")
                con.execute(f"CREATE VIEW p AS SELECT * FROM read_parquet('{quoted}')")
                hits += _duckdb_hits(con, needle, str(path))
            finally:
                con.close()
    return hits


# -- credentials in an override URL ------------------------------------------------------------------------------

def test_credentials_in_an_override_url_are_written_nowhere(server, demo_copy):
    server.routes["/pop_QPV24.csv"] = [Reply(200, _pop_v2(), etag='"v2"')]
    port = server.httpd.server_address[1]
    keyed = f"http://127.0.0.1:{port}/pop_QPV24.csv?apikey=SECRETKEY&x=1"
    console = []

    # a run that loads and publishes from the URL, then an edition of what it published
    proc = run_cli("run", "--source", "insee_pop_qpv", env={"OBSERVATOIRE_URL_INSEE_POP_QPV": keyed})
    console.append(proc.stdout + proc.stderr)
    assert proc.returncode == 0, proc.stdout + proc.stderr
    assert [r["path"] for r in server.requests] == ["/pop_QPV24.csv"]  # the override was used
    proc = run_cli("snapshot", "create", "--edition", "2025", "--demo")
    console.append(proc.stdout + proc.stderr)
    assert proc.returncode == 0, proc.stdout + proc.stderr

    # the same URL again: the HTTP validators, stored under the hash of the full URL, still match it
    proc = run_cli("run", "--source", "insee_pop_qpv", env={"OBSERVATOIRE_URL_INSEE_POP_QPV": keyed})
    console.append(proc.stdout + proc.stderr)
    assert proc.returncode == 0, proc.stdout + proc.stderr
    history = History(demo_copy / "meta" / "history.sqlite")
    shown = f"http://127.0.0.1:{port}/pop_QPV24.csv?apikey=***&x=1"
    assert history.http_validators(keyed)["etag"] == '"v2"' and history.http_validators(shown)["etag"] == '"v2"'

    # a run that fails on a URL with a user and password, and a token
    server.routes["/missing.csv"] = [Reply(404, b"no such file: /missing.csv?token=SECRETTOKEN")]
    failing = f"http://agent:SECRETPW@127.0.0.1:{port}/missing.csv?token=SECRETTOKEN&y=2"
    proc = run_cli("run", "--source", "insee_pop_qpv", env={"OBSERVATOIRE_URL_INSEE_POP_QPV": failing})
    console.append(proc.stdout + proc.stderr)
    assert proc.returncode != 0 and "HTTP 404" in proc.stdout + proc.stderr, proc.stdout + proc.stderr
    assert server.requests[-1]["headers"]["Authorization"].startswith("Basic ")  # (the password was sent, to it)
    proc = run_cli("status")
    console.append(proc.stdout + proc.stderr)

    # the URLs are there, redacted: in the history, the published file's meta schema and the snapshot manifest
    rows = history.query("SELECT url FROM manifest WHERE source_id = 'insee_pop_qpv' AND url LIKE 'http://%'")
    assert [r["url"] for r in rows] == [shown]
    con = duckdb.connect(str(demo_copy / "warehouse" / "observatoire.duckdb"), read_only=True)
    try:
        assert shown in [r[0] for r in con.execute("SELECT url FROM meta.manifest").fetchall()]
    finally:
        con.close()
    snapshot = json.loads((demo_copy / "snapshots" / "2025" / "manifest.json").read_text(encoding="utf-8"))
    assert shown in [s["url"] for s in snapshot["sources"]]
    failure = history.last_runs(1)[0]
    assert failure["status"] == "failed" and f"http://***@127.0.0.1:{port}/missing.csv?token=***&y=2" in \
        failure["error"]

    # and SECRET nowhere: not a file of the data directory (history, published file, snapshot, reports, Data
    # Docs…), not the console; where the redacted URL is, the search looks
    seen = find_everywhere(demo_copy, "apikey=***&x=1")
    for place in ("history.sqlite", "observatoire.duckdb: meta.manifest.url", "2025/manifest.json"):
        assert [h for h in seen if place in h], (place, seen)
    assert find_everywhere(demo_copy, "SECRET") == []
    assert not [c for c in console if "SECRET" in c]


# -- a paged API's next link to a local file ------------------------------------------------------------------

def test_a_next_link_to_a_file_url_is_not_read_and_its_content_appears_nowhere(server, demo_copy, monkeypatch):
    secret_file = Path("/etc/passwd")
    assert b"root:" in secret_file.read_bytes()
    page = {"identifier": "DS_POPULATIONS_REFERENCE",
            "observations": [{"dimensions": {"GEO": "2025-COM-13001", "FREQ": "A", "TIME_PERIOD": "2021",
                                             "POPREF_MEASURE": "PMUN"},
                              "measures": {"OBS_VALUE_NIVEAU": {"value": 100.0}}}],
            "paging": {"next": secret_file.as_uri(), "isLast": False}}
    server.routes["/melodi/data/DS_POPULATIONS_REFERENCE"] = [
        Reply(200, json.dumps(page).encode(), {"Content-Type": "application/json"})]
    monkeypatch.setenv("OBSERVATOIRE_URL_INSEE_MELODI_POPULATION",
                       server.url("/melodi/data/DS_POPULATIONS_REFERENCE?GEO=DEP-13&maxResult=1"))
    ctx = Context.create(load_settings())
    run_id = ctx.history.start_run(mode="demo", perimetre=ctx.settings.perimetre, trigger="test", params={})
    src = ctx.registry["insee_melodi_population"]
    items = [{"source_id": src.id, "millesime": src.latest_millesime, "target": src.latest_millesime}]
    with pytest.raises(PipelineError) as err:
        land(ctx, run_id, items)
    ctx.history.finish_run(run_id, "failed", error=str(err.value), details_path=str(err.value.details_path))
    text = str(err.value) + getattr(err.value, "console", "")
    assert "[insee_melodi_population] page 1's next link points to file://: not followed" in text
    assert f"expected a next link on http://127.0.0.1:{server.httpd.server_address[1]}" in text
    assert len(server.requests) == 1
    report = err.value.details_path.read_text(encoding="utf-8")
    assert "page 1's next link points to file://" in report
    for needle in ("root:", "/etc/passwd"):
        assert needle not in text and needle not in report
        assert find_everywhere(demo_copy, needle) == [], needle


# -- a history written before: rewritten redacted when opened ------------------------------------------------------

def _old_schema() -> str:
    old = SCHEMA.replace("    url_key TEXT,\n    PRIMARY KEY (source_id", "    PRIMARY KEY (source_id")
    old = old.replace("    url_key TEXT PRIMARY KEY,\n    url TEXT,\n", "    url TEXT PRIMARY KEY,\n")
    assert old.count("url_key") == 0
    return old


def test_an_existing_history_is_rewritten_redacted_once(tmp_path):
    path = tmp_path / "meta" / "history.sqlite"
    path.parent.mkdir()
    full = "https://user:SECRETPW@publisher.example/pop.csv?apikey=SECRETKEY&x=1"
    plain = "https://www.insee.fr/fr/statistiques/fichier/8210600/pop_QPV24.csv"
    con = sqlite3.connect(path)
    con.executescript(_old_schema())
    manifest = ("INSERT INTO manifest (source_id, millesime, sha256, url, url_origin, bytes, fetched_at, last_seen_at, "
                "raw_path, status, validation) VALUES (?, 2021, ?, ?, 'override', 1, 't', 't', 'raw/x', 'accepted', ?)")
    con.execute(manifest, ("insee_pop_qpv", "a" * 64, full, json.dumps({"parse_error": {"url": full}})))
    con.execute(manifest, ("insee_pop_qpv", "b" * 64, plain, None))
    con.execute("INSERT INTO http_validators VALUES (?, '\"v1\"', NULL, ?, 't')", (full, "a" * 64))
    con.execute("INSERT INTO http_validators VALUES (?, '\"v9\"', NULL, ?, 't')", (plain, "b" * 64))
    con.execute("INSERT INTO runs (run_id, started_at, status, mode, error) VALUES ('r1', 't', 'failed', 'live', ?)",
                (f"[insee_pop_qpv] HTTP 404 — URL: {full}",))
    con.execute("INSERT INTO steps (run_id, step, target, status, started_at, message) VALUES ('r1', 'extract', "
                "'insee_pop_qpv/2021', 'failed', 't', ?)", ("request failed: with url: /pop.csv?apikey=SECRETKEY",))
    con.commit()
    con.close()

    history = History(path)
    row = history.query("SELECT url, url_key, validation FROM manifest WHERE sha256 = ?", ("a" * 64,))[0]
    assert row["url"] == redact(full) == "https://***@publisher.example/pop.csv?apikey=***&x=1"
    assert row["url_key"] == url_key(full) and "SECRET" not in row["validation"]
    assert json.loads(row["validation"]) == {"parse_error": {"url": redact(full)}}  # still JSON
    assert history.query("SELECT url FROM manifest WHERE sha256 = ?", ("b" * 64,))[0]["url"] == plain
    # the validators still match the next fetch of the full URL (and of the URL without secrets)
    assert history.http_validators(full)["etag"] == '"v1"' and history.http_validators(plain)["etag"] == '"v9"'
    assert history.http_validators(redact(full))["etag"] == '"v1"'  # (what the pipeline reads in the manifest)
    assert history.get_run("r1")["error"].endswith("URL: https://***@publisher.example/pop.csv?apikey=***&x=1")
    assert history.steps("r1")[0]["message"] == "request failed: with url: /pop.csv?apikey=***"
    # the old bytes are gone from the file (vacuumed), and opening it again changes nothing
    files = [p for p in path.parent.iterdir() if p.is_file()]
    assert not [p for p in files if b"SECRET" in p.read_bytes()]
    before = hashlib.sha256(path.read_bytes()).hexdigest()
    History(path)
    assert hashlib.sha256(path.read_bytes()).hexdigest() == before
    # new writes are redacted on their way in
    history.step("r1", "extract", "other", "failed", f"boom on {full}")
    history.finish_run("r1", "failed", error=f"ConnectionError: {full}", summary={"url": full})
    assert not [p for p in path.parent.iterdir() if p.is_file() and b"SECRET" in p.read_bytes()]
    assert "SECRET" not in repr(history.export_tables())
    assert "url_key" not in history.export_tables()["manifest"][0]


# -- the webhook -------------------------------------------------------------------------------------------------

def test_the_failure_webhook_sends_only_redacted_urls(server):
    from extract.errors import FetchError
    from observatoire.notify import failure_summary, post_webhook

    url = "https://agent:SECRETPW@publisher.example/data.csv?apikey=SECRETKEY&x=1"
    error = RuntimeError(f"extract failed:\n{FetchError('insee_pop_qpv', 'HTTP 404', url=url)}\nraw: {url}")
    text = failure_summary(dag_id="observatoire_nightly", task_id="sources.extract", run_id="r", map_index=3,
                           error=error, observatoire_run="o")
    assert "SECRET" not in text and "https://***@publisher.example/data.csv?apikey=***&x=1" in text
    assert post_webhook(server.url("/hook"), text, {"detail": {"urls": [url, f'quoted "{url}"\\']}})
    body = server.posts[0]["body"].decode()
    assert "SECRET" not in body
    sent = json.loads(body)
    assert sent["text"] == text and sent["detail"]["urls"][0] == redact(url)
