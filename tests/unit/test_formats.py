import io
import zipfile

import pytest

from extract.errors import FormatError
from extract.formats import csv_bytes_from, decode, iter_lines, read_delimited, sniff_kind, sniff_separator
from tests.conftest import apply_env


@pytest.mark.parametrize(
    "head,kind",
    [
        (b"", "empty"),
        (b"\xef\xbb\xbf  \r\n", "empty"),
        (b"PK\x03\x04....", "zip"),
        (b"<!DOCTYPE html><html><body>Maintenance</body></html>", "html"),
        (b"  <html lang='fr'>", "html"),
        (b'{"type": "FeatureCollection", "features": []}', "geojson"),
        (b'{"total": 3, "results": []}', "json"),
        (b"codeQPV;libQPV\nQN01301M;Florida", "text"),
        (b"\xef\xbb\xbfcodeQPV;libQPV\r\n", "text"),
    ],
)
def test_sniff_kind(head, kind):
    assert sniff_kind(head) == kind


def test_decode_utf8_bom_cp1252():
    assert decode("é".encode()) == ("é", "utf-8")
    assert decode(b"\xef\xbb\xbf" + "é".encode()) == ("é", "utf-8-sig")
    assert decode("Berre-l'Étang".encode("cp1252")) == ("Berre-l'Étang", "cp1252")


@pytest.mark.parametrize("line,sep", [("a;b;c", ";"), ("a,b,c", ","), ("a\tb\tc", "\t"), ('"a;x",b,c', ",")])
def test_sniff_separator(line, sep):
    assert sniff_separator(line) == sep


def test_read_delimited_crlf_quotes_bom_and_trailing_empty_columns():
    data = '\ufeff"CODGEO";"LIBGEO";"POP";;\r\nQN01301M;"Florida; Parc";1 075;;\r\n\r\n'.encode("utf-8")
    t = read_delimited(data, source_id="s", file="f.csv")
    assert t.header == ["CODGEO", "LIBGEO", "POP"]
    assert list(t.rows) == [(2, ["QN01301M", "Florida; Parc", "1 075"])]


def test_read_delimited_wrong_field_count_names_the_line():
    data = b"a;b\n1;2\n3;4;5\n"
    t = read_delimited(data, source_id="src", file="f.csv", url="http://x/f.csv")
    with pytest.raises(FormatError) as err:
        list(t.rows)
    msg = str(err.value)
    assert "[src]" in msg and "line 3" in msg and "f.csv" in msg and "http://x/f.csv" in msg


def test_html_served_as_csv_is_refused():
    with pytest.raises(FormatError, match="HTML page"):
        read_delimited(b"<html><body>503</body></html>", source_id="s", file="f.csv")


def test_csv_inside_zip_and_zip_without_the_member(tmp_path):
    buf = io.BytesIO()
    with zipfile.ZipFile(buf, "w") as zf:
        zf.writestr("meta_pop.csv", "x")
        zf.writestr("data_pop_QP.csv", "a;b\n1;2\n")
    path = tmp_path / "f.zip"
    path.write_bytes(buf.getvalue())
    data, name = csv_bytes_from(path, source_id="s", url=None, member_pattern=r"^data_.*\.csv$")
    assert name == "data_pop_QP.csv" and data.startswith(b"a;b")
    with pytest.raises(FormatError, match="cannot find the data file inside the ZIP"):
        csv_bytes_from(path, source_id="s", url=None, member_pattern=r"^nothing\.csv$")


# -- ZIP archives: expansion bounded ------------------------------------------------------------------------------

CSV = b"codeQPV;pop\n" + b"QN01301M;4692\n" * 5000  # 70 012 bytes, deflated to a few hundred


def _zip_of(path, members: dict[str, bytes]):
    with zipfile.ZipFile(path, "w", compression=zipfile.ZIP_DEFLATED) as zf:
        for name, data in members.items():
            zf.writestr(name, data)
    return path


def _lie_about_sizes(path, declared: int):
    """Rewrite the sizes the central directory (and the local header) declare for the only member."""
    import struct

    data = bytearray(path.read_bytes())
    central = data.rfind(b"PK\x01\x02")
    data[central + 24: central + 28] = struct.pack("<I", declared)
    data[22:26] = struct.pack("<I", declared)  # the local header's uncompressed size
    path.write_bytes(bytes(data))
    return path


