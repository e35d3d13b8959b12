"""Recognise what a landed file really is, and read delimited text tables robustly.

Publishers change formats without notice: the same URL may serve a ZIP one year and a CSV the next,
an error page with HTTP 200, a file re-encoded in Windows-1252. Nothing here trusts a file name or a
Content-Type: the first bytes decide.

Nor a ZIP archive's own word: :func:`open_zip` opens one with its expansion bounded: at most
``OBSERVATOIRE_MAX_ZIP_MEMBERS`` members (counted in the end-of-central-directory record before the central
directory is even parsed) and ``OBSERVATOIRE_MAX_UNZIPPED_BYTES`` uncompressed over all members, checked against
the sizes the central directory declares when the archive is opened AND against the bytes actually produced while
members are decompressed (a header that lies about a size must not get through; a member whose data do not
match its header is an error). Archives inside an archive are never opened.
"""

from __future__ import annotations

import csv
import io
import json
import re
import zipfile
import zlib
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

from extract.errors import FormatError
from extract.settings import current

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
            declared = declared_member_count(path)
            if declared is not None and declared > current().max_zip_members:
                return "zip"  # its central directory is not parsed here: open_zip refuses it, naming the limit
            with zipfile.ZipFile(path) as zf:
                names = zf.namelist()
            if "[Content_Types].xml" in names and any(n.startswith("xl/") for n in names):
                return "xlsx"
        except zipfile.BadZipFile:
            return "zip"
    return kind


# -- ZIP archives, their expansion bounded ----------------------------------------------------------------------

def declared_member_count(path: Path) -> int | None:
    """The number of members a ZIP archive's end-of-central-directory record declares (``None``: no such record),
    read without parsing the central directory (millions of entries would be millions of objects)."""
    with open(path, "rb") as fh:
        try:
            end = zipfile._EndRecData(fh)  # noqa: SLF001 - the stdlib's reader of that record
        except OSError:
            return None
    return None if not end else int(end[zipfile._ECD_ENTRIES_TOTAL])  # noqa: SLF001


class BoundedZipFile(zipfile.ZipFile):
    """A ZIP archive opened for reading by :func:`open_zip`: every member read (``open``, ``read``) counts the
    bytes it produces against the archive's limit and against the member's declared size."""

    source_id: str
    url: str | None
    file: str
    max_unzipped: int
    max_members: int

    def _setup(self, *, source_id: str, url: str | None, file: str, max_unzipped: int, max_members: int) -> None:
        self.source_id, self.url, self.file = source_id, url, file
        self.max_unzipped, self.max_members = max_unzipped, max_members
        self._expanded: dict[int, int] = {}  # bytes produced so far per member (the most of any read of it)
        self.expanded = 0

    def error(self, problem: str, *, expected: str, found: str) -> FormatError:
        return FormatError(self.source_id, problem, url=self.url, file=self.file, expected=expected, found=found)

    def too_big(self, member: str, found: str) -> FormatError:
        return self.error(f"ZIP archive expands beyond the limit (member {member})",
                          expected=f"at most {self.max_unzipped} bytes uncompressed over all members "
                                   "(OBSERVATOIRE_MAX_UNZIPPED_BYTES)", found=found)

    def check_central_directory(self) -> None:
        infos = self.infolist()
        if len(infos) > self.max_members:
            raise self.too_many(len(infos))
        total = 0
        for info in infos:
            total += info.file_size
            if total > self.max_unzipped:
                raise self.too_big(info.filename, f"member {info.filename} declares {info.file_size} bytes, "
                                   f"{total} bytes declared up to it")

    def too_many(self, count: int) -> FormatError:
        return self.error("ZIP archive has too many members",
                          expected=f"at most {self.max_members} members (OBSERVATOIRE_MAX_ZIP_MEMBERS)",
                          found=f"{count} members")

    def count(self, info: zipfile.ZipInfo, produced: int) -> None:
        """``produced`` bytes of ``info`` have come out of one read of it: check the limits."""
        name = info.filename
        if produced > info.file_size:
            raise self.error(f"ZIP member {name} expands beyond the size its header declares",
                             expected=f"{info.file_size} bytes (the central directory's size)",
                             found=f"more than {produced - 1} bytes")
        key = info.header_offset  # a member, even when two members share a name
        before = self._expanded.get(key, 0)
        if produced > before:
            self._expanded[key] = produced
            self.expanded += produced - before
            if self.expanded > self.max_unzipped:
                raise self.too_big(name, f"more than {self.max_unzipped} bytes produced by the time member "
                                   f"{name} was read")

    def open(self, name, mode="r", pwd=None, *, force_zip64=False):  # noqa: A003 - zipfile's own name
        fh = super().open(name, mode, pwd, force_zip64=force_zip64)
        if mode != "r":
            return fh
        return _BoundedMember(fh, self, name if isinstance(name, zipfile.ZipInfo) else self.getinfo(name))


