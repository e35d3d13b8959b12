"""INSEE per-QPV files of the 2024 geography (one per producer) and the Base permanente des équipements.

Per-QPV bases (« Données sur les quartiers 2024 de la politique de la ville », sommaire 8186144), each a
ZIP holding ``data_<SOURCE><YEAR>_QP.csv`` (Filosofi: ``revenu-disponible-qp24-<YEAR>_QP.csv``) next to
``meta_`` files, aggregate (``_ENSQP``) and commune (``_COM``) files:

* ``insee_filosofi_qpv``    revenus, pauvreté et niveau de vie (Filosofi), ``DISP_*_A<yy>`` columns
* ``insee_estimations_qpv`` estimations démographiques (population by age band)            [header inferred]
* ``ft_defm_qpv``           demandeurs d'emploi France Travail géoréférencés par l'INSEE (31 December)
* ``caf_allocataires_qpv``  allocataires CAF (31 December)
* ``rpls_qpv``              parc locatif social RPLS (1 January)

Their conventions: ``;`` separator, decimal comma, thousands with a (narrow) no-break space, UTF-8 with or
without BOM (Windows-1252 accepted), CRLF or LF, headers sometimes quoted, names whose case (``CodGeo`` /
``codGeo``) or year suffix (``_A21`` / ``_A22``) changes between millésimes, a row flag ``NOTE`` (0 =
published, 1-5 = the whole row is withheld), secret cells blank (even on rows with ``NOTE = 0``). Every
column is mapped explicitly (:class:`extract.tables.Column` aliases): a renamed column is a
:class:`~extract.errors.FormatError` listing what was expected and what was found, never a silent NULL.

``insee_bpe``: one row per equipment, national (about 2.7 million rows, ~100 columns), ``BPE24.csv``
(``;``) or ``BPE25.zip`` (separator to sniff, names possibly lower-case). Only eight columns are kept; the
file is streamed with ``pyarrow.csv.open_csv`` restricted to those columns, so memory stays bounded.
``code_qpv`` comes from ``QP2024`` only (``_Z`` sans objet / ``_U`` indéterminé / blank → NULL); the 2015
geography columns (``QP2015``, ``QP``) are never read.
"""

from __future__ import annotations

import csv
import re
from collections.abc import Iterator
from contextlib import ExitStack
from pathlib import Path

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc

from extract.arrow_csv import blocks, open_text_columns
from extract.errors import FormatError
from extract.formats import (
    SNIFF_BYTES,
    csv_bytes_from,
    describe_kind,
    open_zip,
    read_delimited,
    sniff_path,
    sniff_separator,
)
from extract.parsers import ParseContext, Parser
from extract.tables import BATCH_ROWS, Column, TableSpec, map_header, parse_rows

# -- shared columns ------------------------------------------------------------------------------------

#: the QPV code: ``CODGEO`` in INSEE files, ``CodGeo`` / ``codGeo`` in RPLS files (matching ignores case)
QPV_CODE = Column("code_qpv", ("CODGEO", "code_qp", "codeQPV"))
#: the row flag: 0 = published, 1-5 = every value of the row withheld (secret statistique)
NOTE = Column("note", ("NOTE",), type="integer")
#: aggregate rows that are not a QPV (Filosofi starts with ``Ensemble``)
AGGREGATE_CODES = ("ensemble", "total", "00", "ensqp")


def _count(name: str, *aliases: str, indicateur: str | None = None, required: bool = True,
           zero_is_suspect: bool = True) -> Column:
    """A count published by INSEE per QPV: small counts are blanked (secret), so a published 0 is a
    secret cell filled in by mistake.

    Typed ``number`` (float64), not ``integer``: the raw gate reads the parsed Parquet through pandas,
    where an int64 column holding NULLs (secret cells) becomes float64 and fails the gate's int64 type
    check. Back to ``integer`` once the gate reads Parquet with pandas' nullable ``Int64`` dtype."""
    return Column(name, aliases, type="number", kind="count", indicateur=indicateur, required=required,
                  zero_is_suspect=zero_is_suspect)


