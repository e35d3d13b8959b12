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
    """Every parser declared by a module of the ``extract`` package (a module-level ``PARSERS`` list)."""
    import importlib
    import pkgutil

    import extract

    found: dict[str, Parser] = {}
    for info in pkgutil.iter_modules(extract.__path__):
        if info.ispkg or info.name.startswith("_"):
            continue
        module = importlib.import_module(f"extract.{info.name}")
        for parser in getattr(module, "PARSERS", []):
            if parser.name in found:
                raise ValueError(f"parser {parser.name!r} declared twice")
            found[parser.name] = parser
    return found


def get_parser(name: str) -> Parser:
    try:
        return parsers()[name]
    except KeyError:
        raise KeyError(f"unknown parser {name!r}; known: {', '.join(sorted(parsers()))}") from None


@cache
def code_fingerprint() -> str:
    """A hash of the extract code: a cached parse result is reused only if the parsers did not change."""
    h = hashlib.sha256()
    here = Path(__file__).parent
    # the methods of the computed baromètres' inputs (extract/calcules/) parse the grid and the GTFS feeds too
    for path in sorted(here.glob("*.py")) + sorted(here.glob("calcules/*.py")):
        h.update(path.name.encode())
        h.update(path.read_bytes())
    return h.hexdigest()[:16]