class _BoundedMember(io.BufferedIOBase):
    """A member of a :class:`BoundedZipFile` being read: its bytes counted as they are decompressed, and a
    corrupt member (bad CRC, broken deflate stream) turned into a :class:`FormatError` naming it."""

    def __init__(self, fh, archive: BoundedZipFile, info: zipfile.ZipInfo) -> None:
        super().__init__()
        self._fh = fh
        self._archive = archive
        self._info = info
        self._produced = 0
        self.name = info.filename

    def _guard(self, read, *args) -> bytes:
        try:
            data = read(*args)
        except (zipfile.BadZipFile, zlib.error, EOFError) as exc:
            raise self._archive.error(f"ZIP member {self._info.filename} is corrupt ({exc.__class__.__name__}: "
                                      f"{exc})", expected=f"a member whose data match its header "
                                      f"({self._info.file_size} bytes, CRC {self._info.CRC:08x})",
                                      found="data that do not") from None
        self._produced += len(data)
        self._archive.count(self._info, self._produced)
        return data

    def readable(self) -> bool:
        return True

    def read(self, n: int | None = -1) -> bytes:
        return self._guard(self._fh.read, -1 if n is None else n)

    def read1(self, n: int = -1) -> bytes:
        return self._guard(self._fh.read1, n)

    def readinto(self, b) -> int:
        data = self.read(len(b))
        b[: len(data)] = data
        return len(data)

    def peek(self, n: int = 1) -> bytes:
        return self._fh.peek(n)

    def close(self) -> None:
        try:
            self._fh.close()
        finally:
            super().close()


def open_zip(path: Path, *, source_id: str, url: str | None = None, file: str | None = None,
             max_unzipped: int | None = None, max_members: int | None = None) -> BoundedZipFile:
    """``path`` opened as a ZIP archive whose expansion is bounded (see the module's text); the limits default to
    the settings' ``OBSERVATOIRE_MAX_UNZIPPED_BYTES`` and ``OBSERVATOIRE_MAX_ZIP_MEMBERS``. Raises :class:`FormatError` naming
    the source, the file (``file``, default the path's name), the member and the limit; ``zipfile.BadZipFile``
    for something that is not a ZIP archive."""
    max_unzipped = int(current().max_unzipped_bytes if max_unzipped is None else max_unzipped)
    max_members = int(current().max_zip_members if max_members is None else max_members)
    shown = file or Path(path).name
    declared = declared_member_count(Path(path))
    if declared is not None and declared > max_members:
        raise FormatError(source_id, "ZIP archive has too many members", url=url, file=shown,
                          expected=f"at most {max_members} members (OBSERVATOIRE_MAX_ZIP_MEMBERS)",
                          found=f"{declared} members declared")
    zf = BoundedZipFile(path)
    zf._setup(source_id=source_id, url=url, file=shown, max_unzipped=max_unzipped, max_members=max_members)
    try:
        zf.check_central_directory()
    except BaseException:
        zf.close()
        raise
    return zf


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


_LINE = re.compile(r"[^\r\n]*(?:\r\n?|\n)|[^\r\n]+\Z")


def iter_lines(text: str) -> Iterator[str]:
    """The lines of ``text`` with their endings (``\\n``, ``\\r\\n`` or a lone ``\\r``), as ``csv.reader`` reads
    them from ``io.StringIO(text, newline="")``, without the copy: a StringIO holds its own copy of the text at
    4 bytes per character once one character is outside Latin-1 (1.3 GB for a 169 MB results file)."""
    return (m.group() for m in _LINE.finditer(text))


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
    reader = csv.reader(iter_lines(text), delimiter=sep, quotechar='"')
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


def csv_bytes_from(path: Path, *, source_id: str, url: str | None, member_pattern: str,
                   file: str | None = None) -> tuple[bytes, str]:
    """The bytes of the data CSV of a landed file, whether it was served as a CSV or inside a ZIP.

    ``member_pattern`` is a regular expression matched (case-insensitively) against ZIP member names:
    INSEE ZIPs hold ``data_<SOURCE><YEAR>_<GEO>.csv`` next to ``meta_`` files.
    Returns ``(bytes, name)`` where name is the member read (or the file name). A ZIP is read through
    :func:`open_zip` (bounded); ``file`` is the name its errors give the archive (default: the path's name;
    a parser passes the published name, ``ParseContext.file``).
    """
    kind = sniff_path(path)
    if kind == "zip":
        with open_zip(path, source_id=source_id, url=url, file=file) as zf:
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
            data = zf.read(matches[0])
            if sniff_kind(data[:SNIFF_BYTES]) in ("zip", "xlsx"):
                raise FormatError(source_id, f"the data file {matches[0]} inside the ZIP archive is itself a ZIP "
                                  "archive: nested archives are not opened", url=url, file=path.name,
                                  expected="CSV (delimited text) inside the ZIP archive", found="a ZIP archive")
            return data, matches[0]
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
