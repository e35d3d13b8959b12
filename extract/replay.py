"""Replay recorded HTTP responses (demo mode and tests) through the real fetch code.

A *cassette* is a directory holding ``cassette.json``::

    {"interactions": [
        {"url": "https://api.insee.fr/melodi/data/DS_X?GEO=COM-13055&page=1",
         "status": 200, "headers": {"Content-Type": "application/json"}, "body_file": "page-001.json"},
        ...]}

and the body files next to it (or an inline ``"body"`` string). :class:`ReplayAdapter` is a ``requests``
transport adapter: mounted on a session, it answers each GET from the cassette (URLs compared with their
query parameters decoded and sorted, so ``%2A`` and ``*``, ``%20`` and ``+`` are the same), so the paginators,
retries and parsers run exactly as against the publisher. When the same URL is recorded several times (an
HTTP 429 with ``Retry-After``, then the page), the recorded answers are served in order and the last one is
repeated. A URL that is not in the cassette is an error naming it (the recording does not cover that request:
regenerate it with ``python -m tests.recordings.generate``).

The registry's ``recording`` of an API source may name the cassette directory or its ``cassette.json``.
"""

from __future__ import annotations

import io
import json
from pathlib import Path
from urllib.parse import parse_qsl, urlencode, urlsplit, urlunsplit

import requests
from requests.adapters import BaseAdapter
from requests.structures import CaseInsensitiveDict

CASSETTE = "cassette.json"


def normalize_url(url: str) -> str:
    parts = urlsplit(url)
    query = urlencode(sorted(parse_qsl(parts.query, keep_blank_values=True)))
    return urlunsplit((parts.scheme.lower(), parts.netloc.lower(), parts.path, query, ""))


def cassette_dir_of(path: Path) -> Path:
    """The cassette directory, given the directory or its ``cassette.json``."""
    path = Path(path)
    return path.parent if path.name == CASSETTE else path


class ReplayMiss(requests.exceptions.InvalidURL):
    """The recording has no response for this request (a hard error, not retried)."""


class ReplayAdapter(BaseAdapter):
    def __init__(self, cassette_dir: Path) -> None:
        super().__init__()
        self.dir = cassette_dir_of(cassette_dir)
        try:
            doc = json.loads((self.dir / CASSETTE).read_text(encoding="utf-8"))
        except FileNotFoundError:
            raise FileNotFoundError(f"no cassette: {self.dir / CASSETTE} does not exist") from None
        self.interactions: dict[str, list[dict]] = {}
        for item in doc.get("interactions", []):
            self.interactions.setdefault(normalize_url(item["url"]), []).append(item)
        self.calls: dict[str, int] = {}
        self.served: list[str] = []

    def send(self, request, stream=False, timeout=None, verify=True, cert=None, proxies=None):
        key = normalize_url(request.url)
        items = self.interactions.get(key)
        if not items:
            raise ReplayMiss(f"no recorded response for {request.url} in {self.dir / CASSETTE} "
                             f"({len(self.interactions)} URLs recorded; the registry URL and the recording "
                             "disagree: regenerate the recording)")
        n = self.calls.get(key, 0)
        self.calls[key] = n + 1
        item = items[min(n, len(items) - 1)]
        self.served.append(request.url)
        if item.get("body_file"):
            body = (self.dir / item["body_file"]).read_bytes()
        else:
            body = str(item.get("body", "")).encode("utf-8")
        resp = requests.Response()
        resp.status_code = int(item.get("status", 200))
        resp.headers = CaseInsensitiveDict(item.get("headers") or {})
        resp.headers.setdefault("Content-Length", str(len(body)))
        resp.raw = io.BytesIO(body)
        resp.url = request.url
        resp.request = request
        resp.reason = "OK" if resp.status_code == 200 else "Recorded"
        resp.connection = self
        return resp

    def close(self) -> None:
        pass


def replay_session(cassette_dir: Path) -> requests.Session:
    """A session answering from the cassette (``cassette_dir`` or its ``cassette.json``)."""
    session = requests.Session()
    adapter = ReplayAdapter(cassette_dir)
    session.mount("https://", adapter)
    session.mount("http://", adapter)
    return session


def write_cassette(cassette_dir: Path, pages: list[tuple], *, content_type: str = "application/json",
                   ext: str = "json") -> Path:
    """Write a cassette from ``(url, body)`` pairs, or ``(url, body, status, headers)`` for a non-200 answer
    (used by the recordings generator). Returns the path of ``cassette.json``. Deterministic bytes."""
    cassette_dir.mkdir(parents=True, exist_ok=True)
    for old in cassette_dir.glob(f"page-*.{ext}"):
        old.unlink()
    interactions = []
    for i, page in enumerate(pages, start=1):
        url, body = page[0], page[1]
        status = page[2] if len(page) > 2 else 200
        headers = dict(page[3]) if len(page) > 3 else {}
        headers.setdefault("Content-Type", content_type)
        name = f"page-{i:03d}.{ext}"
        (cassette_dir / name).write_bytes(body)
        interactions.append({"url": url, "status": status, "headers": headers, "body_file": name})
    path = cassette_dir / CASSETTE
    path.write_text(json.dumps({"interactions": interactions}, indent=1, ensure_ascii=False) + "\n",
                    encoding="utf-8")
    return path
