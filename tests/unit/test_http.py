"""fetch() against a local HTTP server on 127.0.0.1: retries, Retry-After, timeouts, truncated bodies,
conditional GET, size limits. Never the internet."""

from __future__ import annotations

import hashlib
import http.server
import threading
import time

import pytest

from extract.errors import FetchError
from extract.http import FetchPolicy, fetch, parse_retry_after, redact

BODY = b"codeQPV;popMuniQPV\nQN01301M;4692\n"


class Script:
    """What the server answers, request after request."""

    def __init__(self):
        self.responses: list = []
        self.requests: list[dict] = []

    def next(self):
        return self.responses.pop(0) if len(self.responses) > 1 else self.responses[0]


@pytest.fixture
def server():
    script = Script()

    class Handler(http.server.BaseHTTPRequestHandler):
        protocol_version = "HTTP/1.1"

        def log_message(self, *args):
            pass

        def do_GET(self):
            script.requests.append({"path": self.path, "headers": dict(self.headers)})
            kind, arg = script.next()
            if kind == "ok":
                self.send_response(200)
                self.send_header("Content-Length", str(len(arg)))
                self.send_header("ETag", '"v1"')
                self.send_header("Last-Modified", "Wed, 21 Oct 2026 07:28:00 GMT")
                self.end_headers()
                self.wfile.write(arg)
            elif kind == "etag":
                if self.headers.get("If-None-Match") == '"v1"':
                    self.send_response(304)
                    self.send_header("ETag", '"v1"')
                    self.end_headers()
                else:
                    self.send_response(200)
                    self.send_header("Content-Length", str(len(arg)))
                    self.send_header("ETag", '"v1"')
                    self.end_headers()
                    self.wfile.write(arg)
            elif kind == "status":
                code, headers = arg
                body = b"error"
                self.send_response(code)
                for k, v in headers.items():
                    self.send_header(k, v)
                self.send_header("Content-Length", str(len(body)))
                self.end_headers()
                self.wfile.write(body)
            elif kind == "truncated":
                self.send_response(200)
                self.send_header("Content-Length", str(len(arg) + 1000))
                self.end_headers()
                self.wfile.write(arg)
                self.wfile.flush()
                self.close_connection = True
            elif kind == "slow":
                time.sleep(arg)
                self.send_response(200)
                self.send_header("Content-Length", "2")
                self.end_headers()
                self.wfile.write(b"ok")

    httpd = http.server.ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    httpd.daemon_threads = True
    thread = threading.Thread(target=httpd.serve_forever, daemon=True)
    thread.start()
    script.url = f"http://127.0.0.1:{httpd.server_address[1]}/data/pop_QPV24.csv"
    yield script
    httpd.shutdown()
    httpd.server_close()


def policy(**kw):
    base = dict(connect_timeout=2, read_timeout=2, retries=3, backoff=0.01, max_retry_after=5, max_bytes=10_000)
    base.update(kw)
    return FetchPolicy(**base)


def test_download_hashes_and_validators(server, tmp_path):
    server.responses = [("ok", BODY)]
    r = fetch(server.url, tmp_path, source_id="src", policy=policy())
    assert r.status == "downloaded" and r.path.read_bytes() == BODY
    assert r.sha256 == hashlib.sha256(BODY).hexdigest() and r.bytes == len(BODY)
    assert r.etag == '"v1"' and r.last_modified and r.filename == "pop_QPV24.csv"
    assert "observatoire" in server.requests[0]["headers"]["User-Agent"]


def test_retry_after_500_then_success(server, tmp_path):
    server.responses = [("status", (500, {})), ("status", (503, {})), ("ok", BODY)]
    r = fetch(server.url, tmp_path, source_id="src", policy=policy())
    assert r.path.read_bytes() == BODY and r.attempts == 3


def test_429_honours_retry_after(server, tmp_path):
    server.responses = [("status", (429, {"Retry-After": "1"})), ("ok", BODY)]
    slept = []
    r = fetch(server.url, tmp_path, source_id="src", policy=policy(), sleep=slept.append)
    assert r.status == "downloaded" and slept == [1.0]


