"""The benchmark's national generator on a tiny scale: every file parses with the project's parsers, and a
``file://`` page archive is landed as an API source's mirror (extract.apis.fetch_paged)."""

from __future__ import annotations

import json
from pathlib import Path

import pyarrow as pa
import pytest

from bench import generate_national as gen
from extract.apis import fetch_paged
from extract.parsers import ParseContext, get_parser
from extract.registry import load_registry

ROOT = Path(__file__).resolve().parents[2]
CONTOURS = ROOT / "extract" / "recordings" / "_base" / "qpv_contours.geojson"  # 122 real QPV, same properties


@pytest.fixture(scope="module")
def national(tmp_path_factory) -> Path:
    return gen.generate(CONTOURS, seed=7, scale=0.0002, cache=tmp_path_factory.mktemp("cache"), log=lambda _m: None)


def test_every_generated_file_parses_with_the_project_parser(national):
    doc = json.loads((national / "manifest.json").read_text())
    registry = load_registry()
    assert {e["source_id"] for e in doc["sources"].values()} >= {
        "insee_pop_qpv", "insee_filosofi_qpv", "insee_estimations_qpv", "ft_defm_qpv", "caf_allocataires_qpv",
        "rpls_qpv", "dares_defm_communes", "caf_communes", "insee_melodi_population", "insee_melodi_filosofi",
        "ademe_dpe_existant", "insee_bpe", "anct_qpv_contours"}
    for entry in doc["sources"].values():
        src = registry[entry["source_id"]]
        parser = get_parser(src.parser)
        path = Path(entry["url"].removeprefix("file://"))
        table = pa.Table.from_batches(list(parser.parse(path, ParseContext(src.id, entry["millesime"], None,
                                                                               path.name))),
                                      schema=parser.spec.arrow_schema())
        assert table.num_rows > 0, entry
        if entry["source_id"].endswith("_qpv"):
            assert table.num_rows == 122, entry
    dpe = doc["sources"]["ademe_dpe_existant/2025"]
    assert dpe["rows"] == round(gen.DPE_ROWS * 0.0002) // 2


def test_cached_by_seed_and_scale(national, tmp_path):
    again = gen.generate(CONTOURS, seed=7, scale=0.0002, cache=national.parent, log=lambda _m: None)
    assert again == national
    assert gen.set_dir(tmp_path, 7, 0.1).name == "7-x0.1"


def test_file_page_archive_is_landed_as_a_mirror(national, tmp_path):
    doc = json.loads((national / "manifest.json").read_text())
    entry = doc["sources"]["ademe_dpe_existant/2024"]
    r = fetch_paged(entry["url"], tmp_path, source_id="ademe_dpe_existant", paginator="datafair")
    assert r.content_type == "application/zip" and r.path.read_bytes() == Path(entry["url"][7:]).read_bytes()