def test_a_zip_expanding_beyond_the_limit_is_refused(tmp_path, monkeypatch):
    bomb = _zip_of(tmp_path / "bomb.zip", {"data_pop.csv": CSV})
    assert bomb.stat().st_size < 2000
    assert csv_bytes_from(bomb, source_id="s", url=None, member_pattern="data")[0] == CSV  # default limits
    monkeypatch.setenv("OBSERVATOIRE_MAX_UNZIPPED_BYTES", "10000")
    apply_env()
    with pytest.raises(FormatError) as err:
        csv_bytes_from(bomb, source_id="insee_pop_qpv", url="https://h/pop.zip?token=SECRET", member_pattern="data")
    msg = str(err.value)
    assert msg.startswith("[insee_pop_qpv] ZIP archive expands beyond the limit (member data_pop.csv) (file bomb.zip)")
    assert "at most 10000 bytes uncompressed over all members (OBSERVATOIRE_MAX_UNZIPPED_BYTES)" in msg
    assert f"member data_pop.csv declares {len(CSV)} bytes" in msg and "SECRET" not in msg


def test_a_zip_whose_header_lies_about_its_size_is_refused(tmp_path, monkeypatch):
    from extract.formats import open_zip

    monkeypatch.setenv("OBSERVATOIRE_MAX_UNZIPPED_BYTES", "10000")
    apply_env()
    liar = _lie_about_sizes(_zip_of(tmp_path / "liar.zip", {"data_pop.csv": CSV}), 100)  # 100 < limit: passes
    with pytest.raises(FormatError) as err:
        csv_bytes_from(liar, source_id="s", url=None, member_pattern="data")
    assert "ZIP member data_pop.csv is corrupt (BadZipFile: Bad CRC-32" in str(err.value)  # 100 bytes out, no more
    # a reader that trusted another size than the one checked at opening: the bytes produced are counted
    with open_zip(liar, source_id="s") as zf:
        zf.getinfo("data_pop.csv").file_size = len(CSV)
        with pytest.raises(FormatError, match=r"expands beyond the limit \(member data_pop.csv\).*more than 10000 "
                                              r"bytes produced"):
            with zf.open("data_pop.csv") as fh:
                while fh.read1(4096):
                    pass


def test_a_zip_with_too_many_members_is_refused(tmp_path, monkeypatch):
    many = _zip_of(tmp_path / "many.zip", {f"m{i}.csv": b"a\n" for i in range(30)} | {"data_pop.csv": b"a;b\n1;2\n"})
    assert csv_bytes_from(many, source_id="s", url=None, member_pattern="data")[0] == b"a;b\n1;2\n"
    monkeypatch.setenv("OBSERVATOIRE_MAX_ZIP_MEMBERS", "10")
    apply_env()
    with pytest.raises(FormatError) as err:
        csv_bytes_from(many, source_id="s", url=None, member_pattern="data")
    assert ("[s] ZIP archive has too many members (file many.zip); expected at most 10 members "
            "(OBSERVATOIRE_MAX_ZIP_MEMBERS); found 31 members") in str(err.value)


def test_a_zip_inside_the_zip_is_not_opened(tmp_path):
    inner = _zip_of(tmp_path / "inner.zip", {"data_pop.csv": CSV}).read_bytes()
    outer = _zip_of(tmp_path / "outer.zip", {"data_pop.csv": inner})
    with pytest.raises(FormatError, match="is itself a ZIP archive: nested archives are not opened"):
        csv_bytes_from(outer, source_id="s", url=None, member_pattern="data")


def _rows(lines) -> list:
    import csv

    reader, out = csv.reader(lines, delimiter=";"), []
    try:
        for fields in reader:
            out.append((reader.line_num, fields))
    except csv.Error as exc:
        out.append(("error", str(exc)))
    return out


@pytest.mark.parametrize("text", [
    "a;b\r\nc;d\r\n", "a;b\nc;d", "a;b\rc;d\r", 'a;"x\r\ny"\r\nc;d\n', "", "\n\n", "a\r\r\nb", 'x;"a\rb";c\rd',
    "é;’\r\n€;x",
])
def test_iter_lines_reads_like_a_stringio_without_copying(text):
    """The CSV readers iterate the decoded text's lines (no StringIO copy of a 169 MB results file): the same
    rows, line numbers and errors as ``io.StringIO(text, newline="")``, whatever the line endings."""
    assert _rows(iter_lines(text)) == _rows(io.StringIO(text, newline=""))


def test_iter_lines_on_random_texts():
    import random

    rng = random.Random(20261207)
    for _ in range(500):
        text = "".join(rng.choice(["a", ";", '"', "\r", "\n", "\r\n", "é", "’"]) for _ in range(rng.randint(0, 40)))
        assert _rows(iter_lines(text)) == _rows(io.StringIO(text, newline="")), repr(text)
        assert "".join(iter_lines(text)) == text
