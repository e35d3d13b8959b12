"""fetch() against a local HTTP server on 127.0.0.1: retries, Retry-After, timeouts, truncated bodies,
conditional GET, size limits. Never the internet."""

from __future__ import annotations

import hashlib
import http.server
import logging
import socket
import threading
import time

import pytest
import requests

from extract.errors import FetchError, FormatError
from extract.http import FetchPolicy, fetch, parse_retry_after, redact, redact_text, secret_name
from tests.conftest import with_extract_settings
from tests.local_server import LocalServer, Reply

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
            elif kind == "drip":  # (bytes announced, seconds between two bytes): every read stays alive
                total, interval = arg
                self.send_response(200)
                self.send_header("Content-Length", str(total))
                self.end_headers()
                self.wfile.flush()
                try:
                    for _ in range(total):
                        self.wfile.write(b"x")
                        self.wfile.flush()
                        time.sleep(interval)
                except OSError:  # the client hung up
                    pass
                self.close_connection = True
            elif kind == "redirect":
                self.send_response(302)
                self.send_header("Location", arg)
                self.send_header("Content-Length", "0")
                self.end_headers()

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
    assert (err.value.cause, err.value.attempts, err.value.host) == ("http", 3, server.url.split("/")[2])
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


def test_timeouts_keep_the_full_retry_policy(server, tmp_path):
    server.responses = [("slow", 1.0)]
    slept = []
    with pytest.raises(FetchError) as err:
        fetch(server.url, tmp_path, source_id="src", policy=policy(read_timeout=0.2, retries=2, backoff=1),
              sleep=slept.append)
    assert err.value.cause == "timeout" and "ReadTimeout: no answer within 0.2 s" in err.value.problem
    assert len(slept) == 2 and 1 <= slept[0] < 1.2 and 2 <= slept[1] < 2.2  # exponential backoff, not fail-fast


@pytest.fixture
def no_dns(monkeypatch):
    """Names under .invalid fail to resolve at once, as without network; nothing is sent to a resolver."""
    real = socket.getaddrinfo

    def getaddrinfo(host, *args, **kwargs):
        if str(host).rstrip(".").endswith(".invalid"):
            raise socket.gaierror(socket.EAI_NONAME, "Name or service not known")
        return real(host, *args, **kwargs)

    monkeypatch.setattr(socket, "getaddrinfo", getaddrinfo)


def test_unresolvable_host_fails_fast_with_one_short_retry(no_dns, tmp_path, monkeypatch, caplog):
    for var in ("HTTP_PROXY", "HTTPS_PROXY", "ALL_PROXY", "http_proxy", "https_proxy", "all_proxy"):
        monkeypatch.delenv(var, raising=False)
    slept = []
    url = "https://publisher.invalid/data/pop_QPV24.csv?select=" + "x," * 500 + "&apikey=s3cr3t"
    with caplog.at_level(logging.WARNING, logger="extract.http"), pytest.raises(FetchError) as err:
        fetch(url, tmp_path, source_id="src", policy=policy(retries=4, backoff=2), sleep=slept.append)
    assert slept == [1.0]  # one quick retry, not 2 + 4 + 8 + 16 s of backoff
    e = err.value
    assert (e.cause, e.host, e.attempts, e.proxy) == ("dns", "publisher.invalid", 2, None)
    assert e.problem == "gave up after 2 attempts: host name not resolved (Name or service not known)"
    assert e.as_dict()["cause"] == "dns" and "s3cr3t" not in str(e)
    assert [r.getMessage() for r in caplog.records] == [
        "[src] publisher.invalid: host name not resolved (Name or service not known); one quick retry in 1.0 s"]


def test_unresolvable_host_without_retries_is_one_attempt(no_dns, tmp_path):
    slept = []
    with pytest.raises(FetchError, match="gave up after 1 attempt: host name not resolved"):
        fetch("http://publisher.invalid/x.csv", tmp_path, source_id="src", policy=policy(retries=0),
              sleep=slept.append)
    assert slept == []


