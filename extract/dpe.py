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

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc

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
_ETIQUETTES_ARRAY = pa.array(sorted(ETIQUETTES))


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


def _slow_records(page_no: int, url: str, results: list, ctx: ParseContext):
    """The page's records one by one, checking each value: the reference path, and the one that names the first
    bad value (page, result, column, expected) when the vectorised path refuses a page."""
    sid = ctx.source_id
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


def _text_array(values: list) -> pa.Array | None:
    """Stripped text, blank → NULL; ``None`` when a value is not a string (left to the slow path)."""
    try:
        arr = pa.array(values, type=pa.string(), from_pandas=False)
    except (pa.ArrowInvalid, pa.ArrowTypeError):
        return None
    arr = pc.utf8_trim_whitespace(arr)
    return pc.if_else(pc.equal(arr, ""), pa.scalar(None, pa.string()), arr)


def _fast_batch(page_no: int, results: list, schema: pa.Schema, millesime: int) -> pa.RecordBatch | None:
    """The page as one Arrow batch, every check vectorised; ``None`` when anything is unusual (a value of another
    type, a check that fails): the page then goes through :func:`_slow_records`, which says what and where."""
    n = len(results)
    if not all(type(r) is dict for r in results):
        return None
    cols = {}
    for f in _TEXT_FIELDS + ("code_insee_ban",):
        arr = _text_array([r.get(f) for r in results])
        if arr is None:
            return None
        cols[f] = arr
    if cols["numero_dpe"].null_count or cols["code_insee_ban"].null_count:
        return None
    for f in ("etiquette_dpe", "etiquette_ges"):
        ok = pc.is_in(cols[f], value_set=_ETIQUETTES_ARRAY)
        if not pc.all(pc.or_kleene(ok, pc.is_null(cols[f]))).as_py():
            return None
    dates = cols["date_etablissement_dpe"]
    if dates.null_count or not pc.all(pc.match_substring_regex(dates, _DATE_RE.pattern)).as_py():
        return None
    try:
        surface = pa.array([r.get("surface_habitable_logement") for r in results], from_pandas=False)
    except (pa.ArrowInvalid, pa.ArrowTypeError):
        return None
    if not (pa.types.is_null(surface.type) or pa.types.is_integer(surface.type)
            or pa.types.is_floating(surface.type)):
        return None
    points = _text_array([r.get("_geopoint") for r in results])
    if points is None:
        return None
    parts = pc.split_pattern(points, ",")
    if not pc.all(pc.equal(pc.list_value_length(parts), 2)).as_py():
        return None
    try:
        flat = pc.cast(pc.utf8_trim_whitespace(pc.list_flatten(parts)), pa.float64())
    except (pa.ArrowInvalid, pa.ArrowNotImplementedError):
        return None
    valid = pc.is_valid(points).to_numpy(zero_copy_only=False)
    lat = np.full(n, np.nan)
    lon = np.full(n, np.nan)
    xy = flat.to_numpy(zero_copy_only=False).reshape(-1, 2) if len(flat) else np.empty((0, 2))
    lat[valid], lon[valid] = xy[:, 0], xy[:, 1]
    mask = ~valid
    arrays = [cols[f] for f in ("numero_dpe", "date_etablissement_dpe", "etiquette_dpe", "etiquette_ges",
                                "type_batiment", "periode_construction")]
    arrays += [pc.cast(surface, pa.float64()), cols["code_insee_ban"], pa.array(lat, mask=mask),
               pa.array(lon, mask=mask), pa.array(np.full(n, millesime, dtype=np.int32)),
               pa.array(page_no * 1_000_000 + np.arange(1, n + 1, dtype=np.int64)),
               pa.array([[]] * n, type=pa.list_(pa.string()))]
    return pa.RecordBatch.from_arrays(arrays, schema=schema)


def parse_dpe(path: Path, ctx: ParseContext, *, batch_rows: int = 100_000) -> Iterator[pa.RecordBatch]:
    """Page by page (bounded memory): a vectorised path for regular pages, the record-by-record one for any page
    it refuses (same values; the record path raises the error naming the page, result and column)."""
    sid = ctx.source_id
    schema = DPE_EXISTANT.arrow_schema()
    pending: list[pa.RecordBatch] = []
    rows = 0
    for page_no, (url, doc) in enumerate(iter_pages(path, source_id=sid), start=1):
        results = doc.get("results")
        if not isinstance(results, list):
            raise FormatError(sid, f"page {page_no} has no 'results' list", url=url, file=ctx.file,
                              expected="a data-fair /lines page {total, next, results}",
                              found="keys " + ", ".join(sorted(doc)))
        if not results:
            continue
        batch = _fast_batch(page_no, results, schema, ctx.millesime)
        if batch is None:
            pending.extend(batches_from_records(_slow_records(page_no, url, results, ctx), schema, ctx.millesime))
        else:
            pending.append(batch)
        rows = sum(b.num_rows for b in pending)
        if rows >= batch_rows:
            yield pa.concat_batches(pending)
            pending, rows = [], 0
    if pending:
        yield pa.concat_batches(pending)


PARSERS = [Parser("ademe_dpe_existant", DPE_EXISTANT, parse_dpe)]
