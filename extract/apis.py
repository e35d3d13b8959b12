"""Paged JSON APIs: fetch every page of a request, land them together, untouched.

A paged source's landed file is a ZIP archive holding each page body exactly as served
(``page-0001.json``, …) and ``requests.json`` (the URL, status and content type of each page). The archive
is written deterministically (fixed timestamps, fixed order), so an API that serves the same pages again
lands the same bytes and the same sha256: an unchanged source is detected and skipped like a file.

Each page goes through :func:`extract.http.fetch` (timeouts, retries with backoff, ``Retry-After`` on
HTTP 429, size limit, truncated bodies), paced to the publisher's rate limit. A page that is not a JSON
object (an HTML error or login page served with HTTP 200, a truncated document) is a :class:`FormatError`
naming the page's URL: nothing is landed.

:func:`iter_pages` reads a landed archive back, page by page (bounded memory); :func:`batches_from_records`
turns the records a parser extracts from the pages into Arrow batches of its :class:`TableSpec`.

A ``file://`` URL (``OBSERVATOIRE_URL_<ID>``) naming such a page archive is taken as is: a mirror of the source
(the benchmark's national extracts are page archives); any other local file is read as the first page.

A page's links are the publisher's word, not ours: a ``next`` link (absolute or relative) is followed only on the
scheme, host and port of the first request, over http or https. A link to another host, or to a ``file://`` or
any other scheme, is an error of the source (:class:`FormatError` naming the page and the link's
``scheme://host`` only): nothing of its target is read, and the API key (``api_key_env``) goes nowhere else
(:func:`extract.http.fetch` sends it only to the host requested, redirects included). One deadline
(``OBSERVATOIRE_HTTP_DEADLINE``) covers every page of a paged fetch.

Paginators (the ``paginator`` key of a registry entry):

``datafair``  ADEME data-fair ``/lines``: follow the ``next`` URL (cursor ``after``; it may name the dataset by
              an internal id) until there is none or a page is empty; ``size`` ≤ 10 000, ``select`` and the
              ``qs`` filter are in the registry URL (a ``?field=value`` filter is silently ignored).
``melodi``    INSEE Melodi ``/melodi/data/{DS}``: ``page=1, 2, …`` with ``maxResult`` from the URL; follow the
              ``paging.next`` URL when the page gives one, stop when ``paging.isLast`` is true, on a short
              page or an empty one. 30 requests/min (HTTP 429 above). An unknown dataset answers HTTP 500
              ``text/plain`` (not 404): the error says so.
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
from collections.abc import Callable, Iterable, Iterator
from pathlib import Path
from urllib.parse import parse_qsl, urlencode, urljoin, urlsplit, urlunsplit

import pyarrow as pa

from extract.errors import FetchError, FormatError
from extract.formats import describe_kind, open_zip, sniff_kind
from extract.http import Deadline, FetchPolicy, FetchResult, fetch, origin, origin_label, redact
from extract.settings import current

ZIP_DATE = (2000, 1, 1, 0, 0, 0)
MAX_PAGES = 100_000
ODS_RECORDS_CAP = 10_000


def with_params(url: str, **params) -> str:
    """``url`` with ``params`` set (replacing any previous value); other parameters, repeated ones included
    (``GEO=…&GEO=…``), keep their order."""
    parts = urlsplit(url)
    query = [(k, v) for k, v in parse_qsl(parts.query, keep_blank_values=True) if k not in params]
    query += [(k, str(v)) for k, v in params.items() if v is not None]
    return urlunsplit((parts.scheme, parts.netloc, parts.path, urlencode(query, safe=":*,"), parts.fragment))


def query_param(url: str, name: str) -> str | None:
    for k, v in parse_qsl(urlsplit(url).query, keep_blank_values=True):
        if k == name:
            return v
    return None


# -- paginators: (url just read, its page, page index, source id) -> next url or None ----------------------

def _datafair(url: str, page: dict, index: int, source_id: str) -> str | None:
    results = page.get("results")
    if results is None:
        raise FormatError(source_id, f"page {index} has no 'results'", url=redact(url),
                          expected="a data-fair /lines page {total, next, results}",
                          found="keys " + ", ".join(sorted(page)))
    if not results:
        return None
    return page.get("next") or None


def _melodi(url: str, page: dict, index: int, source_id: str) -> str | None:
    if "observations" not in page:
        raise FormatError(source_id, f"page {index} has no 'observations'", url=redact(url),
                          expected="a Melodi /data page {identifier, observations, paging}",
                          found="keys " + ", ".join(sorted(page)))
    per_page = int(query_param(url, "maxResult") or 0)
    obs = page.get("observations") or []
    paging = page.get("paging") or {}
    if not obs or paging.get("isLast") is True:
        return None
    if paging.get("next"):
        return paging["next"]
    if per_page and len(obs) >= per_page:
        return with_params(url, page=int(query_param(url, "page") or 1) + 1)
    return None


def _ods_records(url: str, page: dict, index: int, source_id: str) -> str | None:
    total = int(page.get("total_count") or 0)
    limit = int(query_param(url, "limit") or 10)
    offset = int(query_param(url, "offset") or 0)
    if total > ODS_RECORDS_CAP:
        raise FormatError(source_id, f"the query matches {total} records, above the Opendatasoft cap of "
                          f"{ODS_RECORDS_CAP} on /records (offset + limit ≤ {ODS_RECORDS_CAP})",
                          expected="the /exports/csv endpoint for bulk downloads (or a narrower where=)",
                          found=f"total_count {total}", url=redact(url))
    nxt = offset + limit
    if not page.get("results") or nxt >= total:
        return None
    return with_params(url, offset=nxt, limit=limit)


PAGINATORS: dict[str, Callable[[str, dict, int, str], str | None]] = {
    "datafair": _datafair,
    "melodi": _melodi,
    "ods_records": _ods_records,
}


def checked_next(link, *, first: str, current: str, index: int, source_id: str) -> str:
    """The absolute URL of the ``next`` link ``link`` read in page ``index`` (requested as ``current``), if it
    stays on the first request's scheme, host and port over http(s); a :class:`FormatError` otherwise, naming
    the link by its ``scheme://host`` only (nothing of its target is read)."""
    expected = f"a next link on {origin_label(first)} (the first request's scheme, host and port)"
    if not isinstance(link, str):
        raise FormatError(source_id, f"page {index}'s next link is not a URL", url=redact(current),
                          expected=expected, found=f"a JSON {type(link).__name__}")
    try:
        nxt = urljoin(current, link.strip())
        target = origin(nxt)
    except ValueError:
        raise FormatError(source_id, f"page {index}'s next link is not a valid URL", url=redact(current),
                          expected=expected, found="an unparsable link") from None
    if target[0] not in ("http", "https") or target != origin(first):
        raise FormatError(source_id, f"page {index}'s next link points to {origin_label(nxt)}: not followed",
                          url=redact(current), expected=expected, found=origin_label(nxt))
    return nxt


