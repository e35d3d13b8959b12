"""Fetch a URL to a local file: I/O only, no parsing.

What every fetch does:

* timeouts (connect, read) and bounded retries with exponential backoff on connection errors,
  timeouts, truncated bodies, HTTP 429 and 5xx, honouring ``Retry-After`` (seconds or HTTP date);
* conditional GET: ``If-None-Match`` / ``If-Modified-Since`` from the validators of the last successful
  load of this exact URL; a 304 answer means "unchanged";
* streaming to a temporary file while computing the sha256, with a size limit (checked against
  ``Content-Length`` before reading and against the bytes actually read);
* a truncated body (connection closed before ``Content-Length`` bytes) is an error, never a short file;
* TLS verification on; an optional API key read from an environment variable, sent as a header and
  never logged;
* ``file://`` URLs read a local file through the same code path (demo recordings, mirrors);
* a progress bar on a terminal for long downloads.

Settings (environment): ``OBSERVATOIRE_HTTP_TIMEOUT`` (read timeout, s, default 60),
``OBSERVATOIRE_HTTP_RETRIES`` (default 4), ``OBSERVATOIRE_HTTP_BACKOFF`` (base delay, s, default 2),
``OBSERVATOIRE_HTTP_MAX_RETRY_AFTER`` (cap on a server's Retry-After, s, default 300),
``OBSERVATOIRE_MAX_BYTES`` (default size limit, bytes, default 2 GiB).
"""

from __future__ import annotations

import email.utils
import hashlib
import logging
import os
import random
import sys
import tempfile
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from urllib.parse import unquote, urlparse
from urllib.request import url2pathname

import requests

from extract.envvars import setting
from extract.errors import FetchError

log = logging.getLogger(__name__)

USER_AGENT = "observatoire-quartiers-amp/0.1 (+https://www.ampmetropole.fr; contrat de ville 2024-2030)"
CHUNK = 1 << 20
RETRYABLE_STATUS = {429, 500, 502, 503, 504}


@dataclass
class FetchPolicy:
    connect_timeout: float = 10.0
    read_timeout: float = field(default_factory=lambda: setting("OBSERVATOIRE_HTTP_TIMEOUT"))
    retries: int = field(default_factory=lambda: setting("OBSERVATOIRE_HTTP_RETRIES"))
    backoff: float = field(default_factory=lambda: setting("OBSERVATOIRE_HTTP_BACKOFF"))
    max_retry_after: float = field(default_factory=lambda: setting("OBSERVATOIRE_HTTP_MAX_RETRY_AFTER"))
    max_bytes: int = field(default_factory=lambda: setting("OBSERVATOIRE_MAX_BYTES"))


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


def redact(url: str) -> str:
    """The URL without credentials or query-string secrets, for logs and messages."""
    parsed = urlparse(url)
    netloc = parsed.hostname or ""
    if parsed.port:
        netloc += f":{parsed.port}"
    query = parsed.query
    if query:
        parts = []
        for kv in query.split("&"):
            k, _, v = kv.partition("=")
            if any(s in k.lower() for s in ("key", "token", "secret", "password", "apikey")):
                v = "***"
            parts.append(f"{k}={v}" if _ else k)
        query = "&".join(parts)
    out = f"{parsed.scheme}://{netloc}{parsed.path}"
    return out + (f"?{query}" if query else "")


class _Progress:
    def __init__(self, total: int | None, label: str, enabled: bool) -> None:
        self.bar = None
        if enabled and sys.stderr.isatty() and (total is None or total > 4 * CHUNK):
            from tqdm import tqdm

            self.bar = tqdm(total=total, unit="B", unit_scale=True, desc=label, leave=False)

    def update(self, n: int) -> None:
        if self.bar is not None:
            self.bar.update(n)

    def close(self) -> None:
        if self.bar is not None:
            self.bar.close()


def _stream_to_file(
    chunks, dest_dir: Path, limit: int, source_id: str, url: str, progress: _Progress
) -> tuple[Path, str, int]:
    digest = hashlib.sha256()
    size = 0
    fd, tmp = tempfile.mkstemp(prefix=".fetch-", dir=dest_dir)
    try:
        with os.fdopen(fd, "wb") as out:
            for chunk in chunks:
                if not chunk:
                    continue
                size += len(chunk)
                if size > limit:
                    raise FetchError(
                        source_id,
                        "download exceeds the size limit",
                        url=redact(url),
                        expected=f"at most {limit} bytes",
                        found=f"more than {limit} bytes",
                    )
                digest.update(chunk)
                out.write(chunk)
                progress.update(len(chunk))
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise
    return Path(tmp), digest.hexdigest(), size


