"""Classification of network errors (extract.http.classify_request_error) and the run's summary of fetch
failures (extract.diagnosis). Never the internet: real errors come from 127.0.0.1 (a closed port, a slow local
server) and from names under the reserved .invalid TLD, whose resolution is faked (no query leaves the machine)."""

from __future__ import annotations

import errno
import http.client
import http.server
import socket
import ssl
import threading
import time

import pytest
import requests
import urllib3.exceptions

from extract.diagnosis import CONSOLE_WIDTH, proxy_settings, short_url, summarize_fetch_failures
from extract.errors import FetchError, FormatError
from extract.http import classify_request_error, redact_proxy

LONG_QUERY = "?select=" + ",".join(f"champ_{i}" for i in range(150)) + "&apikey=s3cr3t"


@pytest.fixture
def no_dns(monkeypatch):
    """Names under .invalid fail to resolve at once, as without network; nothing is sent to a resolver."""
    real = socket.getaddrinfo

    def getaddrinfo(host, *args, **kwargs):
        if str(host).rstrip(".").endswith(".invalid"):
            raise socket.gaierror(socket.EAI_NONAME, "Name or service not known")
        return real(host, *args, **kwargs)

    monkeypatch.setattr(socket, "getaddrinfo", getaddrinfo)


@pytest.fixture
def closed_port():
    s = socket.socket()
    s.bind(("127.0.0.1", 0))
    port = s.getsockname()[1]
    s.close()
    return port


def raised(fn) -> BaseException:
    try:
        fn()
    except Exception as exc:  # noqa: BLE001 - the exception is what is tested
        return exc
    raise AssertionError("no exception")


# -- classification of real errors -----------------------------------------------------------------------------

def test_unresolvable_host_is_dns_and_fast(no_dns):
    exc = raised(lambda: requests.get("http://publisher.invalid/x.csv" + LONG_QUERY, timeout=2, proxies={}))
    problem = classify_request_error(exc)
    assert problem.cause == "dns" and problem.fast
    assert problem.text == "host name not resolved (Name or service not known)"


def test_refused_connection_to_the_publisher_keeps_the_retries(closed_port):
    exc = raised(lambda: requests.get(f"http://127.0.0.1:{closed_port}/x.csv", timeout=2, proxies={}))
    problem = classify_request_error(exc)
    assert (problem.cause, problem.text, problem.fast) == ("connect", "connection refused", False)


def test_proxy_refusing_is_proxy_and_fast(closed_port, no_dns):
    proxy = f"http://user:pw@127.0.0.1:{closed_port}"
    exc = raised(lambda: requests.get("https://publisher.invalid/x.csv" + LONG_QUERY, timeout=2,
                                      proxies={"https": proxy, "http": proxy}))
    problem = classify_request_error(exc, proxy=redact_proxy(proxy))
    assert problem.cause == "proxy" and problem.fast
    assert problem.text == f"proxy http://***@127.0.0.1:{closed_port} refused the connection"


def test_unresolvable_proxy_is_proxy_not_dns(no_dns):
    exc = raised(lambda: requests.get("http://publisher.invalid/x.csv", timeout=2,
                                      proxies={"http": "http://proxy.invalid:3128"}))
    problem = classify_request_error(exc, proxy="http://proxy.invalid:3128")
    assert problem.cause == "proxy" and problem.fast and "not resolved" in problem.text


def test_read_timeout_is_timeout_and_keeps_the_retries():
    class Slow(http.server.BaseHTTPRequestHandler):
        def do_GET(self):
            time.sleep(1.0)

        def log_message(self, *args):
            pass

    httpd = http.server.ThreadingHTTPServer(("127.0.0.1", 0), Slow)
    httpd.daemon_threads = True
    threading.Thread(target=httpd.serve_forever, daemon=True).start()
    try:
        exc = raised(lambda: requests.get(f"http://127.0.0.1:{httpd.server_address[1]}/x", timeout=(2, 0.2),
                                          proxies={}))
    finally:
        httpd.shutdown()
        httpd.server_close()
    problem = classify_request_error(exc, read_timeout=0.2)
    assert (problem.cause, problem.fast) == ("timeout", False)
    assert problem.text == "ReadTimeout: no answer within 0.2 s"


