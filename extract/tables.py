"""Typed tables out of delimited text: explicit column mapping, French numbers, secret markers.

A :class:`TableSpec` says which columns a source must have, under which names they were published across
millésimes (an explicit alias list per column, matched case-insensitively), and how each value is typed.
Parsing produces Arrow record batches in bounded memory with canonical column names, plus:

* ``millesime`` (the year the data describes, from the registry),
* ``_line`` (the physical line of the row in the published file, for error messages),
* ``_secret`` (the canonical names of the row's cells withheld by the publisher: blank, ``s``, ``nd``,
  ``n.s.``, ``...``, ``///``, ``faible``, a tranche code, or a row flag ``NOTE`` ≠ 0). Those cells are NULL;
  never 0.
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Iterator
from dataclasses import dataclass, field

import pyarrow as pa

from extract.errors import FormatError
from extract.formats import TextTable

BATCH_ROWS = 100_000

#: markers publishers use for a value they withhold (secret statistique) or could not compute
SECRET_MARKERS = frozenset(
    {"", "s", "nd", "n.d.", "n.d", "n.s.", "ns", "n.s", "...", "…", "///", "faible", "secret", "nc"}
)
#: tranche codes published instead of a value (older INSEE QPV bases), e.g. ``[0;50[``, ``50-100``, ``T3``
_TRANCHE_RE = re.compile(r"^(\[|\])?\s*\d[\d\s]*\s*[;\-–à]\s*\d[\d\s]*\s*(\[|\])?$|^t\d{1,2}$", re.IGNORECASE)
_SPACES_RE = re.compile(r"[\s\u00a0\u202f]")
_NUMBER_RE = re.compile(r"^[+-]?(\d+(\.\d*)?|\.\d+)([eE][+-]?\d+)?$")

ARROW_TYPES = {"text": pa.string(), "number": pa.float64(), "integer": pa.int64(), "binary": pa.binary(),
               "boolean": pa.bool_()}


@dataclass(frozen=True)
class Column:
    name: str
    aliases: tuple[str, ...] = ()
    type: str = "text"  # text | number | integer | binary | boolean
    required: bool = True
    kind: str | None = None  # count | rate | amount | index  (drives the raw checks)
    indicateur: str | None = None  # catalogue indicator whose plausible range applies
    alias_pattern: str | None = None  # regex for names carrying a year, e.g. r"^listeEpci\d{4}$"
    secret_allowed: bool = True
    zero_is_suspect: bool = False  # 0 is implausible here: a 0 is a secret cell filled in by mistake

    def matches(self, header_name: str) -> bool:
        low = header_name.strip().lower()
        if low == self.name.lower() or low in (a.lower() for a in self.aliases):
            return True
        return bool(self.alias_pattern and re.match(self.alias_pattern, header_name.strip(), re.IGNORECASE))


@dataclass(frozen=True)
class TableSpec:
    name: str
    columns: tuple[Column, ...]
    key: tuple[str, ...] = ("code_qpv",)
    note_column: str | None = None  # canonical name of a row-level secrecy flag (0 = published)
    skip_codes: tuple[str, ...] = ()  # aggregate rows to drop, matched on the first key column
    geography: str = "qpv2024"
    qpv_column: str | None = "code_qpv"  # column holding a QPV 2024 code (format checked, never a 2015 code)
    qpv_required: bool = True  # every row has a QPV code (False: e.g. equipments outside any QPV)
    covers_all_qpv: bool = True  # a per-QPV file: every QPV of the perimeter must be present
    extra: dict = field(default_factory=dict)

    def column(self, name: str) -> Column:
        for c in self.columns:
            if c.name == name:
                return c
        raise KeyError(name)

    def arrow_schema(self) -> pa.Schema:
        fields = [pa.field(c.name, ARROW_TYPES[c.type]) for c in self.columns]
        fields += [
            pa.field("millesime", pa.int32()),
            pa.field("_line", pa.int64()),
            pa.field("_secret", pa.list_(pa.string())),
        ]
        return pa.schema(fields)

    @property
    def value_columns(self) -> list[Column]:
        return [c for c in self.columns if c.type in ("number", "integer")]


def map_header(header: list[str], spec: TableSpec, *, source_id: str, file: str, url: str | None) -> dict[str, int]:
    """Canonical column name -> index in the published header. Raises on a missing required column,
    listing expected vs found, and on two published columns claiming the same canonical name."""
    mapping: dict[str, int] = {}
    for col in spec.columns:
        hits = [i for i, h in enumerate(header) if col.matches(h)]
        if len(hits) > 1:
            raise FormatError(
                source_id,
                f"ambiguous header: several columns map to {col.name!r}",
                url=url,
                file=file,
                line=1,
                expected=f"one of {', '.join((col.name,) + col.aliases)}",
                found=", ".join(header[i] for i in hits),
            )
        if hits:
            mapping[col.name] = hits[0]
    missing = [c for c in spec.columns if c.required and c.name not in mapping]
    if missing:
        expected = "; ".join(
            f"{c.name} (published as {' / '.join(c.aliases) or c.name}"
            + (f", or a name matching /{c.alias_pattern}/" if c.alias_pattern else "") + ")"
            for c in missing
        )
        raise FormatError(
            source_id,
            f"missing column(s): {', '.join(c.name for c in missing)}",
            url=url,
            file=file,
            line=1,
            expected=expected,
            found="header " + ", ".join(repr(h) for h in header),
        )
    return mapping


def is_secret_marker(raw: str) -> bool:
    low = raw.strip().lower()
    return low in SECRET_MARKERS or bool(_TRANCHE_RE.match(low))


def parse_number(raw: str) -> float:
    """French or English number: ``1 075`` → 1075, ``4,5`` → 4.5, ``-0,3`` → -0.3. Raises ValueError."""
    s = _SPACES_RE.sub("", raw)
    if "," in s:
        if "." in s:  # 1.234,5 (thousands dot) – rare but seen in Excel exports
            s = s.replace(".", "")
        s = s.replace(",", ".")
    if not _NUMBER_RE.match(s):
        raise ValueError(raw)
    return float(s)


def parse_rows(
    table: TextTable,
    spec: TableSpec,
    *,
    source_id: str,
    millesime: int,
    file: str,
    url: str | None = None,
    batch_rows: int = BATCH_ROWS,
) -> Iterator[pa.RecordBatch]:
    """Arrow record batches for every data row of ``table`` (bounded memory)."""
    mapping = map_header(table.header, spec, source_id=source_id, file=file, url=url)
    schema = spec.arrow_schema()
    cols = spec.columns
    idx = [mapping.get(c.name) for c in cols]
    note_idx = mapping.get(spec.note_column) if spec.note_column else None
    skip = {s.lower() for s in spec.skip_codes}
    first_key = mapping.get(spec.key[0]) if spec.key else None

    def empty_buffers():
        return [[] for _ in cols], [], []

    values, lines, secrets = empty_buffers()
    for line, fields in table.rows:
        if first_key is not None and fields[first_key].strip().lower() in skip:
            continue
        row_masked = False
        if note_idx is not None:
            note = fields[note_idx].strip()
            row_masked = note not in ("", "0", "0.0", "0,0")
        secret: list[str] = []
        for j, col in enumerate(cols):
            i = idx[j]
            if i is None:
                values[j].append(None)
                continue
            raw = fields[i].strip()
            if col.type == "text":
                values[j].append(raw or None)
                continue
            if row_masked and col.name != spec.note_column:
                values[j].append(None)
                secret.append(col.name)
                continue
            if is_secret_marker(raw):
                values[j].append(None)
                secret.append(col.name)
                continue
            try:
                num = parse_number(raw)
            except ValueError:
                raise FormatError(
                    source_id,
                    "value is not a number",
                    url=url,
                    file=file,
                    line=line,
                    column=table.header[i],
                    expected="a number (French decimal comma accepted) or a secret marker "
                    "(blank, s, nd, n.s., ..., ///, faible, tranche code)",
                    found=repr(raw),
                ) from None
            if col.type == "integer":
                if num != int(num):
                    raise FormatError(source_id, "value is not an integer", url=url, file=file, line=line,
                                      column=table.header[i], expected="an integer count", found=repr(raw))
                num = int(num)
            values[j].append(num)
        lines.append(line)
        secrets.append(secret)
        if len(lines) >= batch_rows:
            yield _batch(schema, values, millesime, lines, secrets)
            values, lines, secrets = empty_buffers()
    if lines:
        yield _batch(schema, values, millesime, lines, secrets)


def _batch(schema: pa.Schema, values, millesime: int, lines, secrets) -> pa.RecordBatch:
    arrays = [pa.array(v, type=schema.field(i).type) for i, v in enumerate(values)]
    arrays.append(pa.array([millesime] * len(lines), type=pa.int32()))
    arrays.append(pa.array(lines, type=pa.int64()))
    arrays.append(pa.array(secrets, type=pa.list_(pa.string())))
    return pa.RecordBatch.from_arrays(arrays, schema=schema)


def count_rows(batches: Iterable[pa.RecordBatch]) -> int:
    return sum(b.num_rows for b in batches)
