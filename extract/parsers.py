"""Parsers by name (the ``parser`` key of a registry entry): pure functions, bytes on disk in,
Arrow record batches out, in bounded memory. No network, no database."""

from __future__ import annotations

import hashlib
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from functools import cache
from pathlib import Path

import pyarrow as pa

from extract.tables import TableSpec


@dataclass(frozen=True)
class ParseContext:
    source_id: str
    millesime: int
    url: str | None
    file: str  # the name shown in messages (the published file name)


@dataclass(frozen=True)
class Parser:
    name: str
    spec: TableSpec
    parse: Callable[[Path, ParseContext], Iterator[pa.RecordBatch]]


@cache
def parsers() -> dict[str, Parser]:
    from extract import insee

    found = [*insee.PARSERS]
    return {p.name: p for p in found}


def get_parser(name: str) -> Parser:
    try:
        return parsers()[name]
    except KeyError:
        raise KeyError(f"unknown parser {name!r}; known: {', '.join(sorted(parsers()))}") from None


@cache
def code_fingerprint() -> str:
    """A hash of the extract code: a cached parse result is reused only if the parsers did not change."""
    h = hashlib.sha256()
    for path in sorted(Path(__file__).parent.glob("*.py")):
        h.update(path.name.encode())
        h.update(path.read_bytes())
    return h.hexdigest()[:16]
