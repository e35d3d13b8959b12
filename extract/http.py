"""Fetch a URL to a local file: I/O only, no parsing.

What every fetch does:

* timeouts (connect, read) and bounded retries with exponential backoff on connection errors,
  timeouts, truncated bodies, HTTP 429 and 5xx, honouring ``Retry-After`` (seconds or HTTP date);
* fail fast when the network is plainly absent: a host name that does not resolve, a network with no route,
  or a proxy that cannot be reached or refuses the tunnel get one quick retry, not the backoff series;
  every network error is classified (:func:`classify_request_error`: ``dns``, ``proxy``, ``timeout``…) into
  the raised error's ``cause`` so a run can diagnose it (:mod:`extract.diagnosis`);
* one log line per retry naming the source, the host and the problem, never the URL's query string;
* conditional GET: ``If-None-Match`` / ``If-Modified-Since`` from the validators of the last successful
  load of this exact URL; a 304 answer means "unchanged";
* streaming to a temporary file while computing the sha256, with a size limit (checked against
  ``Content-Length`` before reading and against the bytes actually read);
* a truncated body (connection closed before ``Content-Length`` bytes) is an error, never a short file;
* an overall deadline per file (``OBSERVATOIRE_HTTP_DEADLINE``) besides the read timeout: a server sending a
  byte now and then is cut there (cause ``timeout``), the partial file removed;
* TLS verification on; an optional API key read from an environment variable, sent as a header and
  never logged, only to the scheme, host and port requested: redirects are followed hop by hop here and a hop
  to another host goes without it (:func:`_get`);
* every URL written anywhere goes through :func:`redact` (credentials of the netloc, secret query parameters),
  every text that may quote one through :func:`redact_text`;
* ``file://`` URLs read a local file through the same code path (demo recordings, mirrors);
* progress: ``progress(received, total)`` is called as the body arrives (bytes received, bytes announced by
  ``Content-Length`` or None); the command line draws it, nothing is drawn here (library and Airflow use stay
  silent).

Settings (environment): ``OBSERVATOIRE_HTTP_TIMEOUT`` (read timeout, s, default 60),
``OBSERVATOIRE_HTTP_RETRIES`` (default 4), ``OBSERVATOIRE_HTTP_BACKOFF`` (base delay, s, default 2),
``OBSERVATOIRE_HTTP_MAX_RETRY_AFTER`` (cap on a server's Retry-After, s, default 300),
``OBSERVATOIRE_MAX_BYTES`` (default size limit, bytes, default 2 GiB), ``OBSERVATOIRE_HTTP_DEADLINE`` (s per file,
default 1800, 0: none).
"""

from __future__ import annotations

import email.utils
import errno
import hashlib
import http.client
import logging
import os
import random
import re
import socket
import ssl
import tempfile
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from urllib.parse import unquote, urljoin, urlparse, urlsplit
from urllib.request import url2pathname

import requests
import urllib3.exceptions
import urllib3.response

from extract.errors import FetchError
from extract.redaction import (  # noqa: F401 - re-exported: callers import them from here
    MASK,
    SECRET_SUFFIXES,
    SECRET_WORDS,
    RedactingFilter,
    redact,
    redact_data,
    redact_text,
    secret_name,
)
from extract.settings import current

log = logging.getLogger(__name__)

USER_AGENT = "observatoire-quartiers-amp/0.1 (+https://www.ampmetropole.fr; contrat de ville 2024-2030)"
CHUNK = 1 << 20
RETRYABLE_STATUS = {429, 500, 502, 503, 504}
FAST_RETRIES = 1  # quick retries left to a "network plainly absent" problem (dns, unreachable, proxy refusing)
FAST_RETRY_DELAY = 1.0  # at most this many seconds before that quick retry
LOG_PROBLEM_CHARS = 160
MAX_REDIRECTS = 10
DEFAULT_PORTS = {"http": 80, "https": 443}