def _rate(name: str, *aliases: str, indicateur: str | None = None, required: bool = True,
          zero_is_suspect: bool = False, alias_pattern: str | None = None) -> Column:
    return Column(name, aliases, type="number", kind="rate", indicateur=indicateur, required=required,
                  zero_is_suspect=zero_is_suspect, alias_pattern=alias_pattern)


def _disp(name: str, var: str, *, pattern: str | None = None, **kw) -> Column:
    """A Filosofi disposable-income variable: its year suffix follows the vintage (``DISP_MED_A21``,
    ``DISP_MED_A22``; ``disp_med_a17`` in 2017): the known spellings are listed, later ones matched by
    pattern."""
    return Column(name, (f"DISP_{var}_A21", f"DISP_{var}_A22"),
                  alias_pattern=pattern or rf"^DISP_{var}_A\d{{2}}$", **kw)


# -- 1. Filosofi: revenus, pauvreté et niveau de vie (insee.fr page 8243167) -------------------------------

FILOSOFI_QPV = TableSpec(
    name="insee_filosofi_qpv",
    columns=(
        QPV_CODE,
        _disp("note", "NOTE", type="integer"),
        _disp("revenu_q1", "Q1", type="number", kind="amount", zero_is_suspect=True),
        _disp("revenu_median", "MED", type="number", kind="amount", indicateur="revenu_median",
              zero_is_suspect=True, pattern=r"^DISP_(MED|Q2)_A\d{2}$"),
        _disp("revenu_q3", "Q3", type="number", kind="amount", zero_is_suspect=True),
        _disp("revenu_d1", "D1", type="number", kind="amount", zero_is_suspect=True),
        _disp("revenu_d9", "D9", type="number", kind="amount", zero_is_suspect=True),
        _disp("rapport_interdecile", "RD", type="number", kind="index", zero_is_suspect=True),
        _disp("part_prestations_sociales", "PPSOC", type="number", kind="rate", zero_is_suspect=True),
        _disp("taux_pauvrete", "TP60", type="number", kind="rate", indicateur="taux_pauvrete",
              zero_is_suspect=True),
    ),
    note_column="note",
    skip_codes=AGGREGATE_CODES,
)

# -- 2. Estimations démographiques, QPV 2024 (page 8742545) — header designed, not seen [inferred] --------

ESTIMATIONS_QPV = TableSpec(
    name="insee_estimations_qpv",
    columns=(
        QPV_CODE,
        Column("pop_total", ("POP", "POP_TOT", "POP_TOTALE", "POPULATION"), type="number", kind="count",
               indicateur="population", secret_allowed=False, zero_is_suspect=True),
        Column("pop_0_14", ("POP_0A14", "POP0014", "POP_0014"), type="number", kind="count", zero_is_suspect=True),
        Column("pop_15_19", ("POP_15A19", "POP1519", "POP_1519"), type="number", kind="count",
               zero_is_suspect=True),
        Column("pop_20_24", ("POP_20A24",), type="number", kind="count",
               zero_is_suspect=True),
        Column("pop_25_59", ("POP_25A59", "POP2559", "POP_2559"), type="number", kind="count",
               zero_is_suspect=True),
        Column("pop_60_74", ("POP_60A74", "POP6074", "POP_6074"), type="number", kind="count",
               zero_is_suspect=True),
        Column("pop_75_plus", ("POP_75ETPLUS", "POP_75P", "POP75P", "POP_75PLUS"), type="number", kind="count",
               zero_is_suspect=True),
        Column("pop_hommes", ("POP_H", "POPH"), type="number", kind="count", required=False, zero_is_suspect=True),
        Column("pop_femmes", ("POP_F", "POPF"), type="number", kind="count", required=False, zero_is_suspect=True),
    ),
    skip_codes=AGGREGATE_CODES,
)

# -- 3. France Travail demandeurs d'emploi, via INSEE (page 8644871) ----------------------------------------

