"""RNIC — Registre national d'immatriculation des copropriétés (Anah, data.gouv.fr dataset
``62da71c068871f4c54258c7c``, Licence Ouverte).

Two layouts of the same registry, mapped explicitly (``TableSpec`` aliases):

* the **daily file** ``rnc-data-gouv-with-qpv.csv`` (2025-): ``,``-separated, possibly with a UTF-8 BOM,
  snake_case names (``numero_immatriculation``, ``date_derniere_maj``, ``code_qp_2024``, ``copro_aidee``,
  ``code_officiel_commune``, …), ISO dates, ``oui``/``non`` flags;
* the **quarterly files** (2022-2025): every field quoted, French labels (``"Numéro d'immatriculation"``,
  ``"Date de la dernière MAJ"``, ``"Copro aidée"``, ``"Code Officiel Commune"``…, some with a typographic
  apostrophe ``’``), dates ``dd/mm/YYYY``, ``Oui``/``Non``.

Canonical rules (see also docs/sources.md):

* ``code_qpv`` comes from ``code_qp_2024`` only (blank → NULL: not in a QPV); ``code_qp_2015`` is kept in its
  own column and never mixed (a 2015 code in the 2024 column, or the reverse, is a :class:`FormatError`).
* ``code_commune`` is the INSEE code of the **commune** (Marseille ``13055``), ``code_arrondissement`` the
  PLM arrondissement (``13201``…``13216``) or NULL. The daily file's ``code_officiel_commune`` holds the
  **postal code** (``13001`` = Marseille 1er in it, but Aix-en-Provence's INSEE code), so the INSEE code is
  taken, in this order, from ``code_officiel_arrondissement_commune`` (INSEE code of the arrondissement or
  commune), then the first cadastral parcel's ``code_insee_commune_1``, then ``code_officiel_commune`` only if
  it differs from the address's postal code. Codes are validated syntactically (``2A``/``2B``, DOM).
* ``copro_aidee``, ``copro_dans_acv``, ``copro_dans_pvd`` are normalised to ``oui``/``non`` (NULL when blank
  or « non connu »); ``date_derniere_maj`` is ISO ``YYYY-MM-DD`` text.
* **Duplicates**: an immatriculation appears on several rows when its syndic changed (the old mandate is
  still published). Key: ``numero_immatriculation``. The row kept is the one with the latest
  ``date_derniere_maj``; on a tie, the one whose ``mandat_en_cours`` says a mandate is in progress; then the
  last one in the file. ``nb_lignes_publiees`` says how many rows the file had for the copropriété.

Memory: the national daily file is hundreds of MB. It is streamed twice (never held in memory): a first pass
keeps, per immatriculation, only the rank of its best row; the second emits the kept rows in batches.
"""

from __future__ import annotations

import codecs
import csv
import io
import re
from collections.abc import Iterator
from contextlib import contextmanager
from datetime import date
from pathlib import Path

import pyarrow as pa

from extract.errors import FormatError
from extract.formats import (
    SNIFF_BYTES,
    TextTable,
    describe_kind,
    open_zip,
    sniff_kind,
    sniff_path,
    sniff_separator,
)
from extract.parsers import ParseContext, Parser
from extract.tables import Column, TableSpec, map_header, parse_rows

QPV_2024_RE = re.compile(r"^QN(\d{3}|02A|02B)\d{2}[NMIC]$")
QPV_2015_RE = re.compile(r"^QP(\d{3}|02A|02B)\d{3}$")
INSEE_RE = re.compile(r"^((0[1-9]|1\d|2[1-9]|[3-8]\d|9[0-5])\d{3}|2[AB]\d{3}|97[1-6]\d{2})$")
#: PLM arrondissements -> their commune
PLM = (("13201", "13216", "13055"), ("69381", "69389", "69123"), ("75101", "75120", "75056"))


def _apos(label: str) -> tuple[str, ...]:
    """A French label with either apostrophe (the quarterly files mix ' and ’)."""
    return tuple(dict.fromkeys((label, label.replace("'", "’"), label.replace("’", "'"))))