@dataclass
class FetchPolicy:
    """How a file is fetched; each limit defaults to the installed settings' (:mod:`extract.settings`)."""

    connect_timeout: float = 10.0
    read_timeout: float = field(default_factory=lambda: current().http_timeout)
    retries: int = field(default_factory=lambda: current().http_retries)
    backoff: float = field(default_factory=lambda: current().http_backoff)
    max_retry_after: float = field(default_factory=lambda: current().http_max_retry_after)
    max_bytes: int = field(default_factory=lambda: current().max_bytes)
    deadline: float = field(default_factory=lambda: current().http_deadline)  # s per file, 0: none


@dataclass
class Deadline:
    """The overall time a download may take (``OBSERVATOIRE_HTTP_DEADLINE``), whatever the server does within the
    read timeout (a server sending a byte now and then keeps every read alive), and the bytes received meanwhile.
    One deadline covers every attempt of a file, and every page of a paged API."""

    seconds: float
    started: float = field(default_factory=time.monotonic)
    received: int = 0

    @classmethod
    def of(cls, policy: FetchPolicy) -> Deadline | None:
        return cls(float(policy.deadline)) if policy.deadline and policy.deadline > 0 else None

    def remaining(self) -> float:
        return self.started + self.seconds - time.monotonic()

    def passed(self) -> bool:
        return self.remaining() <= 0

    def error(self, source_id: str, url: str, *, what: str = "download", at: str | None = None,
              last_problem: str | None = None, attempts: int | None = None, proxy: str | None = None) -> FetchError:
        problem = (f"{what} cut at the deadline of {self.seconds:g} s (OBSERVATOIRE_HTTP_DEADLINE)"
                   + (f" at {at}" if at else "") + f", after receiving {self.received} bytes")
        if last_problem:
            problem += f"; last problem: {last_problem}"
        return FetchError(source_id, problem, url=redact(url), expected=f"the whole {what} within {self.seconds:g} s",
                          cause="timeout", host=_host_label(url) or None, proxy=proxy, attempts=attempts)


@dataclass
class FetchResult:
    url: str
    status: str  # "downloaded" or "not_modified"
    path: Path | None = None
    sha256: str | None = None
    bytes: int = 0
    http_status: int | None = None
    etag: str | None = None
    last_modified: str | None = None
    content_type: str | None = None
    attempts: int = 1

    @property
    def filename(self) -> str:
        """The last path segment of the URL (used in messages and for the landed file's extension)."""
        name = unquote(urlparse(self.url).path.rsplit("/", 1)[-1])
        return name or "download"


def parse_retry_after(value: str | None, now: float | None = None) -> float | None:
    """Seconds to wait from a ``Retry-After`` header (delta-seconds or HTTP date)."""
    if not value:
        return None
    value = value.strip()
    if value.isdigit():
        return float(value)
    try:
        dt = email.utils.parsedate_to_datetime(value)
    except (TypeError, ValueError):
        return None
    if dt is None:
        return None
    now = time.time() if now is None else now
    return max(0.0, dt.timestamp() - now)


def origin(url: str) -> tuple[str, str, int | None]:
    """``(scheme, host, port)`` of a URL, the port made explicit for http and https (80, 443): what must be equal
    for a request to go to the same place as another (credentials, pagination links)."""
    parts = urlsplit(url)
    scheme = parts.scheme.lower()
    try:
        port = parts.port
    except ValueError:
        port = None
    return scheme, (parts.hostname or "").lower(), port or DEFAULT_PORTS.get(scheme)


def origin_label(url: str) -> str:
    """``scheme://host[:port]`` of a URL: what messages show of a URL that must not be quoted (no credentials,
    no path, no query)."""
    parts = urlsplit(url)
    host = parts.hostname or ""
    try:
        port = parts.port
    except ValueError:
        port = None
    return f"{parts.scheme.lower()}://{host}" + (f":{port}" if port else "")