DEFM_QPV = TableSpec(
    name="ft_defm_qpv",
    columns=(
        QPV_CODE,
        Column("note", ("NOTE", "NOTE_PE"), type="integer"),
        _count("defm_abcde", "ABCDE"),
        _count("defm_abc", "ABC", indicateur="nb_demandeurs_emploi_abc"),
        _count("defm_abc_hommes", "ABC_H"),
        _count("defm_abc_femmes", "ABC_F"),
        _count("defm_a", "A", indicateur="nb_demandeurs_emploi_a"),
        _count("defm_abc_moins_25", "ABC_25", "ABC_M25"),
        _count("defm_abc_50_plus", "ABC_50", "ABC_50P"),
        _count("defm_abc_rsa", "ABC_RSA"),
    ),
    note_column="note",
    skip_codes=AGGREGATE_CODES,
)

# -- 4. CAF allocataires, via INSEE (page 8682381) ---------------------------------------------------------

CAF_QPV = TableSpec(
    name="caf_allocataires_qpv",
    columns=(
        QPV_CODE,
        Column("note", ("NOTE", "NOTE_CNAF"), type="integer"),
        _count("allocataires", "A", indicateur="nb_allocataires_caf"),
        _count("personnes_couvertes", "PERCOU", indicateur="nb_personnes_couvertes_caf"),
        _count("allocataires_isoles", "AI"),
        _count("allocataires_monoparents", "AM"),
        _count("allocataires_couples_sans_enfant", "ACSSENF"),
        _count("allocataires_couples_avec_enfants", "ACAVENF"),
        _count("enfants_couverts", "ENF"),
        _count("allocataires_aide_logement", "AAL"),
        _count("allocataires_aah", "AAAH"),
        _count("allocataires_prime_activite", "APPA"),
        _count("allocataires_rsa", "ARSAS", "ARSA", indicateur="nb_allocataires_rsa"),
    ),
    note_column="note",
    skip_codes=AGGREGATE_CODES,
)

# -- 5. RPLS parc locatif social, via INSEE (page 9054633) -------------------------------------------------

RPLS_QPV = TableSpec(
    name="rpls_qpv",
    columns=(
        QPV_CODE,
        Column("libelle_qpv", ("LIBGEO", "libQPV"), required=False),
        Column("note", ("NOTE",), type="integer"),
        # a QPV may have no social dwelling at all (old town centres) and a year without new dwellings:
        # 0 is a real value here, not a filled-in secret cell
        _count("logements_sociaux", "nbLsPls", indicateur="nb_logements_sociaux", zero_is_suspect=False),
        _count("logements_mis_en_service", "nbLsMes", zero_is_suspect=False),
        _rate("taux_vacance", "txVac"),
        _rate("taux_rotation", "txRot"),
        Column("loyer_moyen_m2", ("moyLoy",), type="number", kind="amount", zero_is_suspect=True),
        Column("loyer_median_m2", ("medLoy",), type="number", kind="amount", zero_is_suspect=True),
    ),
    note_column="note",
    skip_codes=AGGREGATE_CODES,
)

#: data member of each ZIP (matched case-insensitively on the member's base name; ``meta_``, ``_ENSQP``,
#: ``_COM`` and declared-income members never match)
MEMBERS = {
    "insee_filosofi_qpv": r"^(data_)?revenu[-_]disponible.*[-_]qp\.csv$",
    "insee_estimations_qpv": r"^(data_)?estim[a-z_-]*\d{4}[-_]qpv?(24|2024)?\.csv$",
    "ft_defm_qpv": r"^data_defm\d{4}[-_]qpv?(24)?\.csv$",
    "caf_allocataires_qpv": r"^data_caf[-_]?\d{4}[-_]qpv?(24)?\.csv$",
    "rpls_qpv": r"^data_rpls\d{4}[-_]qpv?(24|2024)?\.csv$",
}


def _shown(ctx: ParseContext, path: Path, member: str) -> str:
    return ctx.file if member == path.name else f"{ctx.file}!{member}"


