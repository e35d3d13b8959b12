"""ADEME « DPE Logements existants (depuis juillet 2021) » (data-fair dataset ``dpe03existant``).

Landed as a ZIP of the untouched ``/lines`` pages (see :mod:`extract.apis`, paginator ``datafair``): each page
is ``{"total": N, "next": "…&after=<cursor>", "results": [{field: value, …}, …]}`` holding only the
``select``-ed fields; data-fair leaves a field out of a result when it is empty (about 35 % of the DPE have no
``_geopoint``: they were not geocoded by ADEME).

One row per DPE (``numero_dpe``). ``latitude`` / ``longitude`` come from ``_geopoint`` ``"lat,lon"`` (WGS84);
absent → NULL; a bogus point (a DPE of Marseille geocoded in Scotland or at 0,0) is kept as published, the
spatial join with the QPV contours simply finds no QPV for it. There is no QPV column: another module assigns
each point to its QPV. A DPE describes a diagnosed dwelling (or building), not the housing stock: report
« distribution of DPE issued ». ``_line`` = page × 1 000 000 + rank of the result in its page (1-based).

The older export with French labels (``N°DPE``, ``Etiquette_DPE``, ``Code_INSEE_(BAN)``) is a different format:
it is refused (no ``numero_dpe``), never mixed in.
"""

from __future__ import annotations

import re
from collections.abc import Iterator
from pathlib import Path

import pyarrow as pa

from extract.apis import batches_from_records, iter_pages
from extract.errors import FormatError
from extract.parsers import ParseContext, Parser
from extract.tables import Column, TableSpec

ETIQUETTES = frozenset("ABCDEFG")

DPE_EXISTANT = TableSpec(
    name="ademe_dpe_existant",
    columns=(
        Column("numero_dpe"),
        Column("date_etablissement_dpe"),  # ISO date "2024-05-02"
        Column("etiquette_dpe", required=False),  # A…G
        Column("etiquette_ges", required=False),  # A…G
        Column("type_batiment", required=False),  # maison / appartement / immeuble
        Column("periode_construction", required=False),  # "1948-1974", "avant 1948"…
        Column("surface_habitable_logement", type="number", required=False),  # m²
        Column("code_insee_ban"),  # commune (Marseille, Lyon, Paris: arrondissement 132xx…)
        Column("latitude", type="number", required=False),  # WGS84, from _geopoint
        Column("longitude", type="number", required=False),
    ),
    key=("numero_dpe",),
    geography="point",
    qpv_column=None,
    qpv_required=False,
    covers_all_qpv=False,
)

_TEXT_FIELDS = ("numero_dpe", "date_etablissement_dpe", "etiquette_dpe", "etiquette_ges", "type_batiment",
                "periode_construction")
_DATE_RE = re.compile(r"^\d{4}-\d{2}-\d{2}")


def _text(v) -> str | None:
    if v is None:
        return None
    s = str(v).strip()
    return s or None


def _number(v, *, ctx: ParseContext, url: str, where: str, field: str) -> float | None:
    if v is None or (isinstance(v, str) and not v.strip()):
        return None
    if isinstance(v, bool):
        v = str(v)
    try:
        return float(str(v).replace(",", ".")) if isinstance(v, str) else float(v)
    except (TypeError, ValueError):
        raise FormatError(ctx.source_id, f"{field} is not a number ({where})", url=url, file=ctx.file,
                          column=field, expected="a number", found=repr(v)) from None


def _geopoint(v, *, ctx: ParseContext, url: str, where: str) -> tuple[float | None, float | None]:
    if v is None or (isinstance(v, str) and not v.strip()):
        return None, None
    if isinstance(v, list | tuple) and len(v) == 2:
        parts = [str(p) for p in v]
    else:
        parts = str(v).split(",")
    try:
        if len(parts) != 2:
            raise ValueError
        return float(parts[0]), float(parts[1])
    except ValueError:
        raise FormatError(ctx.source_id, f"_geopoint is not \"lat,lon\" ({where})", url=url, file=ctx.file,
                          column="_geopoint", expected='"43.35,5.36"', found=repr(v)) from None


def parse_dpe(path: Path, ctx: ParseContext) -> Iterator[pa.RecordBatch]:
    sid = ctx.source_id

    def records():
        for page_no, (url, doc) in enumerate(iter_pages(path, source_id=sid), start=1):
            results = doc.get("results")
            if not isinstance(results, list):
                raise FormatError(sid, f"page {page_no} has no 'results' list", url=url, file=ctx.file,
                                  expected="a data-fair /lines page {total, next, results}",
                                  found="keys " + ", ".join(sorted(doc)))
            for rank, res in enumerate(results, start=1):
                where = f"page {page_no}, result {rank}"
                if not isinstance(res, dict) or not _text(res.get("numero_dpe")):
                    found = ", ".join(sorted(res)) if isinstance(res, dict) else repr(res)[:200]
                    raise FormatError(sid, f"result without numero_dpe ({where})", url=url, file=ctx.file,
                                      expected="snake_case fields of dpe03existant (numero_dpe, etiquette_dpe, "
                                      "code_insee_ban, _geopoint…), not the old labelled export",
                                      found=found)
                values = {f: _text(res.get(f)) for f in _TEXT_FIELDS}
                for f in ("etiquette_dpe", "etiquette_ges"):
                    if values[f] is not None and values[f] not in ETIQUETTES:
                        raise FormatError(sid, f"{f} is not a label A…G ({where})", url=url, file=ctx.file,
                                          column=f, expected="A, B, C, D, E, F or G", found=repr(values[f]))
                if not values["date_etablissement_dpe"] or not _DATE_RE.match(values["date_etablissement_dpe"]):
                    raise FormatError(sid, f"date_etablissement_dpe is not an ISO date ({where})", url=url,
                                      file=ctx.file, column="date_etablissement_dpe", expected="YYYY-MM-DD",
                                      found=repr(res.get("date_etablissement_dpe")))
                code = res.get("code_insee_ban")
                if isinstance(code, int):  # a code read as a number lost its leading zero
                    code = f"{code:05d}"
                values["code_insee_ban"] = _text(code)
                if not values["code_insee_ban"]:
                    raise FormatError(sid, f"result without code_insee_ban ({where})", url=url, file=ctx.file,
                                      column="code_insee_ban", expected="a commune code (the qs filter is on it)",
                                      found="nothing")
                values["surface_habitable_logement"] = _number(res.get("surface_habitable_logement"), ctx=ctx,
                                                               url=url, where=where,
                                                               field="surface_habitable_logement")
                values["latitude"], values["longitude"] = _geopoint(res.get("_geopoint"), ctx=ctx, url=url,
                                                                    where=where)
                yield page_no * 1_000_000 + rank, values, []

    yield from batches_from_records(records(), DPE_EXISTANT.arrow_schema(), ctx.millesime)


PARSERS = [Parser("ademe_dpe_existant", DPE_EXISTANT, parse_dpe)]