def redact_proxy(proxy: str | None) -> str | None:
    """A proxy URL as shown in messages: credentials masked (``http://***@proxy:3128``), no path or query."""
    if not proxy:
        return None
    parsed = urlparse(proxy if "://" in proxy else f"http://{proxy}")
    netloc = parsed.hostname or ""
    if parsed.port:
        netloc += f":{parsed.port}"
    if parsed.username or parsed.password:
        netloc = f"***@{netloc}"
    return f"{parsed.scheme}://{netloc}"


def proxy_for(url: str, session: requests.Session | None = None) -> str | None:
    """The proxy requests will use for ``url`` (``HTTPS_PROXY``/``HTTP_PROXY``/``ALL_PROXY`` and ``NO_PROXY`` of the
    environment, or the session's own ``proxies``), credentials masked; ``None`` for a direct connection."""
    session = session or requests.Session()
    try:
        proxies = session.merge_environment_settings(url, {}, None, None, None).get("proxies") or {}
        return redact_proxy(requests.utils.select_proxy(url, proxies))
    except Exception:  # noqa: BLE001 - only used in messages
        return None


# -- classification of network errors ------------------------------------------------------------------------

@dataclass(frozen=True)
class NetworkProblem:
    """A network error, classified: ``cause`` (see :data:`extract.errors.FETCH_CAUSES`), a short ``text`` that
    names the proxy when one is involved but never the URL nor the host, and ``fast``: the network is plainly
    absent or the proxy refuses, so one quick retry at most (a timeout, a reset, a refused connection to the
    publisher keep the full retry policy)."""

    cause: str
    text: str
    fast: bool


_DNS_TEXTS = ("name or service not known", "temporary failure in name resolution", "nodename nor servname",
              "no address associated with hostname", "getaddrinfo failed", "failed to resolve",
              "name resolution", "no such host is known")
_UNREACHABLE_ERRNOS = {errno.ENETUNREACH, errno.EHOSTUNREACH, getattr(errno, "ENETDOWN", -1)}
_RESET_ERRNOS = {errno.ECONNRESET, errno.ECONNABORTED, errno.EPIPE}


def _chain(exc: BaseException) -> list[BaseException]:
    """``exc`` and what it wraps (requests → urllib3 MaxRetryError → reason → socket error), breadth first."""
    out: list[BaseException] = []
    todo: list[BaseException] = [exc]
    seen: set[int] = set()
    while todo and len(out) < 24:
        e = todo.pop(0)
        if id(e) in seen:
            continue
        seen.add(id(e))
        out.append(e)
        nxt = [getattr(e, "reason", None), getattr(e, "original_error", None), e.__cause__, e.__context__]
        nxt += [a for a in getattr(e, "args", ()) if isinstance(a, BaseException)]
        todo += [n for n in nxt if isinstance(n, BaseException)]
    return out


def _scrub(text: str) -> str:
    """An exception text without the URL it may quote (urllib3 quotes path and query string: secrets, kilobytes)."""
    text = re.sub(r"with url: \S+", "with url: …", text)
    text = re.sub(r"(https?://[^/\s'\"?]+)[^\s'\"]*", r"\1/…", text)
    text = re.sub(r"\?[^\s'\"]*", "?…", text)
    return shorten(text, LOG_PROBLEM_CHARS)


def shorten(text: str, limit: int) -> str:
    """``text`` on one line, cut to ``limit`` characters with an ellipsis."""
    text = " ".join(str(text).split())
    return text if len(text) <= limit else text[: limit - 1] + "…"


def _dns_reason(chain: list[BaseException]) -> str | None:
    for e in chain:
        if isinstance(e, socket.gaierror):
            return e.strerror or str(e)
    for e in chain:
        if isinstance(e, urllib3.exceptions.NameResolutionError):
            m = re.search(r"\((\[Errno [^]]*\] )?([^()]*)\)\s*$", str(e))
            return m.group(2) if m else "name resolution failed"
    for e in chain:
        low = str(e).lower()
        for t in _DNS_TEXTS:
            if t in low:
                return t if t != "failed to resolve" else "name resolution failed"
    return None


def _errno_in(chain: list[BaseException], codes: set[int]) -> bool:
    return any(isinstance(e, OSError) and e.errno in codes for e in chain)


