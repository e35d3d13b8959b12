import pytest

from extract.errors import FormatError
from extract.formats import read_delimited
from extract.tables import Column, TableSpec, is_secret_marker, map_header, parse_number, parse_rows

SPEC = TableSpec(
    name="t",
    columns=(
        Column("code_qpv", ("CODGEO", "codeQPV")),
        Column("valeur", ("VAL", "valeurQPV"), type="number", kind="count"),
        Column("taux", ("TX",), type="number", required=False, kind="rate"),
        Column("note", ("NOTE",), type="number", required=False),
    ),
    note_column="note",
    skip_codes=("ensemble",),
)


@pytest.mark.parametrize("raw,value", [("1 075", 1075), ("1\u202f075", 1075), ("1\u00a0075,5", 1075.5),
                                       ("4,5", 4.5), ("-0,3", -0.3), ("12", 12), ("1.5", 1.5), ("1.234,5", 1234.5)])
def test_parse_number_french(raw, value):
    assert parse_number(raw) == value


@pytest.mark.parametrize("raw", ["abc", "1,2,3", "--1", "12a"])
def test_parse_number_rejects(raw):
    with pytest.raises(ValueError):
        parse_number(raw)


@pytest.mark.parametrize("raw", ["", " ", "s", "S", "nd", "n.s.", "...", "///", "faible", "[0;50[", "50-100", "T3"])
def test_secret_markers(raw):
    assert is_secret_marker(raw)


@pytest.mark.parametrize("raw", ["0", "12", "4,5"])
def test_numbers_are_not_secret_markers(raw):
    assert not is_secret_marker(raw)


def parse(text: str):
    table = read_delimited(text.encode(), source_id="src", file="f.csv")
    return [b.to_pylist() for b in parse_rows(table, SPEC, source_id="src", millesime=2021, file="f.csv")][0]


def test_secret_cells_are_null_with_a_status_never_zero():
    rows = parse("codeQPV;valeurQPV;TX;NOTE\nEnsemble;10;1;0\nQN01301M;s;;0\nQN01302M;12;4,5;0\nQN01303I;7;3;2\n")
    assert [r["code_qpv"] for r in rows] == ["QN01301M", "QN01302M", "QN01303I"]  # Ensemble dropped
    assert rows[0]["valeur"] is None and set(rows[0]["_secret"]) == {"valeur", "taux"}
    assert rows[1]["valeur"] == 12 and rows[1]["taux"] == 4.5 and rows[1]["_secret"] == []
    # a row flagged NOTE != 0 is masked entirely
    assert rows[2]["valeur"] is None and rows[2]["taux"] is None and "valeur" in rows[2]["_secret"]
    assert all(r["millesime"] == 2021 for r in rows)
    assert [r["_line"] for r in rows] == [3, 4, 5]


def test_optional_column_absent_is_legal_and_null():
    rows = parse("CODGEO;VAL\nQN01301M;3\n")
    assert rows[0]["taux"] is None and rows[0]["_secret"] == []


def test_missing_column_lists_expected_and_found():
    with pytest.raises(FormatError) as err:
        map_header(["CODGEO", "VALEUR_RENOMMEE"], SPEC, source_id="src", file="f.csv", url="http://h/f.csv")
    msg = str(err.value)
    assert "missing column(s): valeur" in msg
    assert "VAL" in msg and "'VALEUR_RENOMMEE'" in msg and "line 1" in msg and "http://h/f.csv" in msg


def test_header_matching_is_case_insensitive():
    assert map_header(["codgeo", "val"], SPEC, source_id="s", file="f", url=None) == {"code_qpv": 0, "valeur": 1}


def test_non_numeric_value_names_line_and_column():
    with pytest.raises(FormatError) as err:
        parse("CODGEO;VAL\nQN01301M;3\nQN01302M;douze\n")
    msg = str(err.value)
    assert "line 3" in msg and "'VAL'" in msg and "'douze'" in msg