def test_retry_lines_name_source_host_and_problem_never_the_query(server, tmp_path, caplog):
    server.responses = [("status", (503, {})), ("status", (503, {})), ("ok", BODY)]
    url = server.url + "?select=" + ",".join(f"champ_{i}" for i in range(300)) + "&apikey=s3cr3t"
    with caplog.at_level(logging.WARNING, logger="extract.http"):
        fetch(url, tmp_path, source_id="insee_pop_qpv", policy=policy(), sleep=lambda s: None)
    host = server.url.split("/")[2]
    lines = [r.getMessage() for r in caplog.records]
    assert len(lines) == 2
    for n, line in enumerate(lines, 1):
        assert line.startswith(f"[insee_pop_qpv] {host}: HTTP 503 Service Unavailable; retry {n}/3 in "), line
        assert "?" not in line and "champ_" not in line and "s3cr3t" not in line and len(line) < 160


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
    with_extract_settings(monkeypatch, api_keys={"TEST_API_KEY": "s3cr3t-value"})
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
    assert redact("https://u:p@h.fr/x?token=abc&a=1") == "https://***@h.fr/x?token=***&a=1"


# -- untrusted inputs: redaction, credentials across redirects, the overall deadline ---------------------------

def test_redact_masks_credentials_and_secret_parameters_and_keeps_everything_else():
    kept = ("https://api.insee.fr/melodi/data/DS?GEO=EPCI-200054807*COM&GEO=DEP-13&maxResult=40&page=2",
            "https://data.ademe.fr/lines?size=1000&select=a,b&qs=code_insee_ban:(13001%20OR%2013002)&after=10,a",
            "file:///home/me/recordings/pop_QPV24.csv", "http://h/x?keyword=qpv&author=insee&design=1&page=",
            "http://h:8080/p#section")
    for url in kept:
        assert redact(url) == url
    cases = {
        "https://u:p@h.fr/x?token=abc&a=1": "https://***@h.fr/x?token=***&a=1",
        "https://TOKEN@h.fr/x": "https://***@h.fr/x",
        "https://user:p@ss@h.fr:8443/x": "https://***@h.fr:8443/x",
        "http://h/x?apikey=K1&api_key=K2&apiKey=K3&APIKEY=K4&x=1": "http://h/x?apikey=***&api_key=***&apiKey=***&APIKEY=***&x=1",
        "http://h/x?access_token=A&client_secret=B&password=C&passwd=D&pwd=E": (
            "http://h/x?access_token=***&client_secret=***&password=***&passwd=***&pwd=***"),
        "http://h/x?sig=S&X-Amz-Signature=S2&X-Amz-Credential=C&auth=T&Subscription-Key=K": (
            "http://h/x?sig=***&X-Amz-Signature=***&X-Amz-Credential=***&auth=***&Subscription-Key=***"),
        "http://h/cb#access_token=T&state=1": "http://h/cb#access_token=***&state=1",
    }
    for url, expected in cases.items():
        assert redact(url) == expected, url
        assert redact(expected) == expected  # idempotent
    assert [n for n in ("token", "Token", "oauth_token", "X-Api-Key", "select", "GEO", "maxResult", "after")
            if secret_name(n)] == ["token", "Token", "oauth_token", "X-Api-Key"]


def test_redact_text_redacts_every_url_and_bare_query_string_in_a_message():
    text = ("HTTPConnectionPool(host='h', port=80): Max retries exceeded with url: /data?apikey=SECRET1&x=1 "
            "(Caused by NewConnectionError('fetching http://u:SECRET2@h/x?token=SECRET3).')); "
            "header Authorization: Bearer SECRET4abcdef; see https://h/doc.")
    out = redact_text(text)
    assert "SECRET" not in out
    assert "/data?apikey=***&x=1" in out and "http://***@h/x?token=***)." in out and "Bearer ***" in out
    assert out.endswith("see https://h/doc.")  # the sentence's punctuation is kept, the URL unchanged
    assert redact_text(None) is None and redact_text("no url here") == "no url here"


def test_extract_errors_store_and_render_only_redacted_urls():
    err = FormatError("src", "page 2 of http://h/p?token=SECRET is broken", url="https://u:SECRET@h/x?apikey=SECRET",
                      expected="a page like http://h/p?sig=SECRET", found="with url: /p?access_token=SECRET&n=2")
    assert "SECRET" not in str(err) and "SECRET" not in repr(err.as_dict())
    assert err.url == "https://***@h/x?apikey=***" and "— URL: https://***@h/x?apikey=***" in str(err)


