import io
import zipfile

import pytest

from extract.errors import FormatError
from extract.formats import csv_bytes_from, decode, read_delimited, sniff_kind, sniff_separator


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