def first_url(paginator: str, url: str) -> str:
    """The first URL requested for a registry URL (the cassettes record exactly this one)."""
    if paginator == "melodi" and query_param(url, "page") is None:
        return with_params(url, page=1)
    if paginator == "ods_records" and query_param(url, "offset") is None:
        return with_params(url, offset=0)
    return url


def _decode_page(body: bytes, *, source_id: str, index: int, url: str) -> dict:
    """The JSON object of a page body, or a FormatError naming the page URL and what it was instead."""
    kind = sniff_kind(body[:65536])
    problem = None
    doc = None
    if kind not in ("json", "geojson"):
        problem = f"page {index} is not JSON"
    else:
        try:
            doc = json.loads(body.decode("utf-8-sig"))
        except (UnicodeDecodeError, json.JSONDecodeError) as exc:
            problem = f"page {index} is not valid JSON ({exc.__class__.__name__}: {exc})"
        else:
            if not isinstance(doc, dict):
                problem = f"page {index} is a JSON {type(doc).__name__}, not an object"
    if problem:
        head = body[:160].decode("utf-8", "replace").replace("\n", " ")
        raise FormatError(source_id, problem, url=redact(url), expected="a JSON page (object)",
                          found=f"{describe_kind(kind)}: {head!r}")
    return doc


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
    progress: Callable[..., None] | None = None,
) -> FetchResult:
    """Fetch every page and land them in one deterministic ZIP (temporary file under ``dest_dir``).

    ``sleep`` is used for the pacing and for the retries' waits (tests pass a recorder). ``progress(received,
    None, page=N)`` is called as bytes arrive: bytes received over all pages so far, the page being fetched
    (the total is unknown until the last page)."""
    if paginator not in PAGINATORS:
        raise FetchError(source_id, f"unknown paginator {paginator!r}", url=redact(url),
                         expected=", ".join(PAGINATORS))
    policy = policy or FetchPolicy()
    deadline = Deadline.of(policy)
    if urlsplit(url).scheme.lower() == "file":
        mirrored = _fetch_page_archive(url, dest_dir, source_id=source_id, policy=policy, deadline=deadline,
                                       progress=progress)
        if mirrored is not None:
            return mirrored
    step = PAGINATORS[paginator]
    interval = 60.0 / rate_limit_per_minute if rate_limit_per_minute else 0.0
    dest_dir.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(prefix=".paged-", suffix=".zip", dir=dest_dir)
    os.close(fd)
    requests_log = []
    total_bytes = 0
    last_request = 0.0
    seen: set[str] = set()
    first = current = first_url(paginator, url)
    try:
        with zipfile.ZipFile(tmp, "w", compression=zipfile.ZIP_DEFLATED) as zf:
            index = 0
            while current:
                index += 1
                if index > MAX_PAGES:
                    raise FetchError(source_id, f"more than {MAX_PAGES} pages: pagination does not end",
                                     url=redact(url))
                if current in seen:
                    raise FetchError(source_id, "pagination loops: a next URL was already fetched",
                                     url=redact(current))
                seen.add(current)
                wait = interval - (time.monotonic() - last_request)
                if deadline is not None and (deadline.passed() or (wait > 0 and last_request
                                                                   and wait >= deadline.remaining())):
                    raise deadline.error(source_id, current, what="paged download", at=f"page {index}")
                if wait > 0 and last_request:
                    sleep(wait)
                last_request = time.monotonic()
                on_bytes = None
                if progress is not None:
                    def on_bytes(received, _total=None, before=total_bytes, page=index):
                        progress(before + received, None, page=page)
                try:
                    page = fetch(current, dest_dir, source_id=source_id, policy=policy, session=session,
                                 api_key_env=api_key_env, progress=on_bytes, sleep=sleep, deadline=deadline)
                except FetchError as err:
                    if deadline is not None and err.cause == "timeout" and deadline.passed():
                        raise deadline.error(source_id, current, what="paged download", at=f"page {index}",
                                             attempts=err.attempts) from err
                    if paginator == "melodi" and "HTTP 500" in err.problem:
                        raise FetchError(source_id, err.problem + " (Melodi answers HTTP 500 text/plain for an "
                                         "unknown dataset identifier: check the DS_… id of the URL)",
                                         url=err.url, expected="an existing Melodi dataset", cause=err.cause,
                                         host=err.host, proxy=err.proxy, attempts=err.attempts) from err
                    raise
                try:
                    body = page.path.read_bytes()
                finally:
                    page.path.unlink(missing_ok=True)
                total_bytes += len(body)
                if total_bytes > policy.max_bytes:
                    raise FetchError(source_id, "download exceeds the size limit", url=redact(url),
                                     expected=f"at most {policy.max_bytes} bytes over all pages")
                doc = _decode_page(body, source_id=source_id, index=index, url=current)
                name = f"page-{index:04d}.json"
                info = zipfile.ZipInfo(name, date_time=ZIP_DATE)
                info.compress_type = zipfile.ZIP_DEFLATED
                zf.writestr(info, body)
                requests_log.append({"page": index, "url": redact(current), "file": name,
                                     "content_type": page.content_type, "bytes": len(body)})
                nxt = step(current, doc, index, source_id)
                current = checked_next(nxt, first=first, current=current, index=index, source_id=source_id) \
                    if nxt else None
            info = zipfile.ZipInfo("requests.json", date_time=ZIP_DATE)
            info.compress_type = zipfile.ZIP_DEFLATED
            zf.writestr(info, json.dumps(requests_log, indent=1, sort_keys=True))
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise
    data = Path(tmp).read_bytes()
    return FetchResult(url=url, status="downloaded", path=Path(tmp), sha256=hashlib.sha256(data).hexdigest(),
                       bytes=len(data), content_type="application/zip", attempts=len(requests_log))