def _renamed(err: FormatError, path: Path, ctx: ParseContext) -> FormatError:
    """The same error, naming the published file rather than its landed (hash) name."""
    if err.file == path.name and ctx.file != path.name:
        err = FormatError(err.source_id, err.problem, url=err.url, file=ctx.file, line=err.line,
                          column=err.column, expected=err.expected, found=err.found)
    return err


def qpv_table_parser(spec: TableSpec, member_pattern: str):
    """A parser for an INSEE per-QPV table served as a CSV or as a ZIP holding it."""

    def parse(path: Path, ctx: ParseContext, *, batch_rows: int = BATCH_ROWS) -> Iterator[pa.RecordBatch]:
        try:
            data, member = csv_bytes_from(path, source_id=ctx.source_id, url=ctx.url, member_pattern=member_pattern,
                                          file=ctx.file)
        except FormatError as err:
            raise _renamed(err, path, ctx) from None
        shown = _shown(ctx, path, member)
        table = read_delimited(data, source_id=ctx.source_id, file=shown, url=ctx.url)
        yield from parse_rows(table, spec, source_id=ctx.source_id, millesime=ctx.millesime, file=shown,
                              url=ctx.url, batch_rows=batch_rows)

    return parse


# -- 6. BPE (page 8217525): streamed -----------------------------------------------------------------------

BPE = TableSpec(
    name="insee_bpe",
    columns=(
        Column("annee", ("AN",), type="integer"),
        Column("code_commune", ("DEPCOM",)),
        Column("code_epci", ("EPCI",), required=False),
        Column("typequ", ("TYPEQU",)),
        # QPV 2024 only: QP2015 / QP (older BPE) are another geography and are never mapped here
        Column("code_qpv", ("QP2024",)),
        Column("qualite_qpv", ("QUALI_QP2024",), required=False),
        Column("longitude", ("LONGITUDE",), type="number", required=False),
        Column("latitude", ("LATITUDE",), type="number", required=False),
    ),
    key=(),
    qpv_required=False,
    covers_all_qpv=False,
    geography="equipement",
)

BPE_QUALITE_INDEX = [c.name for c in BPE.columns].index("qualite_qpv")
BPE_MEMBER = r"^bpe[-_]?\d{2}(_ensemble(_xy)?)?\.csv$"
#: QP2024 values giving no QPV code: blank, ``_Z`` sans objet, ``_U`` indéterminé, and the older BPE codes ``HZ``
#: (hors zone) / ``CSZ`` (commune sans zonage) [inferred from BPE <= 2021]
BPE_NO_QPV = ("", "_Z", "_U", "HZ", "CSZ", "ZZZZZZZZ")
#: QP2024 (and QUALI_QP2024) for an equipment INSEE could not place in or out of a QPV: it is in no QPV's
#: count, and not « hors QPV » either; ``qualite_qpv`` keeps it when the file has no QUALI_QP2024 column
BPE_QPV_UNDETERMINED = "_U"
#: rows per Arrow block read from the CSV (bytes); output batches are re-sliced to ``batch_rows``
BPE_BLOCK_BYTES = 4 << 20


def _sniff_encoding(head: bytes) -> str:
    body = head[3:] if head.startswith(b"\xef\xbb\xbf") else head
    try:
        body.decode("utf-8")
        return "utf8"
    except UnicodeDecodeError as exc:
        if exc.reason == "unexpected end of data" and exc.start >= len(body) - 3:
            return "utf8"  # the sample cut a multi-byte character
        return "cp1252"