def test_retry_after_too_long_is_a_clear_error(server, tmp_path):
    server.responses = [("status", (429, {"Retry-After": "3600"}))]
    with pytest.raises(FetchError, match="retry after 3600 s"):
        fetch(server.url, tmp_path, source_id="src", policy=policy(), sleep=lambda s: None)


def test_gives_up_after_bounded_retries(server, tmp_path):
    server.responses = [("status", (502, {}))]
    with pytest.raises(FetchError) as err:
        fetch(server.url, tmp_path, source_id="src", policy=policy(retries=2), sleep=lambda s: None)
    assert "gave up after 3 attempts: HTTP 502" in str(err.value) and server.url in str(err.value)
    assert len(server.requests) == 3
    assert list(tmp_path.iterdir()) == []  # nothing half-written


def test_404_is_not_retried(server, tmp_path):
    server.responses = [("status", (404, {}))]
    with pytest.raises(FetchError, match="HTTP 404"):
        fetch(server.url, tmp_path, source_id="src", policy=policy(), sleep=lambda s: None)
    assert len(server.requests) == 1


def test_timeout(server, tmp_path):
    server.responses = [("slow", 1.5)]
    with pytest.raises(FetchError, match="gave up after 2 attempts: .*Timeout"):
        fetch(server.url, tmp_path, source_id="src", policy=policy(read_timeout=0.3, retries=1), sleep=lambda s: None)


def test_truncated_body_is_an_error_never_a_short_file(server, tmp_path):
    server.responses = [("truncated", BODY)]
    with pytest.raises(FetchError, match="truncated body"):
        fetch(server.url, tmp_path, source_id="src", policy=policy(retries=1), sleep=lambda s: None)
    assert list(tmp_path.iterdir()) == []


def test_truncated_then_complete(server, tmp_path):
    server.responses = [("truncated", BODY), ("ok", BODY)]
    r = fetch(server.url, tmp_path, source_id="src", policy=policy(), sleep=lambda s: None)
    assert r.path.read_bytes() == BODY


def test_conditional_get_not_modified(server, tmp_path):
    server.responses = [("etag", BODY)]
    r = fetch(server.url, tmp_path, source_id="src", policy=policy(), validators={"etag": '"v1"'})
    assert r.status == "not_modified" and r.path is None
    assert server.requests[0]["headers"]["If-None-Match"] == '"v1"'


def test_size_limit_from_content_length_and_from_stream(server, tmp_path):
    server.responses = [("ok", b"x" * 500)]
    with pytest.raises(FetchError, match="size limit"):
        fetch(server.url, tmp_path, source_id="src", policy=policy(max_bytes=100))
    assert list(tmp_path.iterdir()) == []


def test_file_url_and_missing_file(tmp_path):
    f = tmp_path / "in.csv"
    f.write_bytes(BODY)
    out = tmp_path / "out"
    r = fetch(f.as_uri(), out, source_id="src")
    assert r.path.read_bytes() == BODY and r.filename == "in.csv"
    with pytest.raises(FetchError, match="local file not found"):
        fetch((tmp_path / "nope.csv").as_uri(), out, source_id="src")


def test_api_key_sent_as_header_never_in_messages(server, tmp_path, monkeypatch):
    monkeypatch.setenv("TEST_API_KEY", "s3cr3t-value")
    server.responses = [("status", (401, {}))]
    with pytest.raises(FetchError) as err:
        fetch(server.url + "?apikey=s3cr3t-value", tmp_path, source_id="src", policy=policy(),
              api_key_env="TEST_API_KEY")
    assert server.requests[0]["headers"]["Authorization"] == "Bearer s3cr3t-value"
    assert "s3cr3t-value" not in str(err.value)


def test_parse_retry_after_and_redact():
    assert parse_retry_after("7") == 7.0
    assert parse_retry_after("Wed, 21 Oct 2026 07:28:10 GMT", now=1792567680.0) == 10.0
    assert parse_retry_after("garbage") is None
    assert redact("https://u:p@h.fr/x?token=abc&a=1") == "https://h.fr/x?token=***&a=1"