# -- classification of errors as other platforms and layers word them -------------------------------------------

def _wrapped(reason: BaseException, cls=requests.exceptions.ConnectionError) -> BaseException:
    """What requests raises: its exception around urllib3's MaxRetryError around the reason."""
    url = "/data-fair/api/v1/datasets/dpe03existant/lines" + LONG_QUERY
    return cls(urllib3.exceptions.MaxRetryError(None, url, reason))


@pytest.mark.parametrize("exc, cause, fast, words", [
    (requests.exceptions.ConnectionError(
        "HTTPSConnectionPool(host='data.ademe.fr', port=443): Max retries exceeded with url: /lines"
        + LONG_QUERY + " (Caused by NewConnectionError(': Failed to establish a new connection: "
        "[Errno 8] nodename nor servname provided, or not known'))"), "dns", True, "nodename nor servname"),
    (_wrapped(OSError("[Errno -3] Temporary failure in name resolution")), "dns", True, "temporary failure"),
    (_wrapped(OSError(errno.ENETUNREACH, "Network is unreachable")), "unreachable", True, "network unreachable"),
    (_wrapped(urllib3.exceptions.ProtocolError("Connection aborted.", ConnectionResetError(104, "reset by peer"))),
     "reset", False, "reset"),
    (_wrapped(urllib3.exceptions.ProtocolError("Connection aborted.", http.client.RemoteDisconnected("closed"))),
     "reset", False, "closed without an answer"),
    (_wrapped(urllib3.exceptions.ProxyError("Unable to connect to proxy", OSError(
        "Tunnel connection failed: 407 Proxy Authentication Required")), requests.exceptions.ProxyError),
     "proxy", True, "407 Proxy Authentication Required"),
    (_wrapped(urllib3.exceptions.ProxyError("Unable to connect to proxy", urllib3.exceptions.ConnectTimeoutError(
        "timed out")), requests.exceptions.ProxyError), "proxy", False, "did not answer in time"),
    (requests.exceptions.ConnectTimeout(_wrapped(urllib3.exceptions.ConnectTimeoutError("timed out"))),
     "timeout", False, "ConnectTimeout"),
    (requests.exceptions.SSLError(_wrapped(ssl.SSLCertVerificationError(
        1, "[SSL: CERTIFICATE_VERIFY_FAILED] certificate verify failed"))), "tls", False, "TLS verification failed"),
])
def test_classification(exc, cause, fast, words):
    problem = classify_request_error(exc, proxy="http://proxy.example:3128", connect_timeout=10)
    assert (problem.cause, problem.fast) == (cause, fast), problem
    assert words.lower() in problem.text.lower()
    assert "select=" not in problem.text and "s3cr3t" not in problem.text and len(problem.text) <= 160


def test_unknown_connection_error_is_connect_without_its_url():
    exc = requests.exceptions.ConnectionError("something odd with url: /lines" + LONG_QUERY)
    problem = classify_request_error(exc)
    assert (problem.cause, problem.fast) == ("connect", False)
    assert "s3cr3t" not in problem.text and "champ_" not in problem.text


# -- summary and diagnosis ---------------------------------------------------------------------------------------

def failure(source_id: str, url: str, problem: str, cause: str | None, *, millesime: int = 2024,
            proxy: str | None = None, attempts: int = 2, kind=FetchError) -> dict:
    """A failed result as observatoire.run.extraction.extract_source returns it."""
    host = url.split("/")[2] if "://" in url and not url.startswith("file:") else None
    if kind is FetchError:
        err = FetchError(source_id, f"gave up after {attempts} attempts: {problem}", url=url, cause=cause, host=host,
                         proxy=proxy, attempts=attempts)
    else:
        err = kind(source_id, problem, url=url, file="pop_QPV24.csv", line=3, column="popMuniQPV",
                   expected="a number", found="'quatre'")
    return {"source_id": source_id, "millesime": millesime, "status": "failed", "url": url, "error": err.as_dict()}