def _bpe_open(path: Path, ctx: ParseContext, stack: ExitStack):
    """(opener, shown name): ``opener()`` returns a fresh binary stream of the data CSV."""
    kind = sniff_path(path)
    if kind == "zip":
        zf = stack.enter_context(open_zip(path, source_id=ctx.source_id, url=ctx.url, file=ctx.file))
        names = [n for n in zf.namelist() if not n.endswith("/")]
        rx = re.compile(BPE_MEMBER, re.IGNORECASE)
        hits = [n for n in names if rx.search(n.rsplit("/", 1)[-1])]
        if len(hits) != 1:
            raise FormatError(ctx.source_id, "cannot find the data file inside the ZIP archive", url=ctx.url,
                              file=ctx.file, expected=f"exactly one member matching {BPE_MEMBER!r}",
                              found=", ".join(names[:10]) or "no member")
        member = hits[0]
        return (lambda: zf.open(member)), f"{ctx.file}!{member}"
    if kind == "text":
        return (lambda: open(path, "rb")), ctx.file
    raise FormatError(ctx.source_id, "unexpected file type", url=ctx.url, file=ctx.file,
                      expected="the BPE CSV, or a ZIP holding it", found=describe_kind(kind))


def _bpe_header(head: bytes, encoding: str, ctx: ParseContext, shown: str) -> tuple[list[str], str]:
    text = head.decode("utf-8" if encoding == "utf8" else encoding, errors="replace").lstrip("\ufeff")
    first = text.split("\n", 1)[0].rstrip("\r")
    if not first.strip():
        raise FormatError(ctx.source_id, "empty file", url=ctx.url, file=shown, expected="a header line")
    sep = sniff_separator(first)
    header = [h.strip().lstrip("\ufeff") for h in next(csv.reader([first], delimiter=sep, quotechar='"'))]
    return header, sep


def _bad_value(values: pa.Array, ok: np.ndarray, start_line: int, column: str, expected: str,
               ctx: ParseContext, shown: str) -> FormatError:
    i = int(np.flatnonzero(~ok)[0])
    return FormatError(ctx.source_id, "value is not a number", url=ctx.url, file=shown, line=start_line + i,
                       column=column, expected=expected, found=repr(values[i].as_py()))


def _to_number(raw: pa.Array, integer: bool, start_line: int, column: str, ctx: ParseContext,
               shown: str) -> pa.Array:
    """Blank → NULL; ``1,5`` or ``1.5`` → 1.5 (``1 075`` → 1075). Raises a FormatError naming the line."""
    s = pc.replace_substring_regex(raw, pattern="[\\s\u00a0\u202f]", replacement="")
    s = pc.replace_substring(s, pattern=",", replacement=".")
    s = pc.if_else(pc.equal(s, ""), pa.scalar(None, pa.string()), s)
    pattern = r"^[+-]?\d+$" if integer else r"^[+-]?(\d+(\.\d*)?|\.\d+)([eE][+-]?\d+)?$"
    ok = pc.fill_null(pc.or_kleene(pc.is_null(s), pc.match_substring_regex(s, pattern)), False)
    ok = ok.to_numpy(zero_copy_only=False)
    if not ok.all():
        raise _bad_value(raw, ok, start_line, column, "an integer" if integer else "a number", ctx, shown)
    return pc.cast(s, pa.int64() if integer else pa.float64())


def _text(raw: pa.Array, nulls: tuple[str, ...] = ("",)) -> pa.Array:
    s = pc.utf8_trim_whitespace(raw)
    return pc.if_else(pc.is_in(s, value_set=pa.array(nulls)), pa.scalar(None, pa.string()), s)


def _secret_lists(nulls: list[tuple[str, np.ndarray]], n: int) -> pa.Array:
    """Per row, the names of the numeric columns left blank (in column order)."""
    counts = np.zeros(n, dtype=np.int64)
    for _, mask in nulls:
        counts += mask
    offsets = np.zeros(n + 1, dtype=np.int64)
    np.cumsum(counts, out=offsets[1:])
    values = np.empty(int(offsets[-1]), dtype=object)
    pos = offsets[:-1].copy()
    for name, mask in nulls:
        values[pos[mask]] = name
        pos += mask
    return pa.ListArray.from_arrays(pa.array(offsets, pa.int32()), pa.array(values, pa.string()))


def _malformed(exc: Exception, line: int, header: list[str], sep: str, ctx: ParseContext,
               shown: str) -> FormatError:
    return FormatError(ctx.source_id, "malformed CSV", url=ctx.url, file=shown, line=line,
                       expected=f"{len(header)} fields separated by {sep!r}, in UTF-8 or Windows-1252 "
                       "(the line given is the first of the block that failed)",
                       found=str(exc).splitlines()[0][:300])


