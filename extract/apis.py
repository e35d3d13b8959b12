"""Paged JSON APIs: fetch every page of a request, land them together, untouched.

A paged source's landed file is a ZIP archive holding each page body exactly as served
(``page-0001.json``, …) and ``requests.json`` (the URL, status and content type of each page). The archive
is written deterministically (fixed timestamps, fixed order), so an API that serves the same pages again
lands the same bytes and the same sha256: an unchanged source is detected and skipped like a file.

Each page goes through :func:`extract.http.fetch` (timeouts, retries with backoff, ``Retry-After`` on
HTTP 429, size limit, truncated bodies), paced to the publisher's rate limit.

Paginators (the ``paginator`` key of a registry entry):

``datafair``  ADEME data-fair ``/lines``: follow the ``next`` URL (cursor ``after``) until there is none or a
              page is empty; ``size`` ≤ 10 000 and ``select`` are in the registry URL.
``melodi``    INSEE Melodi ``/melodi/data/{DS}``: ``page=1, 2, …`` with ``maxResult`` from the URL; stop on
              a short page or when the ``paging`` block has no ``next``. 30 requests/min (HTTP 429 above).
``ods_records`` Opendatasoft Explore v2.1 ``/records``: ``offset``/``limit`` (≤ 100); refuses more than
              10 000 rows (the platform's cap) with a message pointing at the ``exports`` endpoint.
"""

from __future__ import annotations

import hashlib
import io
import json
import os
import tempfile
import time
import zipfile
from collections.abc import Callable, Iterator
from pathlib import Path
from urllib.parse import parse_qsl, urlencode, urlsplit, urlunsplit

from extract.errors import FetchError, FormatError
from extract.http import FetchPolicy, FetchResult, fetch, redact

ZIP_DATE = (2000, 1, 1, 0, 0, 0)
MAX_PAGES = 100_000


def with_params(url: str, **params) -> str:
    parts = urlsplit(url)
    query = [(k, v) for k, v in parse_qsl(parts.query, keep_blank_values=True) if k not in params]
    query += [(k, str(v)) for k, v in params.items() if v is not None]
    return urlunsplit((parts.scheme, parts.netloc, parts.path, urlencode(query, safe=":*,"), parts.fragment))


def query_param(url: str, name: str) -> str | None:
    for k, v in parse_qsl(urlsplit(url).query, keep_blank_values=True):
        if k == name:
            return v
    return None


# -- paginators: (first url) -> next url given the page just read -------------------------------------

def _datafair(url: str, page: dict, index: int, source_id: str) -> str | None:
    if not page.get("results"):
        return None
    return page.get("next") or None


def _melodi(url: str, page: dict, index: int, source_id: str) -> str | None:
    per_page = int(query_param(url, "maxResult") or 0)
    obs = page.get("observations") or []
    paging = page.get("paging") or {}
    if paging.get("next"):
        return paging["next"]
    if per_page and len(obs) >= per_page:
        return with_params(url, page=int(query_param(url, "page") or 1) + 1)
    return None


def _ods_records(url: str, page: dict, index: int, source_id: str) -> str | None:
    total = int(page.get("total_count") or 0)
    limit = int(query_param(url, "limit") or 10)
    offset = int(query_param(url, "offset") or 0)
    if total > 10_000:
        raise FormatError(source_id, f"the query matches {total} records, above the Opendatasoft cap of 10 000 on "
                          "/records", expected="the /exports endpoint for bulk downloads", url=redact(url))
    nxt = offset + limit
    if not page.get("results") or nxt >= total:
        return None
    return with_params(url, offset=nxt, limit=limit)


PAGINATORS: dict[str, Callable[[str, dict, int, str], str | None]] = {
    "datafair": _datafair,
    "melodi": _melodi,
    "ods_records": _ods_records,
}


def first_url(paginator: str, url: str) -> str:
    if paginator == "melodi" and query_param(url, "page") is None:
        return with_params(url, page=1)
    if paginator == "ods_records" and query_param(url, "offset") is None:
        return with_params(url, offset=0)
    return url