ADEME = "https://data.ademe.fr/data-fair/api/v1/datasets/dpe03existant/lines" + LONG_QUERY.replace("s3cr3t", "***")
INSEE = "https://www.insee.fr/fr/statistiques/fichier/8248519/pop_QPV24.csv"
CAF = "https://data.caf.fr/api/explore/v2.1/catalog/datasets/x/exports/csv?delimiter=%3B"
DNS = "host name not resolved (Name or service not known)"


def test_every_host_unresolved_gives_the_no_network_diagnosis():
    failed = [failure("ademe_dpe_existant", ADEME, DNS, "dns"), failure("insee_pop_qpv", INSEE, DNS, "dns", millesime=2021),
              failure("caf_allocataires_qpv", CAF, DNS, "dns")]
    console, report = summarize_fetch_failures(failed, environ={})
    lines = console.splitlines()
    assert lines[:3] == [
        f"  ademe_dpe_existant 2024: {DNS}, 2 attempts — https://data.ademe.fr/…",
        f"  insee_pop_qpv 2021: {DNS}, 2 attempts — https://www.insee.fr/…",
        f"  caf_allocataires_qpv 2024: {DNS}, 2 attempts — https://data.caf.fr/…",
    ]
    assert lines[3].startswith("Diagnosis: no network or proxy? No host name could be resolved (data.ademe.fr, "
                               "www.insee.fr, data.caf.fr)")
    assert "  Proxy settings (read by requests, like curl): HTTPS_PROXY/HTTP_PROXY/NO_PROXY not set." in console
    assert "export HTTPS_PROXY=" in console and "`make demo` runs on the project's recordings" in console
    assert all(len(line) <= CONSOLE_WIDTH for line in lines)
    assert "select=" not in console and "?" not in console.replace("no network or proxy?", "")
    # the report: the same lines and diagnosis, plus each full (redacted) URL and the whole error
    assert f"    URL: {ADEME}" in report and f"    URL: {CAF}" in report
    assert "error: [insee_pop_qpv] gave up after 2 attempts: host name not resolved" in report
    assert "cause dns, host data.ademe.fr, attempts 2" in report
    assert "Diagnosis: no network or proxy?" in report and "s3cr3t" not in report


def test_no_network_diagnosis_says_which_proxy_variables_are_set_without_credentials():
    failed = [failure("insee_pop_qpv", INSEE, DNS, "dns")]
    environ = {"https_proxy": "http://alice:hunter2@proxy.corp:3128", "NO_PROXY": "www.insee.fr,localhost"}
    console, report = summarize_fetch_failures(failed, environ=environ)
    assert "  Proxy settings (read by requests, like curl): https_proxy=http://***@proxy.corp:3128, " \
           "NO_PROXY=www.insee.fr,localhost; HTTP_PROXY not set.\n" in console
    assert "  A proxy is set but these hosts were requested directly: check NO_PROXY" in console
    assert "alice" not in console + report and "hunter2" not in console + report


def test_every_request_refused_by_the_proxy_gives_the_proxy_diagnosis():
    proxy = "http://***@127.0.0.1:3128"
    refused = f"proxy {proxy} refused the connection"
    failed = [failure("insee_pop_qpv", INSEE, refused, "proxy", proxy=proxy),
              failure("ademe_dpe_existant", ADEME, refused, "proxy", proxy=proxy)]
    environ = {"HTTPS_PROXY": "http://bob:pw@127.0.0.1:3128", "HTTP_PROXY": "http://bob:pw@127.0.0.1:3128"}
    console, report = summarize_fetch_failures(failed, environ=environ)
    lines = console.splitlines()
    assert lines[0] == f"  insee_pop_qpv 2024: {refused}, 2 attempts — https://www.insee.fr/…"
    assert lines[2] == f"Diagnosis: proxy problem, for every source: {refused}."
    assert "HTTPS_PROXY=http://***@127.0.0.1:3128, HTTP_PROXY=http://***@127.0.0.1:3128; NO_PROXY not set" in console
    assert "no network" not in console and "bob" not in console + report and ":pw@" not in console + report