def parse_bpe(path: Path, ctx: ParseContext, *, batch_rows: int = BATCH_ROWS,
              block_bytes: int = BPE_BLOCK_BYTES) -> Iterator[pa.RecordBatch]:
    """The BPE, streamed: blocks of ``block_bytes`` read by Arrow, only the mapped columns converted,
    yielded as batches of at most ``batch_rows`` rows. ``_line`` is the physical line (header = 1),
    exact as long as no value holds a line break."""
    schema = BPE.arrow_schema()
    with ExitStack() as stack:
        opener, shown = _bpe_open(path, ctx, stack)
        with opener() as fh:
            head = fh.read(SNIFF_BYTES * 16)
        encoding = _sniff_encoding(head)
        header, sep = _bpe_header(head, encoding, ctx, shown)
        mapping = map_header(header, BPE, source_id=ctx.source_id, file=shown, url=ctx.url)
        try:
            reader, names = open_text_columns(stack.enter_context(opener()), columns=len(header),
                                              keep=mapping.values(), sep=sep, encoding=encoding,
                                              block_bytes=block_bytes)
        except (pa.ArrowInvalid, UnicodeDecodeError) as exc:
            raise _malformed(exc, 2, header, sep, ctx, shown) from None
        for start, block in blocks(reader, lambda exc, line: _malformed(exc, line, header, sep, ctx, shown)):
            n = block.num_rows
            arrays, nulls = [], []
            undetermined = None
            for col in BPE.columns:
                if col.name not in mapping:
                    arrays.append(pa.nulls(n, schema.field(col.name).type))
                    continue
                raw = block.column(names[mapping[col.name]])
                if col.type == "text":
                    arrays.append(_text(raw, BPE_NO_QPV if col.name == "code_qpv" else ("",)))
                    if col.name == "code_qpv":
                        undetermined = pc.equal(pc.utf8_trim_whitespace(raw), BPE_QPV_UNDETERMINED)
                    continue
                arr = _to_number(raw, col.type == "integer", start, header[mapping[col.name]], ctx, shown)
                nulls.append((col.name, arr.is_null().to_numpy(zero_copy_only=False)))
                arrays.append(arr)
            if undetermined is not None:  # an older file without QUALI_QP2024 still says « indéterminé »
                i = BPE_QUALITE_INDEX
                arrays[i] = pc.if_else(pc.and_(undetermined, pc.is_null(arrays[i])),
                                       pa.scalar(BPE_QPV_UNDETERMINED, pa.string()), arrays[i])
            arrays.append(pa.array(np.full(n, ctx.millesime, dtype=np.int32)))
            arrays.append(pa.array(np.arange(start, start + n, dtype=np.int64)))
            arrays.append(_secret_lists(nulls, n))
            batch = pa.RecordBatch.from_arrays(arrays, schema=schema)
            for off in range(0, n, batch_rows):
                yield batch.slice(off, batch_rows)


PARSERS = [
    Parser("insee_filosofi_qpv", FILOSOFI_QPV, qpv_table_parser(FILOSOFI_QPV, MEMBERS["insee_filosofi_qpv"])),
    Parser("insee_estimations_qpv", ESTIMATIONS_QPV,
           qpv_table_parser(ESTIMATIONS_QPV, MEMBERS["insee_estimations_qpv"])),
    Parser("ft_defm_qpv", DEFM_QPV, qpv_table_parser(DEFM_QPV, MEMBERS["ft_defm_qpv"])),
    Parser("caf_allocataires_qpv", CAF_QPV, qpv_table_parser(CAF_QPV, MEMBERS["caf_allocataires_qpv"])),
    Parser("rpls_qpv", RPLS_QPV, qpv_table_parser(RPLS_QPV, MEMBERS["rpls_qpv"])),
    Parser("insee_bpe", BPE, parse_bpe),
]