RNIC = TableSpec(
    name="anah_rnic",
    columns=(
        Column("numero_immatriculation", _apos("Numéro d'immatriculation") + ("numero_d_immatriculation",)),
        Column("code_qpv", ("code_qp_2024",)),
        Column("code_qp_2015", (), required=False),
        Column("code_commune", ("code_officiel_commune", "Code Officiel Commune")),
        Column("code_arrondissement", ("code_officiel_arrondissement_commune", "Code Officiel Arrondissement Commune"),
               required=False),
        Column("nombre_total_lots", ("Nombre total de lots", "nombre_total_de_lots"), type="integer", kind="count"),
        Column("nombre_lots_habitation", _apos("Nombre de lots à usage d’habitation")
               + ("nombre_de_lots_a_usage_d_habitation",), type="integer", kind="count"),
        Column("periode_construction", ("Période de construction", "periode_de_construction")),
        Column("copro_aidee", ("Copro aidée",)),
        Column("copro_dans_acv", ("Copro dans ACV",)),
        Column("copro_dans_pvd", ("Copro dans PVD",)),
        Column("type_syndic", ("Type de syndic : bénévole / professionnel / non connu",
                               "type_de_syndic_benevole_professionnel_non_connu")),
        Column("mandat_en_cours", ("Mandat en cours dans la copropriété", "mandat_en_cours_dans_la_copropriete")),
        Column("date_derniere_maj", ("Date de la dernière MAJ", "date_de_la_derniere_maj")),
        Column("longitude", ("long",), type="number", required=False),
        Column("latitude", ("lat",), type="number", required=False),
        Column("nb_lignes_publiees", type="integer", required=False),
    ),
    key=("numero_immatriculation",),
    geography="qpv2024",
    qpv_column="code_qpv",
    qpv_required=False,
    covers_all_qpv=False,
)

#: published columns read to resolve the commune but not kept
_POSTAL = Column("code_postal", ("code_postal_adresse", "Code postal (adresse de référence)",
                                 "code_postal_adresse_de_reference"))
_CADASTRE_COM = Column("code_insee_commune_1", ("Code INSEE commune 1",))
_DERIVED = {"code_commune", "code_arrondissement", "nb_lignes_publiees"}
_YES = {"oui", "o", "true", "vrai", "1", "yes"}
_NO = {"non", "n", "false", "faux", "0", "no"}
_UNKNOWN = {"", "non connu", "nc", "inconnu"}
_DATE_FR = re.compile(r"^(\d{2})/(\d{2})/(\d{4})$")
_DATE_ISO = re.compile(r"^(\d{4})-(\d{2})-(\d{2})(?:[T ][\d:.]+Z?)?$")


def plm_commune(code: str) -> str | None:
    """The commune of a Paris/Lyon/Marseille arrondissement code, else None."""
    for lo, hi, commune in PLM:
        if lo <= code <= hi and len(code) == 5:
            return commune
    return None


def resolve_commune(arrondissement: str, cadastre: str, officiel: str, postal: str) -> tuple[str | None, str | None]:
    """``(code_commune, code_arrondissement)`` from the published columns (see the module doc)."""
    officiel = officiel.strip()
    for cand in (arrondissement.strip(), cadastre.strip(), officiel if officiel != postal.strip() else ""):
        if INSEE_RE.match(cand):
            parent = plm_commune(cand)
            return (parent, cand) if parent else (cand, None)
    return None, None


def _yes_no(raw: str) -> str | None:
    low = raw.strip().lower()
    if low in _YES:
        return "oui"
    if low in _NO:
        return "non"
    if low in _UNKNOWN:
        return None
    raise ValueError(raw)


def _iso_date(raw: str) -> str | None:
    s = raw.strip()
    if not s:
        return None
    m = _DATE_FR.match(s)
    if m:
        d, mo, y = m.groups()
    else:
        m = _DATE_ISO.match(s)
        if not m:
            raise ValueError(s)
        y, mo, d = m.groups()
    return date(int(y), int(mo), int(d)).isoformat()  # raises ValueError on 31/02


def _mandate_in_progress(raw: str) -> bool:
    low = raw.strip().lower()
    return low.startswith("mandat en cours") or low == "oui"


