"""Annual snapshots: complete, immutable, verifiable, readable in Excel / R / Python without our tools."""

from __future__ import annotations

import json
import shutil

import duckdb
import openpyxl
import pandas as pd
import pytest

from observatoire.config import load_settings
from observatoire.locking import LockTimeout, writer_lock
from observatoire.snapshot import (
    EVALUATION_TABLE,
    Catalogue,
    SnapshotError,
    SnapshotExists,
    create,
    csv_cell,
    defi_sheet_name,
    diff,
    neutralise,
    verify,
)
from tests.conftest import apply_env, run_cli, sha256_of

EVIL = '=HYPERLINK("http://example.invalid/x";"cliquez")'


@pytest.fixture(scope="module")
def snapshot_2025(published_demo, tmp_path_factory):
    """One snapshot of the demo publication, with a formula-like QPV label; never modified (copy it)."""
    data = tmp_path_factory.mktemp("snap") / "data"
    shutil.copytree(published_demo, data, symlinks=True)
    con = duckdb.connect(str(data / "warehouse" / "observatoire.duckdb"))
    try:
        con.execute("UPDATE dim_qpv SET libelle_qpv = ? WHERE code_qpv = 'QN01301M'", [EVIL])
    finally:
        con.close()
    settings = load_settings({"OBSERVATOIRE_DATA_DIR": str(data)})
    snap = create(settings, 2025)
    return settings, snap


def test_create_writes_every_format_and_a_complete_manifest(snapshot_2025):
    settings, snap = snapshot_2025
    root = snap.path
    assert root == settings.data_dir / "snapshots" / "2025"
    m = json.loads((root / "manifest.json").read_text(encoding="utf-8"))
    assert m["edition"] == 2025 and m["version"] == "2025" and m["correction"] is None
    assert m["created_at"] and m["run_id"] and m["publication"]["mode"] == "demo"
    assert m["validations"] and m["validations_reussies"] is True
    assert {"python", "duckdb", "dbt-core", "great-expectations", "openpyxl"} <= set(m["tools"])
    assert "git_commit" in m
    # every input file with its URL, millésime, licence and sha256
    assert len(m["sources"]) >= 20
    for s in m["sources"]:
        assert s["url"] and s["millesime"] and s["licence"] and len(s["sha256"]) == 64, s
    # every mart and référentiel table, in Parquet and CSV, plus the evaluation table
    tables = set(m["tables"])
    assert {"fct_indicateur_qpv", "dim_qpv", "dim_indicateur", "mart_chiffres_cles", "mart_qpv_fiche",
            "mart_defi_logement", EVALUATION_TABLE} <= tables
    for t in tables:
        assert (root / "parquet" / f"{t}.parquet").is_file() and (root / "csv" / f"{t}.csv").is_file()
    assert (root / "observatoire_2025.xlsx").is_file() and (root / "README.md").is_file()
    assert "Observatoire des quartiers" in (root / "README.md").read_text(encoding="utf-8")
    # every file hashed; the hashes are right; SHA256SUMS covers the manifest too
    listed = {f["path"]: f for f in m["files"]}
    on_disk = {p.relative_to(root).as_posix() for p in root.rglob("*") if p.is_file()}
    assert on_disk - set(listed) == {"manifest.json", "SHA256SUMS"}
    for rel, f in listed.items():
        assert sha256_of(root / rel) == f["sha256"] and (root / rel).stat().st_size == f["bytes"]
    sums = dict(reversed(line.split("  ", 1)) for line in (root / "SHA256SUMS").read_text().splitlines())
    assert sums["manifest.json"] == sha256_of(root / "manifest.json")
    assert verify(settings, "2025") == []
    # the standalone DuckDB file holds the same tables and the provenance
    con = duckdb.connect(str(root / "observatoire_2025.duckdb"), read_only=True)
    try:
        n = con.execute("select count(*) from fct_indicateur_qpv").fetchone()[0]
        assert n == m["tables"]["fct_indicateur_qpv"]["rows"] > 0
        assert con.execute("select version from meta.snapshot").fetchone()[0] == "2025"
    finally:
        con.close()
    # no temporary directory left behind
    assert [p.name for p in (settings.data_dir / "snapshots").iterdir()] == ["2025"]