def _text_in(chain: list[BaseException], *needles: str) -> bool:
    return any(n in str(e).lower() for e in chain for n in needles)


def _tls_detail(chain: list[BaseException]) -> str | None:
    """Why the certificate was refused (``self-signed certificate in certificate chain``: often a proxy that
    inspects TLS), when the ssl module says."""
    return next((e.verify_message for e in chain if isinstance(e, ssl.SSLCertVerificationError)
                 and getattr(e, "verify_message", None)), None)


def classify_request_error(exc: BaseException, *, proxy: str | None = None, connect_timeout: float | None = None,
                           read_timeout: float | None = None) -> NetworkProblem:
    """Classify an exception raised by requests (or urllib3, or the socket layer) for a request sent through
    ``proxy`` if one is used. The text never quotes the URL nor the host (the caller names it)."""
    chain = _chain(exc)
    via = proxy or "the proxy"
    dns = _dns_reason(chain)
    # urllib3's NewConnectionError (refused, unresolved…) subclasses its ConnectTimeoutError: not a timeout
    timeout = any(isinstance(e, (requests.exceptions.Timeout, urllib3.exceptions.TimeoutError, TimeoutError,
                                 socket.timeout)) and not isinstance(e, urllib3.exceptions.NewConnectionError)
                  for e in chain)
    unreachable = _errno_in(chain, _UNREACHABLE_ERRNOS) or _text_in(chain, "network is unreachable",
                                                                     "no route to host")
    refused = (any(isinstance(e, ConnectionRefusedError) for e in chain)
               or _errno_in(chain, {errno.ECONNREFUSED}) or _text_in(chain, "connection refused"))
    reset = (any(isinstance(e, (ConnectionResetError, ConnectionAbortedError, BrokenPipeError,
                                http.client.RemoteDisconnected, urllib3.exceptions.ProtocolError)) for e in chain)
             or _errno_in(chain, _RESET_ERRNOS) or _text_in(chain, "connection reset", "connection aborted",
                                                           "remote end closed connection"))
    if any(isinstance(e, (requests.exceptions.ProxyError, urllib3.exceptions.ProxyError)) for e in chain):
        tunnel = next((m for e in chain if (m := re.search(r"tunnel connection failed: (.*)", str(e), re.I))), None)
        if tunnel:
            status = tunnel.group(1).strip().rstrip("')\"")
            refusing = status[:3] in ("407", "403")
            return NetworkProblem("proxy", shorten(f"proxy {via} refused the tunnel ({status})", LOG_PROBLEM_CHARS),
                                  refusing)
        if dns:
            return NetworkProblem("proxy", f"proxy {via} not resolved ({dns})", True)
        if refused:
            return NetworkProblem("proxy", f"proxy {via} refused the connection", True)
        if unreachable:
            return NetworkProblem("proxy", f"proxy {via} unreachable (no route)", True)
        if timeout:
            return NetworkProblem("proxy", f"proxy {via} did not answer in time", False)
        return NetworkProblem("proxy", f"proxy {via} failed: {_scrub(str(chain[-1]))}", False)
    if any(isinstance(e, (requests.exceptions.SSLError, ssl.SSLError, urllib3.exceptions.SSLError)) for e in chain):
        detail = _tls_detail(chain)
        return NetworkProblem("tls", "TLS verification failed" + (f" ({detail})" if detail else ""), False)
    if dns:
        return NetworkProblem("dns", f"host name not resolved ({dns})", True)
    if timeout:
        if isinstance(exc, requests.exceptions.ConnectTimeout) or any(
                isinstance(e, urllib3.exceptions.ConnectTimeoutError) for e in chain):
            within = f" within {connect_timeout:g} s" if connect_timeout else ""
            return NetworkProblem("timeout", f"ConnectTimeout: no connection{within}", False)
        within = f" within {read_timeout:g} s" if read_timeout else ""
        name = exc.__class__.__name__ if "timeout" in exc.__class__.__name__.lower() else "ReadTimeout"
        return NetworkProblem("timeout", f"{name}: no answer{within}", False)
    if unreachable:
        return NetworkProblem("unreachable", "network unreachable (no route to the host)", True)
    if refused:
        return NetworkProblem("connect", "connection refused", False)
    if reset:
        return NetworkProblem("reset", "connection reset or closed without an answer", False)
    return NetworkProblem("connect", f"{exc.__class__.__name__}: {_scrub(str(exc))}", False)