class _RaisingSession(requests.Session):
    """requests raising an exception whose text quotes the whole URL (InvalidURL, a replay miss…)."""

    def request(self, method, url, *args, **kwargs):
        raise requests.exceptions.InvalidURL(f"cannot request {url} (invalid)")


def test_urllib3_debug_lines_are_redacted(server, tmp_path, caplog):
    server.responses = [("ok", BODY)]
    with caplog.at_level(logging.DEBUG):
        fetch(server.url + "?apikey=SECRETKEY&x=1", tmp_path, source_id="src", policy=policy())
    lines = [r.getMessage() for r in caplog.records if r.name.startswith("urllib3")]
    assert any("/data/pop_QPV24.csv?apikey=***&x=1" in line for line in lines), lines
    assert "SECRET" not in caplog.text


def test_an_exception_text_quoting_the_url_is_redacted(tmp_path):
    url = "https://user:SECRETPW@publisher.example/data.csv?apikey=SECRETKEY&x=1"
    with pytest.raises(FetchError) as err:
        fetch(url, tmp_path, source_id="src", policy=policy(), session=_RaisingSession())
    text = str(err.value) + repr(err.value.as_dict())
    assert "request failed: cannot request https://***@publisher.example/data.csv?apikey=***&x=1" in text
    assert "SECRET" not in text


@pytest.fixture
def two_servers():
    with LocalServer() as home, LocalServer() as other:
        yield home, other


def test_a_redirect_to_another_host_does_not_carry_the_api_key(two_servers, tmp_path, monkeypatch):
    home, other = two_servers  # 127.0.0.1 on two ports: two origins
    with_extract_settings(monkeypatch, api_keys={"TEST_API_KEY": "SECRETKEY"})
    home.routes["/data.csv"] = [Reply(302, b"", {"Location": home.url("/moved.csv")})]
    home.routes["/moved.csv"] = [Reply(302, b"", {"Location": other.url("/cdn/data.csv")})]
    other.routes["/cdn/data.csv"] = [Reply(200, BODY)]
    r = fetch(home.url("/data.csv"), tmp_path, source_id="src", policy=policy(), api_key_env="TEST_API_KEY")
    assert r.path.read_bytes() == BODY
    # same host: the key follows the redirect; another host (port): it does not, nor any Authorization
    assert [q["headers"].get("Authorization") for q in home.requests] == ["Bearer SECRETKEY"] * 2
    assert [q["path"] for q in other.requests] == ["/cdn/data.csv"]
    assert not {k.lower() for k in other.requests[0]["headers"]} & {"authorization", "x-api-key"}
    assert "SECRETKEY" not in repr(other.requests)


def test_a_redirect_to_a_file_url_is_refused(two_servers, tmp_path):
    home, _ = two_servers
    home.routes["/data.csv"] = [Reply(301, b"", {"Location": "file:///etc/passwd"})]
    with pytest.raises(FetchError) as err:
        fetch(home.url("/data.csv"), tmp_path, source_id="src", policy=policy())
    assert "redirect to a file:// URL, not followed" in str(err.value) and err.value.cause == "request"
    assert "root:" not in str(err.value) and list(tmp_path.iterdir()) == []


def test_a_server_dripping_bytes_is_cut_at_the_deadline(server, tmp_path):
    server.responses = [("drip", (1000, 0.2))]  # a byte every 0.2 s: each read is well within its timeout
    start = time.monotonic()
    with pytest.raises(FetchError) as err:
        fetch(server.url, tmp_path, source_id="src", policy=policy(read_timeout=1, deadline=2),
              sleep=lambda s: None)
    elapsed = time.monotonic() - start
    e = err.value
    assert 1.9 < elapsed < 3.5, elapsed
    assert e.cause == "timeout" and "cut at the deadline of 2 s (OBSERVATOIRE_HTTP_DEADLINE)" in e.problem
    received = int(e.problem.split("after receiving ")[1].split()[0])
    assert 5 <= received <= 12, e.problem
    assert len(server.requests) == 1  # not retried: the deadline is for the whole download
    assert list(tmp_path.iterdir()) == []  # the partial file removed


def test_no_deadline_when_it_is_zero(server, tmp_path):
    server.responses = [("drip", (8, 0.15))]
    r = fetch(server.url, tmp_path, source_id="src", policy=policy(read_timeout=1, deadline=0))
    assert r.path.read_bytes() == b"x" * 8