def test_evaluation_table_keeps_statuts_at_both_ends(snapshot_2025):
    _, snap = snapshot_2025
    ev = pd.read_parquet(snap.path / "parquet" / f"{EVALUATION_TABLE}.parquet")
    fct = pd.read_parquet(snap.path / "parquet" / "fct_indicateur_qpv.parquet")
    assert len(ev) == len(fct.groupby(["code_qpv", "indicateur"]))
    assert ev["millesime_reference"].le(ev["millesime_dernier"]).all()
    both = ev[(ev.statut_reference == "disponible") & (ev.statut_dernier == "disponible")
              & (ev.millesime_dernier > ev.millesime_reference) & ev.evolution.notna()]
    assert len(both) > 100
    row = both.iloc[0]
    ref = fct[(fct.code_qpv == row.code_qpv) & (fct.indicateur == row.indicateur)
              & (fct.millesime == row.millesime_reference)].valeur.item()
    last = fct[(fct.code_qpv == row.code_qpv) & (fct.indicateur == row.indicateur)
               & (fct.millesime == row.millesime_dernier)].valeur.item()
    assert row.evolution == pytest.approx(last - ref)
    # a secret or missing value at either end never yields a change (no secret mixed with a zero)
    withheld = ev[(ev.statut_reference != "disponible") | (ev.statut_dernier != "disponible")]
    assert len(withheld) > 0 and withheld.evolution.isna().all()
    assert set(withheld.comparabilite) <= {"non_comparable", "un_seul_millesime"}


def test_csv_reads_back_with_semicolon_and_decimal_comma_to_the_parquet_values(snapshot_2025):
    import pyarrow as pa
    import pyarrow.parquet as papq

    _, snap = snapshot_2025
    con = duckdb.connect(str(snap.path / "observatoire_2025.duckdb"), read_only=True)
    catalogue = Catalogue.from_db(con, "main")
    for table in ("fct_indicateur_qpv", "mart_defi_logement", EVALUATION_TABLE, "mart_chiffres_cles"):
        arrow = papq.read_table(snap.path / "parquet" / f"{table}.parquet")
        raw = (snap.path / "csv" / f"{table}.csv").read_bytes()
        assert raw.startswith(b"\xef\xbb\xbf")  # BOM: Excel opens it as UTF-8
        text_cols = [f.name for f in arrow.schema if pa.types.is_string(f.type) or pa.types.is_large_string(f.type)]
        num_cols = [f.name for f in arrow.schema if pa.types.is_integer(f.type) or pa.types.is_floating(f.type)]
        assert num_cols, table
        back = pd.read_csv(snap.path / "csv" / f"{table}.csv", sep=";", decimal=",", encoding="utf-8-sig",
                           dtype={c: str for c in text_cols}, keep_default_na=False,
                           na_values={c: [""] for c in num_cols})
        assert list(back.columns) == arrow.column_names and len(back) == arrow.num_rows
        # numbers round-trip to the Parquet's at the precision the CSV gives them: the publisher's decimals for
        # an indicator's values, 12 significant digits otherwise (Parquet keeps every digit)
        described = con.execute(f"SELECT * FROM read_parquet('{snap.path / 'parquet' / f'{table}.parquet'}') LIMIT 0")
        columns = {col.name: col for col in catalogue.columns(table, described.description)}
        described.fetchall()
        parquet_rows = [tuple(r.values()) for r in arrow.to_pylist()]
        for c in num_cols:
            expected = arrow.column(c).to_pylist()
            got = back[c].tolist()
            assert pd.api.types.is_numeric_dtype(back[c]), (table, c)
            assert [pd.isna(v) for v in got] == [v is None for v in expected], (table, c)
            for row, v, g in zip(parquet_rows, expected, got, strict=True):
                if v is None:
                    continue
                d = columns[c].decimals_for(row)
                tolerance = 0.5 * 10 ** -d * (1 + 1e-9) if d is not None else abs(v) * 1e-11
                assert abs(float(g) - float(v)) <= tolerance, (table, c, v, g, d)
        for c in text_cols:
            expected = ["" if v is None else neutralise(v) for v in arrow.column(c).to_pylist()]
            assert back[c].tolist() == expected, (table, c)
    con.close()