def fetch_paged(
    url: str,
    dest_dir: Path,
    *,
    source_id: str,
    paginator: str,
    policy: FetchPolicy | None = None,
    session=None,
    api_key_env: str | None = None,
    rate_limit_per_minute: float | None = None,
    sleep: Callable[[float], None] = time.sleep,
) -> FetchResult:
    """Fetch every page and land them in one deterministic ZIP (temporary file under ``dest_dir``)."""
    if paginator not in PAGINATORS:
        raise FetchError(source_id, f"unknown paginator {paginator!r}", url=redact(url),
                         expected=", ".join(PAGINATORS))
    policy = policy or FetchPolicy()
    step = PAGINATORS[paginator]
    interval = 60.0 / rate_limit_per_minute if rate_limit_per_minute else 0.0
    dest_dir.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(prefix=".paged-", suffix=".zip", dir=dest_dir)
    os.close(fd)
    requests_log = []
    total_bytes = 0
    last_request = 0.0
    current: str | None = first_url(paginator, url)
    try:
        with zipfile.ZipFile(tmp, "w", compression=zipfile.ZIP_DEFLATED) as zf:
            index = 0
            while current:
                index += 1
                if index > MAX_PAGES:
                    raise FetchError(source_id, f"more than {MAX_PAGES} pages: pagination does not end",
                                     url=redact(url))
                wait = interval - (time.monotonic() - last_request)
                if wait > 0 and last_request:
                    sleep(wait)
                last_request = time.monotonic()
                page = fetch(current, dest_dir, source_id=source_id, policy=policy, session=session,
                             api_key_env=api_key_env, progress=False)
                try:
                    body = page.path.read_bytes()
                finally:
                    page.path.unlink(missing_ok=True)
                total_bytes += len(body)
                if total_bytes > policy.max_bytes:
                    raise FetchError(source_id, "download exceeds the size limit", url=redact(url),
                                     expected=f"at most {policy.max_bytes} bytes over all pages")
                try:
                    doc = json.loads(body.decode("utf-8-sig"))
                except (UnicodeDecodeError, json.JSONDecodeError) as exc:
                    head = body[:120].decode("utf-8", "replace")
                    raise FormatError(source_id, f"page {index} is not JSON ({exc.__class__.__name__})",
                                      url=redact(current), expected="a JSON page", found=repr(head)) from None
                name = f"page-{index:04d}.json"
                info = zipfile.ZipInfo(name, date_time=ZIP_DATE)
                info.compress_type = zipfile.ZIP_DEFLATED
                zf.writestr(info, body)
                requests_log.append({"page": index, "url": redact(current), "file": name,
                                     "content_type": page.content_type, "bytes": len(body)})
                nxt = step(current, doc, index, source_id)
                if isinstance(nxt, str) and nxt == current:
                    raise FetchError(source_id, "pagination loops on the same URL", url=redact(current))
                current = nxt
            info = zipfile.ZipInfo("requests.json", date_time=ZIP_DATE)
            zf.writestr(info, json.dumps(requests_log, indent=1, sort_keys=True))
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise
    data = Path(tmp).read_bytes()
    return FetchResult(url=url, status="downloaded", path=Path(tmp), sha256=hashlib.sha256(data).hexdigest(),
                       bytes=len(data), content_type="application/zip", attempts=len(requests_log))


def iter_pages(path: Path, *, source_id: str) -> Iterator[tuple[str, dict]]:
    """``(url, page document)`` for each page of a landed paged ZIP, in order."""
    try:
        zf = zipfile.ZipFile(path)
    except zipfile.BadZipFile:
        raise FormatError(source_id, "not a landed page archive", file=path.name, expected="a ZIP of pages") from None
    with zf:
        try:
            log = json.loads(zf.read("requests.json"))
        except KeyError:
            raise FormatError(source_id, "page archive without requests.json", file=path.name) from None
        for entry in log:
            body = zf.read(entry["file"])
            yield entry["url"], json.load(io.BytesIO(body))