#: ``progress(received, total)``: bytes received so far, bytes announced (None when unknown)
ProgressCallback = Callable[..., None]


class _Progress:
    """Tells ``callback`` the bytes received (from 0 for each attempt); nothing without one."""

    def __init__(self, total: int | None, callback: ProgressCallback | bool | None) -> None:
        self.total = total
        self.received = 0
        self.callback = callback if callable(callback) else None
        self.update(0)

    def update(self, n: int) -> None:
        self.received += n
        if self.callback is not None:
            self.callback(self.received, self.total)

    def close(self) -> None:
        pass


def _stream_to_file(
    chunks, dest_dir: Path, limit: int, source_id: str, url: str, progress: _Progress,
    deadline: Deadline | None = None,
) -> tuple[Path, str, int]:
    """Write ``chunks`` to a temporary file under ``dest_dir`` (sha256, size limit, deadline checked after each
    block received); the file is removed on any error."""
    digest = hashlib.sha256()
    size = 0
    fd, tmp = tempfile.mkstemp(prefix=".fetch-", dir=dest_dir)
    try:
        with os.fdopen(fd, "wb") as out:
            for chunk in chunks:
                if chunk:
                    size += len(chunk)
                    if deadline is not None:
                        deadline.received += len(chunk)
                    if size > limit:
                        raise FetchError(
                            source_id,
                            "download exceeds the size limit",
                            url=redact(url),
                            expected=f"at most {limit} bytes",
                            found=f"more than {limit} bytes",
                            cause="size",
                            host=_host_label(url) or None,
                        )
                    digest.update(chunk)
                    out.write(chunk)
                    progress.update(len(chunk))
                if deadline is not None and deadline.passed():
                    raise deadline.error(source_id, url)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise
    return Path(tmp), digest.hexdigest(), size


def _fetch_file(url: str, dest_dir: Path, source_id: str, policy: FetchPolicy,
                deadline: Deadline | None = None, progress: ProgressCallback | bool | None = None) -> FetchResult:
    parsed = urlparse(url)
    path = Path(url2pathname(unquote(parsed.path)))
    if parsed.netloc and parsed.netloc != "localhost":
        path = Path(f"//{parsed.netloc}") / path
    if not path.is_file():
        raise FetchError(source_id, "local file not found", url=redact(url), expected="an existing file",
                         cause="file")
    size = path.stat().st_size
    if size > policy.max_bytes:
        raise FetchError(
            source_id,
            "file exceeds the size limit",
            url=redact(url),
            expected=f"at most {policy.max_bytes} bytes",
            found=f"{size} bytes",
            cause="size",
        )

    def chunks():
        with open(path, "rb") as fh:
            while True:
                block = fh.read(CHUNK)
                if not block:
                    return
                yield block

    bar = _Progress(size, progress)
    try:
        tmp, sha, n = _stream_to_file(chunks(), dest_dir, policy.max_bytes, source_id, url, bar, deadline)
    finally:
        bar.close()
    return FetchResult(url=url, status="downloaded", path=tmp, sha256=sha, bytes=n)


def api_key_headers(api_key_env: str | None) -> dict[str, str]:
    """The credential headers of a source: ``Authorization: Bearer <key>`` when its ``api_key_env`` variable is
    set (the settings' ``api_keys``; never logged, sent only to the host of the URL requested: see
    :func:`fetch`)."""
    key = current().api_keys.get(api_key_env) if api_key_env else None
    return {"Authorization": f"Bearer {key}"} if key else {}