@contextmanager
def _open_text(path: Path, ctx: ParseContext, encoding: str):
    """The CSV as a text stream (a plain file, or the single CSV of a ZIP), never read whole."""
    kind = sniff_path(path)
    if kind == "zip":
        with open_zip(path, source_id=ctx.source_id, url=ctx.url, file=ctx.file) as zf:
            members = [n for n in zf.namelist() if n.lower().endswith((".csv", ".txt"))]
            if len(members) != 1:
                raise FormatError(ctx.source_id, "cannot find the CSV inside the ZIP archive", url=ctx.url,
                                  file=ctx.file, expected="exactly one member *.csv",
                                  found=", ".join(zf.namelist()[:10]) or "no member")
            with zf.open(members[0]) as raw:
                head = raw.peek(SNIFF_BYTES)[:SNIFF_BYTES] if hasattr(raw, "peek") else b""
                _check_kind(sniff_kind(head) if head else "text", ctx)
                yield io.TextIOWrapper(raw, encoding=encoding, newline=""), f"{ctx.file}!{members[0]}"
        return
    _check_kind(kind, ctx)
    with open(path, "rb") as raw, io.TextIOWrapper(raw, encoding=encoding, newline="") as text:
        yield text, ctx.file


def _check_kind(kind: str, ctx: ParseContext) -> None:
    if kind != "text":
        raise FormatError(ctx.source_id, "not a delimited text file", url=ctx.url, file=ctx.file,
                          expected="the RNIC CSV (rnc-data-gouv-with-qpv.csv)", found=describe_kind(kind))


def _rows(text, *, ctx: ParseContext, shown: str) -> tuple[list[str], str, Iterator[tuple[int, list[str]]]]:
    """Header, separator and ``(line, fields)`` of a CSV text stream (physical line numbers, header = 1)."""
    first = text.readline()
    header_line = first.lstrip("\ufeff").rstrip("\r\n")
    if not header_line.strip():
        raise FormatError(ctx.source_id, "empty file", url=ctx.url, file=shown, expected="a header line")
    sep = sniff_separator(header_line)
    header = [h.strip().lstrip("\ufeff") for h in next(csv.reader([header_line], delimiter=sep))]
    while header and header[-1] == "":
        header.pop()
    width = len(header)
    reader = csv.reader(text, delimiter=sep, quotechar='"')

    def rows() -> Iterator[tuple[int, list[str]]]:
        try:
            for fields in reader:
                line = reader.line_num + 1
                if not fields or all(not f.strip() for f in fields):
                    continue
                if len(fields) > width and all(not f.strip() for f in fields[width:]):
                    fields = fields[:width]
                if len(fields) != width:
                    raise FormatError(ctx.source_id, "wrong number of fields", url=ctx.url, file=shown, line=line,
                                      expected=f"{width} fields separated by {sep!r}", found=f"{len(fields)} fields")
                yield line, fields
        except csv.Error as exc:
            raise FormatError(ctx.source_id, f"malformed CSV: {exc}", url=ctx.url, file=shown,
                              line=reader.line_num + 1) from None

    return header, sep, rows()


def _encoding(path: Path, ctx: ParseContext) -> str:
    """UTF-8 (BOM or not), else Windows-1252: decided by decoding the whole file incrementally (streamed)."""
    dec = codecs.getincrementaldecoder("utf-8")()
    kind = sniff_path(path)
    try:
        if kind == "zip":
            with open_zip(path, source_id=ctx.source_id, url=ctx.url, file=ctx.file) as zf:
                members = [n for n in zf.namelist() if n.lower().endswith((".csv", ".txt"))]
                if len(members) != 1:
                    return "utf-8-sig"  # _open_text reports the problem
                with zf.open(members[0]) as fh:
                    while chunk := fh.read(1 << 20):
                        dec.decode(chunk)
        else:
            with open(path, "rb") as fh:
                while chunk := fh.read(1 << 20):
                    dec.decode(chunk)
        dec.decode(b"", final=True)
    except UnicodeDecodeError:
        return "cp1252"
    return "utf-8-sig"


