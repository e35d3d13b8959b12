"""Replay recorded HTTP responses (demo mode and tests) through the real fetch code.

A *cassette* is a directory holding ``cassette.json``::

    {"interactions": [
        {"url": "https://api.insee.fr/melodi/data/DS_X?GEO=COM-13055&page=1",
         "status": 200, "headers": {"Content-Type": "application/json"}, "body_file": "page-001.json"},
        ...]}

and the body files next to it. :class:`ReplayAdapter` is a ``requests`` transport adapter: mounted on a
session, it answers each GET from the cassette (URLs compared with their query parameters sorted), so the
paginators, retries and parsers run exactly as against the publisher. A URL that is not in the cassette is
an error naming it (the recording does not cover that request).
"""

from __future__ import annotations

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


class ReplayMiss(requests.exceptions.InvalidURL):
    """The recording has no response for this request (a hard error, not retried)."""


class ReplayAdapter(BaseAdapter):
    def __init__(self, cassette_dir: Path) -> None:
        super().__init__()
        self.dir = Path(cassette_dir)
        doc = json.loads((self.dir / CASSETTE).read_text(encoding="utf-8"))
        self.interactions: dict[str, dict] = {}
        for item in doc.get("interactions", []):
            self.interactions[normalize_url(item["url"])] = item
        self.served: list[str] = []

    def send(self, request, stream=False, timeout=None, verify=True, cert=None, proxies=None):
        key = normalize_url(request.url)
        item = self.interactions.get(key)
        if item is None:
            raise ReplayMiss(f"no recorded response for {request.url} in {self.dir / CASSETTE}")
        self.served.append(request.url)
        body = (self.dir / item["body_file"]).read_bytes() if item.get("body_file") else item.get("body", "").encode()
        resp = requests.Response()
        resp.status_code = int(item.get("status", 200))
        resp.headers = CaseInsensitiveDict(item.get("headers") or {})
        resp.headers.setdefault("Content-Length", str(len(body)))
        import io

        resp.raw = io.BytesIO(body)
        resp.url = request.url
        resp.request = request
        resp.reason = "OK" if resp.status_code == 200 else "Recorded"
        resp.connection = self
        return resp

    def close(self) -> None:
        pass


def replay_session(cassette_dir: Path) -> requests.Session:
    session = requests.Session()
    adapter = ReplayAdapter(cassette_dir)
    session.mount("https://", adapter)
    session.mount("http://", adapter)
    return session


def write_cassette(cassette_dir: Path, pages: list[tuple[str, bytes]], *, content_type: str = "application/json",
                   ext: str = "json") -> None:
    """Write a cassette from ``(url, body)`` pairs (used by the recordings generator)."""
    cassette_dir.mkdir(parents=True, exist_ok=True)
    for old in cassette_dir.glob(f"page-*.{ext}"):
        old.unlink()
    interactions = []
    for i, (url, body) in enumerate(pages, start=1):
        name = f"page-{i:03d}.{ext}"
        (cassette_dir / name).write_bytes(body)
        interactions.append({"url": url, "status": 200, "headers": {"Content-Type": content_type},
                             "body_file": name})
    (cassette_dir / CASSETTE).write_text(json.dumps({"interactions": interactions}, indent=1, ensure_ascii=False)
                                         + "\n", encoding="utf-8")