def fetch(
    url: str,
    dest_dir: Path,
    *,
    source_id: str,
    validators: dict[str, str | None] | None = None,
    policy: FetchPolicy | None = None,
    api_key_env: str | None = None,
    session: requests.Session | None = None,
    sleep: Callable[[float], None] = time.sleep,
    progress: ProgressCallback | bool | None = None,
    deadline: Deadline | None = None,
) -> FetchResult:
    """Download ``url`` into a temporary file under ``dest_dir``.

    Returns a :class:`FetchResult` with ``status="not_modified"`` (and no file) when the server answers
    304 to the conditional request built from ``validators`` (``etag``, ``last_modified``).
    Raises :class:`FetchError` with the source id, the URL (redacted) and the problem otherwise, and with the
    problem's ``cause`` (``dns``, ``proxy``, ``timeout``, ``http``…), the ``host``, the ``proxy`` used and the
    ``attempts``.

    Redirects are followed here, hop by hop (at most :data:`MAX_REDIRECTS`, http and https only): the credentials
    (``api_key_env``'s header) are sent only to the scheme, host and port of ``url``, never to another host a
    redirect points at. ``deadline`` (default: a new one from ``policy.deadline``) bounds the whole download,
    retries included; a paged fetch passes one deadline to all its pages. ``progress(received, total)`` is
    called as bytes arrive (``total``: the announced ``Content-Length``, else None; from 0 again on a retry).
    """
    policy = policy or FetchPolicy()
    deadline = deadline if deadline is not None else Deadline.of(policy)
    dest_dir.mkdir(parents=True, exist_ok=True)
    scheme = urlparse(url).scheme.lower()
    if scheme == "file":
        return _fetch_file(url, dest_dir, source_id, policy, deadline, progress)
    if scheme not in ("http", "https"):
        raise FetchError(source_id, f"unsupported URL scheme {scheme!r}", url=redact(url),
                         expected="http, https or file", cause="request")

    headers = {"User-Agent": USER_AGENT, "Accept-Encoding": "identity"}
    if validators:
        if validators.get("etag"):
            headers["If-None-Match"] = validators["etag"]
        if validators.get("last_modified"):
            headers["If-Modified-Since"] = validators["last_modified"]
    credentials = api_key_headers(api_key_env)

    own_session = session is None
    session = session or requests.Session()
    safe_url = redact(url)
    host = _host_label(url)
    proxy = proxy_for(url, session)
    attempts = policy.retries + 1
    last_problem = ""
    last_cause = "connect"
    fast_retries = FAST_RETRIES

    def error(problem: str, cause: str, attempt: int, **kw) -> FetchError:
        return FetchError(source_id, problem, url=safe_url, cause=cause, host=host, proxy=proxy, attempts=attempt,
                          **kw)

    def past_deadline(attempt: int) -> FetchError:
        return deadline.error(source_id, url, last_problem=last_problem or None, attempts=attempt or None,
                              proxy=proxy)

    try:
        for attempt in range(1, attempts + 1):
            wait: float | None = None
            quick = False
            if deadline is not None and deadline.passed():
                raise past_deadline(attempt - 1)
            read_timeout = policy.read_timeout
            if deadline is not None:  # no single read may outlive the deadline
                read_timeout = max(0.05, min(read_timeout, deadline.remaining()))
            try:
                resp = _get(session, url, headers=headers, credentials=credentials,
                            timeout=(policy.connect_timeout, read_timeout),
                            refuse=lambda problem, attempt=attempt: error(problem, "request", attempt))
            except requests.exceptions.SSLError as exc:
                detail = _tls_detail(_chain(exc))
                raise error(f"TLS verification failed: {exc.__class__.__name__}" + (f" ({detail})" if detail else ""),
                            "tls", attempt) from exc
            except (requests.exceptions.ConnectionError, requests.exceptions.Timeout) as exc:
                problem = classify_request_error(exc, proxy=proxy, connect_timeout=policy.connect_timeout,
                                                 read_timeout=read_timeout)
                last_problem, last_cause = problem.text, problem.cause
                if deadline is not None and deadline.passed():
                    raise past_deadline(attempt) from exc
                if problem.fast:  # the network is plainly absent, or the proxy refuses: one quick retry at most
                    if fast_retries <= 0 or attempt == attempts:
                        raise error(f"gave up after {attempt} attempt{'s' if attempt > 1 else ''}: {last_problem}",
                                    last_cause, attempt) from exc
                    fast_retries -= 1
                    quick = True
            except requests.exceptions.RequestException as exc:  # invalid URL, replay miss…: not retried
                raise error(f"request failed: {_short(exc)}", "request", attempt) from exc
            else:
                with resp:
                    if resp.status_code == 304:
                        return FetchResult(
                            url=url, status="not_modified", http_status=304, attempts=attempt,
                            etag=resp.headers.get("ETag") or (validators or {}).get("etag"),
                            last_modified=resp.headers.get("Last-Modified")
                            or (validators or {}).get("last_modified"),
                        )
                    if resp.status_code in RETRYABLE_STATUS:
                        last_problem = f"HTTP {resp.status_code} {resp.reason or ''}".strip()
                        last_cause = "http"
                        wait = parse_retry_after(resp.headers.get("Retry-After"))
                        if wait is not None and wait > policy.max_retry_after:
                            raise error(
                                f"{last_problem}: the server asks to retry after {wait:.0f} s", "http", attempt,
                                expected=f"a Retry-After of at most {policy.max_retry_after:.0f} s",
                            )
                    elif resp.status_code >= 400:
                        raise error(
                            f"HTTP {resp.status_code} {resp.reason or ''}".strip(), "http", attempt,
                            expected="HTTP 200",
                            found=_body_hint(resp),
                        )
                    else:
                        result = _read_body(resp, url, dest_dir, source_id, policy, attempt, progress, deadline)
                        if result is not None:
                            return result
                        last_problem = "truncated body (connection closed before the announced length)"
                        last_cause = "truncated"
                        if deadline is not None and deadline.passed():
                            raise past_deadline(attempt)
            if attempt < attempts:
                if quick:
                    delay = min(policy.backoff, FAST_RETRY_DELAY)
                else:
                    delay = wait if wait is not None else policy.backoff * (2 ** (attempt - 1))
                    delay = min(delay, policy.max_retry_after) + (random.uniform(0, 0.1) if wait is None else 0)
                if deadline is not None and delay >= deadline.remaining():
                    raise past_deadline(attempt)  # waiting would outlive the deadline
                if quick:
                    log.warning("[%s] %s: %s; one quick retry in %.1f s", source_id, host,
                                shorten(last_problem, LOG_PROBLEM_CHARS), delay)
                else:
                    log.warning("[%s] %s: %s; retry %d/%d in %.1f s", source_id, host,
                                shorten(last_problem, LOG_PROBLEM_CHARS), attempt, attempts - 1, delay)
                sleep(delay)
        raise error(f"gave up after {attempts} attempts: {last_problem}", last_cause, attempts)
    finally:
        if own_session:
            session.close()