def _fetch_file(url: str, dest_dir: Path, source_id: str, policy: FetchPolicy) -> FetchResult:
    parsed = urlparse(url)
    path = Path(url2pathname(unquote(parsed.path)))
    if parsed.netloc and parsed.netloc != "localhost":
        path = Path(f"//{parsed.netloc}") / path
    if not path.is_file():
        raise FetchError(source_id, "local file not found", url=url, expected="an existing file")
    size = path.stat().st_size
    if size > policy.max_bytes:
        raise FetchError(
            source_id,
            "file exceeds the size limit",
            url=url,
            expected=f"at most {policy.max_bytes} bytes",
            found=f"{size} bytes",
        )

    def chunks():
        with open(path, "rb") as fh:
            while True:
                block = fh.read(CHUNK)
                if not block:
                    return
                yield block

    progress = _Progress(size, path.name, True)
    try:
        tmp, sha, n = _stream_to_file(chunks(), dest_dir, policy.max_bytes, source_id, url, progress)
    finally:
        progress.close()
    return FetchResult(url=url, status="downloaded", path=tmp, sha256=sha, bytes=n)


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
    progress: bool = True,
) -> FetchResult:
    """Download ``url`` into a temporary file under ``dest_dir``.

    Returns a :class:`FetchResult` with ``status="not_modified"`` (and no file) when the server answers
    304 to the conditional request built from ``validators`` (``etag``, ``last_modified``).
    Raises :class:`FetchError` with the source id, the URL and the problem otherwise.
    """
    policy = policy or FetchPolicy()
    dest_dir.mkdir(parents=True, exist_ok=True)
    scheme = urlparse(url).scheme.lower()
    if scheme == "file":
        return _fetch_file(url, dest_dir, source_id, policy)
    if scheme not in ("http", "https"):
        raise FetchError(source_id, f"unsupported URL scheme {scheme!r}", url=redact(url),
                         expected="http, https or file")

    headers = {"User-Agent": USER_AGENT, "Accept-Encoding": "identity"}
    if validators:
        if validators.get("etag"):
            headers["If-None-Match"] = validators["etag"]
        if validators.get("last_modified"):
            headers["If-Modified-Since"] = validators["last_modified"]
    if api_key_env and os.environ.get(api_key_env):
        headers["Authorization"] = f"Bearer {os.environ[api_key_env]}"

    own_session = session is None
    session = session or requests.Session()
    safe_url = redact(url)
    attempts = policy.retries + 1
    last_problem = ""
    try:
        for attempt in range(1, attempts + 1):
            wait: float | None = None
            try:
                resp = session.get(
                    url,
                    headers=headers,
                    stream=True,
                    timeout=(policy.connect_timeout, policy.read_timeout),
                    verify=True,
                    allow_redirects=True,
                )
            except requests.exceptions.SSLError as exc:
                raise FetchError(source_id, f"TLS verification failed: {exc.__class__.__name__}",
                                 url=safe_url) from exc
            except (requests.exceptions.ConnectionError, requests.exceptions.Timeout) as exc:
                last_problem = f"{exc.__class__.__name__}: {_short(exc)}"
            except requests.exceptions.RequestException as exc:  # invalid URL, replay miss…: not retried
                raise FetchError(source_id, f"request failed: {_short(exc)}", url=safe_url) from exc
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
                        wait = parse_retry_after(resp.headers.get("Retry-After"))
                        if wait is not None and wait > policy.max_retry_after:
                            raise FetchError(
                                source_id,
                                f"{last_problem}: the server asks to retry after {wait:.0f} s",
                                url=safe_url,
                                expected=f"a Retry-After of at most {policy.max_retry_after:.0f} s",
                            )
                    elif resp.status_code >= 400:
                        raise FetchError(
                            source_id,
                            f"HTTP {resp.status_code} {resp.reason or ''}".strip(),
                            url=safe_url,
                            expected="HTTP 200",
                            found=_body_hint(resp),
                        )
                    else:
                        result = _read_body(resp, url, dest_dir, source_id, policy, attempt, progress)
                        if result is not None:
                            return result
                        last_problem = "truncated body (connection closed before the announced length)"
            if attempt < attempts:
                delay = wait if wait is not None else policy.backoff * (2 ** (attempt - 1))
                delay = min(delay, policy.max_retry_after) + (random.uniform(0, 0.1) if wait is None else 0)
                log.warning("[%s] %s on %s, retry %d/%d in %.1f s", source_id, last_problem, safe_url,
                            attempt, attempts - 1, delay)
                sleep(delay)
        raise FetchError(source_id, f"gave up after {attempts} attempts: {last_problem}", url=safe_url)
    finally:
        if own_session:
            session.close()


def _read_body(resp, url, dest_dir, source_id, policy, attempt, progress) -> FetchResult | None:
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
        )
    bar = _Progress(declared_n, source_id, progress)
    try:
        tmp, sha, n = _stream_to_file(
            resp.iter_content(CHUNK), dest_dir, policy.max_bytes, source_id, url, bar
        )
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


def _short(exc: BaseException) -> str:
    text = str(exc)
    return text if len(text) < 200 else text[:200] + "…"


def _body_hint(resp) -> str:
    try:
        head = resp.raw.read(300, decode_content=True) or b""
    except Exception:  # noqa: BLE001 - only a hint for the message
        return f"HTTP {resp.status_code}"
    text = head.decode("utf-8", "replace").replace("\n", " ").strip()
    return f"HTTP {resp.status_code}: {text[:200]!r}" if text else f"HTTP {resp.status_code}"