def test_some_sources_worked_no_global_diagnosis():
    failed = [failure("insee_pop_qpv", INSEE, DNS, "dns")]
    worked = [{"source_id": "caf_allocataires_qpv", "millesime": 2024, "status": "new", "url": CAF}]
    console, report = summarize_fetch_failures(failed, succeeded=worked, environ={})
    assert console == f"  insee_pop_qpv 2024: {DNS}, 2 attempts — https://www.insee.fr/…"
    assert "Diagnosis" not in report and "Proxy settings seen by requests: HTTPS_PROXY/HTTP_PROXY/NO_PROXY not set" \
        in report


def test_mixed_causes_no_global_diagnosis():
    failed = [failure("insee_pop_qpv", INSEE, DNS, "dns"),
              failure("caf_allocataires_qpv", CAF, "HTTP 503 Service Unavailable", "http", attempts=5)]
    console, _ = summarize_fetch_failures(failed, environ={})
    assert console.splitlines()[1] == "  caf_allocataires_qpv 2024: HTTP 503 Service Unavailable, 5 attempts — " \
                                      "https://data.caf.fr/…"
    assert "Diagnosis" not in console


def test_a_local_file_missing_is_not_a_network_diagnosis():
    failed = [failure("insee_pop_qpv", "file:///srv/mirror/pop_QPV24.csv", "local file not found", "file")]
    failed[0]["error"]["problem"] = "local file not found"
    console, _ = summarize_fetch_failures(failed, environ={})
    assert console == "  insee_pop_qpv 2024: local file not found — file://…/pop_QPV24.csv"


def test_format_error_line_says_where_and_long_lines_are_cut():
    failed = [failure("insee_pop_qpv", INSEE, "value is not a number", None, kind=FormatError)]
    console, report = summarize_fetch_failures(failed, environ={})
    assert console.startswith("  insee_pop_qpv 2024: value is not a number (file pop_QPV24.csv, line 3, column "
                              "'popMuniQPV'); expected a number")
    assert console.endswith(" — https://www.insee.fr/…") and len(console) <= CONSOLE_WIDTH
    long = [failure("ademe_dpe_existant", ADEME, "x" * 400, "http", attempts=1)]
    line, _ = summarize_fetch_failures(long, environ={})
    assert len(line) == CONSOLE_WIDTH and "…" in line and line.endswith(" — https://data.ademe.fr/…")


def test_an_unexpected_error_is_listed_with_its_traceback_in_the_report():
    failed = [{"source_id": "insee_bpe", "millesime": 2024, "status": "failed", "url": INSEE,
               "error": {"kind": "internal", "source_id": "insee_bpe", "traceback": "Traceback …\nKeyError: 'x'",
                         "message": "[insee_bpe] unexpected error: KeyError: 'x'"}}]
    console, report = summarize_fetch_failures(failed, environ={})
    assert console == "  insee_bpe 2024: unexpected error: KeyError: 'x' — https://www.insee.fr/…"
    assert "    Traceback …\n    KeyError: 'x'" in report


def test_proxy_settings_and_short_url():
    assert proxy_settings({}) == {"HTTPS_PROXY": None, "HTTP_PROXY": None, "ALL_PROXY": None, "NO_PROXY": None}
    s = proxy_settings({"HTTPS_PROXY": "http://a:b@upper:1", "https_proxy": "http://lower:2", "ALL_PROXY": "p:3"})
    assert s["HTTPS_PROXY"] == "https_proxy=http://lower:2" and s["ALL_PROXY"] == "ALL_PROXY=http://p:3"
    assert redact_proxy("http://a:b@proxy:3128/") == "http://***@proxy:3128"
    assert short_url(ADEME) == "https://data.ademe.fr/…" and short_url("http://127.0.0.1:8080/x?y") == \
        "http://127.0.0.1:8080/…"
