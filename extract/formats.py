"""Recognise what a landed file really is, and read delimited text tables robustly.

Publishers change formats without notice: the same URL may serve a ZIP one year and a CSV the next,
an error page with HTTP 200, a file re-encoded in Windows-1252. Nothing here trusts a file name or a
Content-Type: the first bytes decide.
"""

from __future__ import annotations

import csv
import io
import json
import re
import zipfile
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

from extract.errors import FormatError

SNIFF_BYTES = 64 * 1024
SEPARATORS = (";", ",", "\t", "|")


def sniff_kind(head: bytes) -> str:
    """One of ``zip``, ``xlsx``, ``json``, ``geojson``, ``html``, ``xml``, ``empty``, ``text``, ``binary``."""
    if not head or not head.strip(b"\xef\xbb\xbf \t\r\n"):
        return "empty"
    if head.startswith(b"PK\x03\x04") or head.startswith(b"PK\x05\x06"):
        # an XLSX is a ZIP whose members include xl/ and [Content_Types].xml
        if b"[Content_Types].xml" in head[:4096] or b"xl/" in head[:4096]:
            return "xlsx"
        return "zip"
    if head.startswith(b"\xd0\xcf\x11\xe0"):
        return "xls"
    text = head.lstrip(b"\xef\xbb\xbf \t\r\n")[:512].lower()
    if text.startswith(b"<!doctype html") or text.startswith(b"<html") or b"<html" in text[:200]:
        return "html"
    if text.startswith(b"<?xml") or text.startswith(b"<"):
        return "xml"
    if text.startswith(b"{") or text.startswith(b"["):
        if b'"featurecollection"' in head.lower()[:4096] or b'"features"' in head[:4096]:
            return "geojson"
        return "json"
    if b"\x00" in head[:4096]:
        return "binary"
    return "text"


def sniff_path(path: Path) -> str:
    with open(path, "rb") as fh:
        head = fh.read(SNIFF_BYTES)
    kind = sniff_kind(head)
    if kind == "zip":
        # the first member may be large: ask the central directory whether it is an XLSX
        try:
            with zipfile.ZipFile(path) as zf:
                names = zf.namelist()
            if "[Content_Types].xml" in names and any(n.startswith("xl/") for n in names):
                return "xlsx"
        except zipfile.BadZipFile:
            return "zip"
    return kind


def decode(data: bytes) -> tuple[str, str]:
    """Decode text bytes: UTF-8 (with or without BOM), else Windows-1252 (a superset of Latin-1
    for printable characters). Returns ``(text, encoding)``."""
    if data.startswith(b"\xef\xbb\xbf"):
        return data[3:].decode("utf-8"), "utf-8-sig"
    try:
        return data.decode("utf-8"), "utf-8"
    except UnicodeDecodeError:
        pass
    try:
        return data.decode("cp1252"), "cp1252"
    except UnicodeDecodeError:
        return data.decode("latin-1"), "latin-1"


def sniff_separator(header_line: str) -> str:
    """The separator that splits the header line into the most fields (outside quotes)."""
    best, best_n = ";", 0
    for sep in SEPARATORS:
        try:
            n = len(next(csv.reader([header_line], delimiter=sep)))
        except (csv.Error, StopIteration):
            continue
        if n > best_n:
            best, best_n = sep, n
    return best


@dataclass
class TextTable:
    """A delimited table read from bytes: its header and an iterator over ``(line_number, fields)``."""

    header: list[str]
    rows: Iterator[tuple[int, list[str]]]
    encoding: str
    separator: str