def _fetch_page_archive(url: str, dest_dir: Path, *, source_id: str, policy: FetchPolicy,
                        deadline: Deadline | None = None, progress: Callable[..., None] | None = None
                        ) -> FetchResult | None:
    """A ``file://`` URL naming a page archive (the ZIP this module lands: ``requests.json`` + pages), e.g. a
    mirror of an API source or a national extract prepared elsewhere: taken as is, like a file source.
    ``None`` when the file is something else (a single JSON page is then read through the paginator)."""
    fetched = fetch(url, dest_dir, source_id=source_id, policy=policy, progress=progress, deadline=deadline)
    try:
        with _open_page_archive(fetched.path, source_id=source_id, file=Path(urlsplit(url).path).name) as zf:
            is_archive = "requests.json" in zf.namelist()
    except zipfile.BadZipFile:
        is_archive = False
    except BaseException:
        fetched.path.unlink(missing_ok=True)
        raise
    if not is_archive:
        fetched.path.unlink(missing_ok=True)
        return None
    return FetchResult(url=url, status="downloaded", path=fetched.path, sha256=fetched.sha256, bytes=fetched.bytes,
                       content_type="application/zip", attempts=1)


def _open_page_archive(path: Path, *, source_id: str, file: str | None = None):
    """A page archive opened with its expansion bounded: ``OBSERVATOIRE_MAX_UNZIPPED_BYTES``, and as many members
    as :data:`MAX_PAGES` pages allow (or ``OBSERVATOIRE_MAX_ZIP_MEMBERS`` if higher)."""
    return open_zip(path, source_id=source_id, file=file,
                    max_members=max(current().max_zip_members, MAX_PAGES + 1))