def _get(session: requests.Session, url: str, *, headers: dict, credentials: dict, timeout: tuple,
         refuse: Callable[[str], FetchError]) -> requests.Response:
    """GET ``url``, following redirects one hop at a time: each hop must be http or https, and ``credentials``
    go only to a hop on the scheme, host and port of ``url`` (requests strips ``Authorization`` on a cross-host
    redirect but not other headers, and re-adds netrc credentials: nothing is left to it). ``refuse(problem)``
    is the error raised for a redirect that is not followed."""
    home = origin(url)
    target = url
    for _hop in range(MAX_REDIRECTS + 1):
        hop_headers = dict(headers)
        if credentials and origin(target) == home:
            hop_headers.update(credentials)
        resp = session.get(target, headers=hop_headers, stream=True, timeout=timeout, verify=True,
                           allow_redirects=False)
        location = session.get_redirect_target(resp) if resp.is_redirect else None
        if not location:
            return resp
        resp.close()
        nxt = urljoin(target, location)
        if urlsplit(nxt).scheme.lower() not in ("http", "https"):
            raise refuse(f"HTTP {resp.status_code} redirect to a {urlsplit(nxt).scheme or 'relative'}:// URL, "
                         f"not followed (http and https only)")
        target = nxt
    raise refuse(f"more than {MAX_REDIRECTS} redirects")