def parse_rnic(path: Path, ctx: ParseContext) -> Iterator[pa.RecordBatch]:
    encoding = _encoding(path, ctx)
    # pass 1: the best row of every immatriculation (its rank only)
    with _open_text(path, ctx, encoding) as (text, shown):
        header, sep, rows = _rows(text, ctx=ctx, shown=shown)
        mapping = map_header(header, RNIC, source_id=ctx.source_id, file=shown, url=ctx.url)
        i_num, i_maj = mapping["numero_immatriculation"], mapping["date_derniere_maj"]
        i_mandat = mapping.get("mandat_en_cours")
        best: dict[str, tuple[str, bool, int]] = {}
        count: dict[str, int] = {}
        for line, f in rows:
            num = f[i_num].strip()
            if not num:
                raise FormatError(ctx.source_id, "row without an immatriculation number", url=ctx.url, file=shown,
                                  line=line, column=header[i_num], expected="a number such as AA0002576",
                                  found="a blank")
            try:
                maj = _iso_date(f[i_maj]) or ""
            except ValueError:
                raise FormatError(ctx.source_id, "invalid date", url=ctx.url, file=shown, line=line,
                                  column=header[i_maj], expected="a date dd/mm/YYYY or YYYY-MM-DD",
                                  found=repr(f[i_maj])) from None
            rank = (maj, i_mandat is not None and _mandate_in_progress(f[i_mandat]), line)
            count[num] = count.get(num, 0) + 1
            if num not in best or rank > best[num]:
                best[num] = rank
        keep = {rank[2]: num for num, rank in best.items()}
        del best
    # pass 2: the kept rows, canonical, typed by parse_rows
    with _open_text(path, ctx, encoding) as (text, shown):
        header, sep, rows = _rows(text, ctx=ctx, shown=shown)
        canon = _canonical_rows(rows, header, mapping, keep, count, ctx=ctx, shown=shown)
        out_header = [header[mapping[c.name]] if c.name in mapping and c.name not in _DERIVED else c.name
                      for c in RNIC.columns]
        table = TextTable(header=out_header, rows=canon, encoding=encoding, separator=sep)
        yield from parse_rows(table, RNIC, source_id=ctx.source_id, millesime=ctx.millesime, file=shown, url=ctx.url)


def _find(header: list[str], col: Column) -> int | None:
    hits = [i for i, h in enumerate(header) if col.matches(h)]
    return hits[0] if hits else None


def _canonical_rows(rows, header, mapping, keep, count, *, ctx: ParseContext, shown: str):
    """Rows in the order of ``RNIC.columns``, values normalised as text (typing is parse_rows's job)."""
    i_postal = _find(header, _POSTAL)
    i_cad = _find(header, _CADASTRE_COM)
    i_arr = mapping.get("code_arrondissement")
    i_off = mapping["code_commune"]
    cols = RNIC.columns

    def err(line: int, i: int, problem: str, expected: str, raw: str):
        return FormatError(ctx.source_id, problem, url=ctx.url, file=shown, line=line, column=header[i],
                           expected=expected, found=repr(raw))

    for line, f in rows:
        num = keep.get(line)
        if num is None:
            continue
        out: list[str] = []
        for col in cols:
            name = col.name
            i = mapping.get(name)
            if name == "code_commune":
                com, arr = resolve_commune(f[i_arr] if i_arr is not None else "", f[i_cad] if i_cad is not None else "",
                                           f[i_off], f[i_postal] if i_postal is not None else "")
                out.append(com or "")
                continue
            if name == "code_arrondissement":
                out.append(arr or "")
                continue
            if name == "nb_lignes_publiees":
                out.append(str(count[num]))
                continue
            raw = f[i].strip() if i is not None else ""
            if name == "code_qpv" and raw and not QPV_2024_RE.match(raw):
                what = "a QPV 2015 code in the 2024 column" if QPV_2015_RE.match(raw) else "not a QPV 2024 code"
                raise err(line, i, what, "blank or QN + département (3 characters) + 2 digits + N/M/I/C", raw)
            if name == "code_qp_2015" and raw and not QPV_2015_RE.match(raw):
                what = "a QPV 2024 code in the 2015 column" if QPV_2024_RE.match(raw) else "not a QPV 2015 code"
                raise err(line, i, what, "blank or QP + 6 digits (QPV 2015)", raw)
            if name in ("copro_aidee", "copro_dans_acv", "copro_dans_pvd"):
                try:
                    raw = _yes_no(raw) or ""
                except ValueError:
                    raise err(line, i, "not a yes/no flag", "oui / non (or Oui / Non)", raw) from None
            elif name == "date_derniere_maj":
                raw = _iso_date(raw) or ""  # validated in pass 1
            out.append(raw)
        yield line, out


PARSERS = [
    Parser("anah_rnic", RNIC, parse_rnic),
]
