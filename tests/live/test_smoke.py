"""Live smoke tests: each source's latest millésime fetched from the publisher and parsed.

Deselected by default (``-m 'not live'`` in pyproject); run with ``pytest -m live``. Each test is skipped when
the publisher's host is unreachable (no network, or only package registries reachable, as in CI).
"""

from __future__ import annotations

import socket
from urllib.parse import urlparse

import pyarrow as pa
import pytest

from extract.apis import fetch_paged
from extract.http import FetchPolicy, fetch
from extract.parsers import ParseContext, get_parser
from extract.registry import load_registry

pytestmark = pytest.mark.live

SOURCES = [s for s in load_registry().values() if s.status == "publie" and s.millesimes]


def reachable(host: str, port: int = 443) -> bool:
    try:
        with socket.create_connection((host, port), timeout=3):
            return True
    except OSError:
        return False


@pytest.mark.parametrize("source", SOURCES, ids=[s.id for s in SOURCES])
def test_latest_millesime_fetches_and_parses(source, tmp_path):
    year = source.latest_millesime
    url = source.millesimes[year].url
    host = urlparse(url).hostname
    if not reachable(host):
        pytest.skip(f"{host} unreachable: live smoke test skipped")
    policy = FetchPolicy(retries=2)
    if source.kind == "api":
        result = fetch_paged(url, tmp_path, source_id=source.id, paginator=source.paginator, policy=policy,
                             api_key_env=source.api_key_env, rate_limit_per_minute=source.rate_limit_per_minute)
    else:
        result = fetch(url, tmp_path, source_id=source.id, policy=policy, api_key_env=source.api_key_env)
    parser = get_parser(source.parser)
    batches = list(parser.parse(result.path, ParseContext(source.id, year, url, result.filename)))
    table = pa.Table.from_batches(batches, schema=parser.spec.arrow_schema())
    assert table.num_rows > 0
