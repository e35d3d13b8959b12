"""The dbt project's rooms are named for what they hold: a staging model ``stg_<family>__<entity>`` lives in
``models/staging/<family>/``, described in that folder's ``_<family>__models.yml``, and the raw tables it reads
are declared in the same folder's ``_<family>__sources.yml`` (CONTRIBUTING.md, section 1)."""

from __future__ import annotations

import re
from pathlib import Path

import yaml

STAGING = Path(__file__).resolve().parents[2] / "dbt_project" / "models" / "staging"


def _names(path: Path, key: str) -> set[str]:
    doc = yaml.safe_load(path.read_text(encoding="utf-8")) if path.exists() else None
    if not doc:
        return set()
    if key == "models":
        return {m["name"] for m in doc.get("models") or []}
    return {t["name"] for s in doc.get("sources") or [] for t in s.get("tables") or []}


def test_staging_folders_match_the_model_prefixes():
    misplaced = []
    for sql in sorted(STAGING.rglob("stg_*.sql")):
        family = re.match(r"stg_(.+?)__", sql.stem)
        assert family, f"{sql.name}: a staging model is named stg_<family>__<entity>"
        if sql.parent.name != family.group(1):
            misplaced.append(f"{sql.relative_to(STAGING)} (expected in staging/{family.group(1)}/)")
    assert not misplaced, "staging models outside their family's folder: " + "; ".join(misplaced)


def test_each_folder_describes_its_models_and_declares_their_raw_tables():
    for folder in sorted(p for p in STAGING.iterdir() if p.is_dir()):
        models = {p.stem for p in folder.glob("*.sql")}
        described = _names(folder / f"_{folder.name}__models.yml", "models")
        assert models == described, f"staging/{folder.name}: models {sorted(models)}, described {sorted(described)}"
        read = {t for p in folder.glob("*.sql")
                for t in re.findall(r"source\('raw',\s*'([^']+)'\)", p.read_text(encoding="utf-8"))}
        declared = _names(folder / f"_{folder.name}__sources.yml", "sources")
        assert read <= declared, f"staging/{folder.name}: reads raw tables {sorted(read - declared)} declared elsewhere"