def test_formula_label_is_neutralised_and_negative_numbers_stay_numbers(snapshot_2025):
    settings, snap = snapshot_2025
    text = (snap.path / "csv" / "dim_qpv.csv").read_text(encoding="utf-8-sig")
    line = next(ln for ln in text.splitlines() if ln.startswith("QN01301M;"))
    assert "'=HYPERLINK" in line and ";=HYPERLINK" not in line
    fct = pd.read_parquet(snap.path / "parquet" / "fct_indicateur_qpv.parquet")
    neg = fct[fct.ecart_commune < -1].iloc[0]
    con = duckdb.connect(str(snap.path / "observatoire_2025.duckdb"), read_only=True)
    decimals = Catalogue.from_db(con, "main").decimals(neg.indicateur)  # the CSV gives the publisher's precision
    con.close()
    csv_text = (snap.path / "csv" / "fct_indicateur_qpv.csv").read_text(encoding="utf-8-sig")
    cell = csv_cell(float(neg.ecart_commune), decimals)
    assert f";{cell};" in csv_text and cell.startswith("-")
    assert ";'-" not in csv_text
    wb = openpyxl.load_workbook(snap.path / "observatoire_2025.xlsx")
    ws = wb["qpv"]
    header = [c.value for c in ws[1]]  # the ids (hidden row); row 2: the French labels
    cells = [row for row in ws.iter_rows(min_row=3) if row[0].value == "QN01301M"][0]
    label = cells[header.index("libelle_qpv")]
    assert label.data_type == "s" and label.value == "'" + EVIL
    # a negative écart in a défi sheet is a number, not text
    numbers = []
    for sheet_name in ("4 Lutte contre les précarités", "7 Jeunesse", "6 Attractivité"):
        sheet = wb[sheet_name]
        header = [c.value for c in sheet[1]]
        numbers += [row[i].value for row in sheet.iter_rows(min_row=3) for i, h in enumerate(header)
                    if h.endswith("_ecart_commune") and row[i].value is not None]
    assert any(isinstance(v, float) and v < 0 for v in numbers)
    assert not any(isinstance(v, str) for v in numbers)
    wb.close()


def test_xlsx_has_a_sheet_per_defi_key_figures_fiches_and_notes(snapshot_2025):
    _, snap = snapshot_2025
    wb = openpyxl.load_workbook(snap.path / "observatoire_2025.xlsx", read_only=True)
    try:
        defis = pd.read_parquet(snap.path / "parquet" / "dim_defi.parquet").sort_values("numero_defi")
        assert len(defis) == 10
        sheets = [defi_sheet_name(n, lib, d) for d, n, lib in zip(defis.defi, defis.numero_defi, defis.libelle_defi,
                                                                  strict=True)]
        assert {"notes", "chiffres_cles", "fiches_qpv", "evaluation", *sheets} <= set(wb.sheetnames)
        assert wb.sheetnames[0] == "notes"
        for defi, sheet in zip(defis.defi, sheets, strict=True):
            mart = pd.read_parquet(snap.path / "parquet" / f"mart_defi_{defi}.parquet")
            rows = list(wb[sheet].iter_rows(values_only=True))  # ids, French labels, then the data
            assert list(rows[0]) == list(mart.columns) and len(rows) == len(mart) + 2
            assert rows[0][0] == "code_qpv" and any(str(h).endswith("_statut") for h in rows[0])
            assert rows[1][0] == "Code QPV"
            assert {r[0] for r in rows[2:]} == set(mart.code_qpv)
        fiche = list(wb["fiches_qpv"].iter_rows(values_only=True))
        assert len(fiche) == len(pd.read_parquet(snap.path / "parquet" / "mart_qpv_fiche.parquet")) + 2
        key = pd.read_parquet(snap.path / "parquet" / "mart_chiffres_cles.parquet")
        assert len(list(wb["chiffres_cles"].iter_rows(values_only=True))) == len(key) + 2
        notes = "\n".join(str(c) for row in wb["notes"].iter_rows(values_only=True) for c in row if c is not None)
        for word in ("secret_statistique", "attendu_partenaire", "Licence", "insee_pop_qpv", "2025"):
            assert word in notes, word
    finally:
        wb.close()


def _copy_snapshot(snapshot_2025, tmp_path):
    settings, snap = snapshot_2025
    data = tmp_path / "data"
    shutil.copytree(snap.path, data / "snapshots" / "2025")
    for p in (data / "snapshots" / "2025").rglob("*"):
        if p.is_file():
            p.chmod(0o644)
    return load_settings({"OBSERVATOIRE_DATA_DIR": str(data)}), data / "snapshots" / "2025"


@pytest.mark.parametrize("rel", ["csv/fct_indicateur_qpv.csv", "parquet/dim_qpv.parquet", "observatoire_2025.xlsx",
                                 "observatoire_2025.duckdb", "README.md", "manifest.json", "SHA256SUMS"])