def iter_pages(path: Path, *, source_id: str) -> Iterator[tuple[str, dict]]:
    """``(url, page document)`` for each page of a landed paged ZIP, in order (one page in memory at a time).
    The archive's expansion is bounded (:func:`extract.formats.open_zip`; up to :data:`MAX_PAGES` pages)."""
    try:
        zf = _open_page_archive(path, source_id=source_id)
    except zipfile.BadZipFile:
        raise FormatError(source_id, "not a landed page archive", file=path.name, expected="a ZIP of pages",
                          found=describe_kind(sniff_kind(path.read_bytes()[:65536]))) from None
    with zf:
        try:
            log = json.loads(zf.read("requests.json"))
        except KeyError:
            raise FormatError(source_id, "page archive without requests.json", file=path.name) from None
        for entry in log:
            try:
                body = zf.read(entry["file"])
            except KeyError:
                raise FormatError(source_id, f"page archive lacks {entry['file']}", file=path.name,
                                  url=entry.get("url")) from None
            try:
                doc = json.load(io.BytesIO(body))
            except json.JSONDecodeError as exc:
                raise FormatError(source_id, f"page {entry['file']} is not valid JSON: {exc.msg}",
                                  file=path.name, url=entry.get("url")) from None
            yield entry["url"], doc


def batches_from_records(records: Iterable[tuple[int, dict, list[str]]], schema: pa.Schema, millesime: int,
                         *, batch_rows: int = 50_000) -> Iterator[pa.RecordBatch]:
    """Arrow batches of ``schema`` from ``(line, values by column name, secret column names)`` records.

    ``schema`` is a :meth:`TableSpec.arrow_schema` (``millesime``, ``_line`` and ``_secret`` are filled here);
    missing values are NULL."""
    names = [f.name for f in schema][:-3]
    buffers: dict[str, list] = {n: [] for n in names}
    lines: list[int] = []
    secrets: list[list[str]] = []

    def flush() -> pa.RecordBatch:
        arrays = [pa.array(buffers[n], type=schema.field(n).type) for n in names]
        arrays.append(pa.array([millesime] * len(lines), type=pa.int32()))
        arrays.append(pa.array(lines, type=pa.int64()))
        arrays.append(pa.array(secrets, type=pa.list_(pa.string())))
        return pa.RecordBatch.from_arrays(arrays, schema=schema)

    for line, values, secret in records:
        for n in names:
            buffers[n].append(values.get(n))
        lines.append(line)
        secrets.append(secret)
        if len(lines) >= batch_rows:
            yield flush()
            buffers = {n: [] for n in names}
            lines, secrets = [], []
    if lines:
        yield flush()