def _host_label(url: str) -> str:
    """``host`` or ``host:port`` of a URL (what the retry lines and the diagnosis show instead of the URL)."""
    parsed = urlparse(url)
    label = parsed.hostname or ""
    try:
        if parsed.port:
            label += f":{parsed.port}"
    except ValueError:
        pass
    return label


def _body_chunks(resp) -> Iterator[bytes]:
    """The body as it arrives: each block is what one read of the socket returned (up to :data:`CHUNK` bytes), so
    a server sending a byte now and then gives a block now and then and the deadline is checked between them
    (``iter_content`` would wait for a whole chunk). requests' exceptions, as ``iter_content`` raises them."""
    raw = resp.raw
    if not isinstance(raw, urllib3.response.HTTPResponse):  # a replayed response, a test double
        yield from resp.iter_content(CHUNK)
        return
    while True:
        try:
            block = raw.read1(CHUNK, decode_content=True)
        except urllib3.exceptions.ProtocolError as exc:
            raise requests.exceptions.ChunkedEncodingError(exc) from exc
        except urllib3.exceptions.DecodeError as exc:
            raise requests.exceptions.ContentDecodingError(exc) from exc
        except urllib3.exceptions.ReadTimeoutError as exc:
            raise requests.exceptions.ConnectionError(exc) from exc
        except urllib3.exceptions.SSLError as exc:
            raise requests.exceptions.SSLError(exc) from exc
        if not block:
            return
        yield block


def _read_body(resp, url, dest_dir, source_id, policy, attempt, progress,
               deadline: Deadline | None = None) -> FetchResult | None:
    """Stream the body to a file; ``None`` if it was cut short (the caller retries)."""
    declared = resp.headers.get("Content-Length")
    declared_n = int(declared) if declared and declared.isdigit() else None
    if declared_n is not None and declared_n > policy.max_bytes:
        raise FetchError(
            source_id,
            "download exceeds the size limit",
            url=redact(url),
            expected=f"at most {policy.max_bytes} bytes",
            found=f"Content-Length {declared_n}",
            cause="size",
            host=_host_label(url),
            attempts=attempt,
        )
    bar = _Progress(declared_n, progress)
    try:
        tmp, sha, n = _stream_to_file(_body_chunks(resp), dest_dir, policy.max_bytes, source_id, url, bar, deadline)
    except (requests.exceptions.ChunkedEncodingError, requests.exceptions.ConnectionError,
            requests.exceptions.Timeout):
        return None
    finally:
        bar.close()
    if declared_n is not None and n != declared_n:
        tmp.unlink(missing_ok=True)
        return None
    return FetchResult(
        url=url,
        status="downloaded",
        path=tmp,
        sha256=sha,
        bytes=n,
        http_status=resp.status_code,
        etag=resp.headers.get("ETag"),
        last_modified=resp.headers.get("Last-Modified"),
        content_type=resp.headers.get("Content-Type"),
        attempts=attempt,
    )


def _short(exc: BaseException | str) -> str:
    """An exception's text, every URL in it redacted, cut to 200 characters."""
    text = redact_text(str(exc)) or ""
    return text if len(text) < 200 else text[:200] + "…"


def _body_hint(resp) -> str:
    try:
        head = resp.raw.read(300, decode_content=True) or b""
    except Exception:  # noqa: BLE001 - only a hint for the message
        return f"HTTP {resp.status_code}"
    text = head.decode("utf-8", "replace").replace("\n", " ").strip()
    return f"HTTP {resp.status_code}: {text[:200]!r}" if text else f"HTTP {resp.status_code}"