def test_verify_names_a_file_with_one_changed_byte(snapshot_2025, tmp_path, rel):
    settings, root = _copy_snapshot(snapshot_2025, tmp_path)
    assert verify(settings, "2025") == []
    path = root / rel
    data = bytearray(path.read_bytes())
    i = len(data) // 2
    data[i] ^= 0x01
    path.write_bytes(bytes(data))
    problems = verify(settings, "2025")
    assert problems and any(p.startswith(rel + ":") or p.startswith(f"SHA256SUMS: the entry for {rel}")
                            or (rel == "SHA256SUMS" and "SHA256SUMS" in p) for p in problems), problems
    proc = run_cli("snapshot", "verify", "2025", env={"OBSERVATOIRE_DATA_DIR": str(settings.data_dir)})
    assert proc.returncode == 1 and rel in proc.stderr


def test_verify_reports_missing_and_added_files(snapshot_2025, tmp_path):
    settings, root = _copy_snapshot(snapshot_2025, tmp_path)
    (root / "csv" / "dim_defi.csv").unlink()
    (root / "csv" / "extra.csv").write_text("a;b\n", encoding="utf-8")
    problems = verify(settings, "2025")
    assert "csv/dim_defi.csv: missing" in problems
    assert any(p.startswith("csv/extra.csv: not in the manifest") for p in problems)


def test_second_create_is_refused_and_a_correction_is_a_sibling_version(snapshot_2025, tmp_path):
    settings, root = _copy_snapshot(snapshot_2025, tmp_path)
    shutil.copytree(snapshot_2025[0].data_dir / "warehouse", settings.data_dir / "warehouse", symlinks=True)
    env = {"OBSERVATOIRE_DATA_DIR": str(settings.data_dir)}
    before = {p: sha256_of(p) for p in root.rglob("*") if p.is_file()}
    proc = run_cli("snapshot", "create", "--edition", "2025", "--demo", env=env)  # the demo's publication
    assert proc.returncode == 1 and "already exists" in proc.stderr
    with pytest.raises(SnapshotExists):
        create(settings, 2025)
    # a correction: 2025.1 next to 2025, which stays byte for byte the same
    con = duckdb.connect(str(settings.published_db))
    try:
        con.execute("UPDATE fct_indicateur_qpv SET valeur = valeur + 1 WHERE indicateur = 'population' "
                    "AND code_qpv = 'QN01301M' AND valeur IS NOT NULL")
    finally:
        con.close()
    proc = run_cli("snapshot", "create", "--edition", "2025", "--correction", "population révisée", "--demo",
                   env=env)
    assert proc.returncode == 0, proc.stderr
    assert proc.stdout.strip().endswith("2025.1")
    corr = json.loads((settings.data_dir / "snapshots" / "2025.1" / "manifest.json").read_text(encoding="utf-8"))
    assert corr["version"] == "2025.1" and corr["edition"] == 2025
    assert corr["correction"]["motif"] == "population révisée" and corr["correction"]["corrige"] == "2025"
    changes = corr["correction"]["changements"]
    assert changes["tables"]["fct_indicateur_qpv"] == "modifiee" and changes["valeurs_modifiees"] >= 1
    assert {d["code_qpv"] for d in changes["detail"]} == {"QN01301M"}
    assert {p: sha256_of(p) for p in root.rglob("*") if p.is_file()} == before
    assert create(settings, 2025, "encore").version == "2025.2"
    proc = run_cli("snapshot", "list", "--json", env=env)
    listed = json.loads(proc.stdout)
    assert [s["version"] for s in listed] == ["2025", "2025.1", "2025.2"]
    assert listed[1]["correction"] == "population révisée"
    assert verify(settings, "2025.1") == [] and verify(settings, "2025") == []
    with pytest.raises(SnapshotError, match="nothing to correct"):
        create(settings, 2024, "pas d'édition")