def read_delimited(data: bytes, *, source_id: str, file: str, url: str | None = None) -> TextTable:
    """Read a CSV/TSV whatever its encoding, separator, quoting and line endings.

    Line numbers are 1-based physical lines of the file (the header is line 1), so an error message can
    point a person at the right line in a text editor.
    """
    kind = sniff_kind(data[:SNIFF_BYTES])
    if kind != "text":
        raise FormatError(
            source_id,
            "not a delimited text file",
            url=url,
            file=file,
            expected="CSV (delimited text)",
            found=_describe_kind(kind),
        )
    text, encoding = decode(data)
    text = text.lstrip("\ufeff")
    first_nl = text.find("\n")
    header_line = text if first_nl < 0 else text[:first_nl]
    sep = sniff_separator(header_line.rstrip("\r"))
    reader = csv.reader(io.StringIO(text, newline=""), delimiter=sep, quotechar='"')
    try:
        header = next(reader)
    except StopIteration:
        raise FormatError(source_id, "empty file", url=url, file=file, expected="a header line") from None
    header = [h.strip().lstrip("\ufeff") for h in header]
    # trailing empty columns (Excel exports) are not columns
    while header and header[-1] == "":
        header.pop()
    width = len(header)

    def rows() -> Iterator[tuple[int, list[str]]]:
        try:
            for fields in reader:
                line = reader.line_num
                if not fields or all(not f.strip() for f in fields):
                    continue
                if len(fields) > width and all(not f.strip() for f in fields[width:]):
                    fields = fields[:width]
                if len(fields) != width:
                    raise FormatError(
                        source_id,
                        "wrong number of fields",
                        url=url,
                        file=file,
                        line=line,
                        expected=f"{width} fields separated by {sep!r}",
                        found=f"{len(fields)} fields",
                    )
                yield line, fields
        except csv.Error as exc:
            raise FormatError(source_id, f"malformed CSV: {exc}", url=url, file=file,
                              line=reader.line_num) from None

    return TextTable(header=header, rows=rows(), encoding=encoding, separator=sep)


def _describe_kind(kind: str) -> str:
    return {
        "zip": "a ZIP archive",
        "xlsx": "an Excel workbook (XLSX)",
        "xls": "an old Excel workbook (XLS)",
        "html": "an HTML page (an error or login page served instead of the data?)",
        "xml": "an XML document",
        "json": "JSON",
        "geojson": "GeoJSON",
        "empty": "an empty file",
        "binary": "binary data",
        "text": "delimited text",
    }.get(kind, kind)


describe_kind = _describe_kind


def csv_bytes_from(path: Path, *, source_id: str, url: str | None, member_pattern: str) -> tuple[bytes, str]:
    """The bytes of the data CSV of a landed file, whether it was served as a CSV or inside a ZIP.

    ``member_pattern`` is a regular expression matched (case-insensitively) against ZIP member names:
    INSEE ZIPs hold ``data_<SOURCE><YEAR>_<GEO>.csv`` next to ``meta_`` files.
    Returns ``(bytes, name)`` where name is the member read (or the file name).
    """
    kind = sniff_path(path)
    if kind == "zip":
        with zipfile.ZipFile(path) as zf:
            names = [n for n in zf.namelist() if not n.endswith("/")]
            rx = re.compile(member_pattern, re.IGNORECASE)
            matches = [n for n in names if rx.search(n.rsplit("/", 1)[-1])]
            if len(matches) != 1:
                raise FormatError(
                    source_id,
                    "cannot find the data file inside the ZIP archive",
                    url=url,
                    file=path.name,
                    expected=f"exactly one member matching {member_pattern!r}",
                    found=", ".join(names[:10]) or "no member",
                )
            return zf.read(matches[0]), matches[0]
    if kind == "text":
        return path.read_bytes(), path.name
    raise FormatError(source_id, "unexpected file type", url=url, file=path.name,
                      expected="CSV, or a ZIP holding the CSV", found=_describe_kind(kind))


def load_json(path: Path, *, source_id: str, url: str | None) -> object:
    kind = sniff_path(path)
    if kind not in ("json", "geojson"):
        raise FormatError(source_id, "not a JSON document", url=url, file=path.name, expected="JSON",
                          found=_describe_kind(kind))
    text, _ = decode(path.read_bytes())
    try:
        return json.loads(text)
    except json.JSONDecodeError as exc:
        raise FormatError(source_id, f"invalid JSON: {exc.msg}", url=url, file=path.name,
                          line=exc.lineno) from None