def test_diff_lists_the_indicators_that_moved_by_qpv(published_demo, tmp_path):
    data = tmp_path / "data"
    shutil.copytree(published_demo, data, symlinks=True)
    settings = load_settings({"OBSERVATOIRE_DATA_DIR": str(data)})
    create(settings, 2024)
    con = duckdb.connect(str(settings.published_db))
    try:
        last = con.execute("SELECT max(millesime) FROM fct_indicateur_qpv WHERE indicateur = 'taux_pauvrete' "
                           "AND code_qpv = 'QN01303I'").fetchone()[0]
        con.execute("UPDATE fct_indicateur_qpv SET valeur = 12.5, statut = 'disponible' WHERE indicateur = "
                    "'taux_pauvrete' AND code_qpv = 'QN01303I' AND millesime = ?", [last])
        # what dbt would rebuild from that revision: the evaluation mart's latest value
        con.execute("UPDATE evaluation_indicateur_qpv SET valeur_dernier = 12.5, statut_dernier = 'disponible' "
                    "WHERE indicateur = 'taux_pauvrete' AND code_qpv = 'QN01303I' AND millesime_dernier = ?", [last])
    finally:
        con.close()
    create(settings, 2025)
    out = diff(settings, "2024", "2025")
    moved = [(r["code_qpv"], r["indicateur"]) for r in out["dernier"]]
    assert moved == [("QN01303I", "taux_pauvrete")]
    assert out["dernier"][0]["valeur_apres"] == 12.5
    assert [(r["code_qpv"], r["indicateur"], r["millesime"]) for r in out["revisions"]] == [
        ("QN01303I", "taux_pauvrete", last)]
    proc = run_cli("snapshot", "diff", "2024", "2025", env={"OBSERVATOIRE_DATA_DIR": str(data)})
    assert proc.returncode == 0 and "QN01303I" in proc.stdout and "taux_pauvrete" in proc.stdout
    assert run_cli("snapshot", "diff", "2024", "2031", env={"OBSERVATOIRE_DATA_DIR": str(data)}).returncode == 1
    # filters: a known QPV or indicator narrows the list; one neither version has is a usage error
    assert len(diff(settings, "2024", "2025", code_qpv="QN01303I", indicateur="taux_pauvrete")["dernier"]) == 1
    assert diff(settings, "2024", "2025", code_qpv="QN01306M") == {"avant": "2024", "apres": "2025",
                                                                   "dernier": [], "revisions": []}
    env = {"OBSERVATOIRE_DATA_DIR": str(data)}
    proc = run_cli("snapshot", "diff", "2024", "2025", "--qpv", "QN99999X", env=env)
    assert proc.returncode == 2 and "neither 2024 nor 2025 has code_qpv 'QN99999X'" in proc.stderr, proc.stderr
    proc = run_cli("snapshot", "diff", "2024", "2025", "--indicateur", "taux_pauvret", env=env)
    assert proc.returncode == 2 and "did you mean taux_pauvrete" in proc.stderr, proc.stderr
    # a snapshot folder without its manifest is reported as such, not as a missing snapshot
    (data / "snapshots" / "2024" / "manifest.json").unlink()
    proc = run_cli("snapshot", "verify", "2024", env=env)
    assert proc.returncode == 1 and "has no manifest.json: the snapshot is incomplete or was altered" in proc.stderr


def test_a_failed_create_leaves_nothing_and_the_lock_is_honoured(published_demo, tmp_path, monkeypatch):
    data = tmp_path / "data"
    shutil.copytree(published_demo, data, symlinks=True)
    settings = load_settings({"OBSERVATOIRE_DATA_DIR": str(data)})
    from observatoire import snapshot as mod

    def boom(self, path):
        raise OSError("disk full")

    monkeypatch.setattr(mod._Workbook, "save", boom)
    with pytest.raises(OSError, match="disk full"):
        create(settings, 2025)
    assert not (data / "snapshots" / "2025").exists()
    assert not list((data / "snapshots").glob(".tmp-*"))
    monkeypatch.undo()
    monkeypatch.setenv("OBSERVATOIRE_LOCK_TIMEOUT", "1")
    apply_env()
    with writer_lock(settings.lock_path, "another writer"), pytest.raises(LockTimeout):
        create(settings, 2025)
    assert create(settings, 2025).version == "2025"


def test_csv_cell_conventions():
    assert csv_cell(None) == "" and csv_cell(float("nan")) == ""
    assert csv_cell(12.5) == "12,5" and csv_cell(-3.25) == "-3,25" and csv_cell(1234.0) == "1234"
    assert csv_cell(10.200000000000003) == "10,2" and csv_cell(26.31578947, 1) == "26,3"
    assert csv_cell(1e-7) == "0,0000001" and csv_cell(7) == "7" and csv_cell(True) == "true"
    assert csv_cell("=1+1") == "'=1+1" and csv_cell("+33") == "'+33" and csv_cell("-x") == "'-x"
    assert csv_cell("@SUM(A1)") == "'@SUM(A1)" and csv_cell("Saint-Henri") == "Saint-Henri"
    assert csv_cell("13055") == "13055"
