"""Land a fetched file: keep it untouched, named by its content hash, next to its parsed table.

``raw/<source>/<millesime>/<sha256>.<ext>``                  the bytes as published (never modified)
``raw/<source>/<millesime>/<sha256>.parsed-<code>.parquet``  the typed table the parser produced from them,
                                                             ``<code>`` being the extract code's fingerprint

Both are written to a temporary name and renamed into place, so a crash never leaves a half file under
its final name; landing the same bytes twice changes nothing, unless the landed copy no longer has the
sha256 it is named by (altered on disk): the fetched bytes then replace it.
"""

from __future__ import annotations

import hashlib
import logging
import os
import re
from collections.abc import Iterable
from pathlib import Path

import pyarrow as pa
import pyarrow.parquet as pq

from extract.formats import sniff_path

log = logging.getLogger("observatoire.extract")

_EXT_BY_KIND = {"zip": "zip", "xlsx": "xlsx", "xls": "xls", "json": "json", "geojson": "geojson",
                "text": "csv", "html": "html", "xml": "xml", "empty": "empty", "binary": "bin"}


def landed_extension(path: Path, filename: str) -> str:
    """Extension of the landed file: from its content, not from its name (a ``.csv`` URL may serve a ZIP)."""
    kind = sniff_path(path)
    if kind == "text":
        m = re.search(r"\.(csv|txt|tsv)$", filename, re.IGNORECASE)
        return m.group(1).lower() if m else "csv"
    return _EXT_BY_KIND.get(kind, "bin")


def land_file(tmp_path: Path, raw_dir: Path, source_id: str, millesime: int, sha256: str, ext: str) -> Path:
    dest_dir = raw_dir / source_id / str(millesime)
    dest_dir.mkdir(parents=True, exist_ok=True)
    dest = dest_dir / f"{sha256}.{ext}"
    if dest.exists():
        found = file_sha256(dest)
        if found == sha256:
            tmp_path.unlink(missing_ok=True)
            return dest
        log.warning("[%s] the landed copy %s no longer matches its sha256 (found %s): replaced by the bytes "
                    "just fetched", source_id, dest, found)
    _fsync(tmp_path)
    os.replace(tmp_path, dest)
    os.chmod(dest, 0o444)
    return dest


def file_sha256(path: Path) -> str:
    digest = hashlib.sha256()
    with open(path, "rb") as f:
        for block in iter(lambda: f.read(1 << 20), b""):
            digest.update(block)
    return digest.hexdigest()


def parsed_path_for(raw_path: Path, code_fingerprint: str) -> Path:
    sha = raw_path.name.split(".", 1)[0]
    return raw_path.with_name(f"{sha}.parsed-{code_fingerprint}.parquet")


def write_parsed(batches: Iterable[pa.RecordBatch], schema: pa.Schema, dest: Path) -> int:
    """Write record batches to ``dest`` (Parquet) atomically; returns the number of rows."""
    tmp = dest.with_name(f".{dest.name}.{os.getpid()}.tmp")
    rows = 0
    try:
        with pq.ParquetWriter(tmp, schema, compression="zstd") as writer:
            for batch in batches:
                writer.write_batch(batch)
                rows += batch.num_rows
            if rows == 0:
                writer.write_table(schema.empty_table())
        _fsync(tmp)
        os.replace(tmp, dest)
    except BaseException:
        tmp.unlink(missing_ok=True)
        raise
    return rows


def _fsync(path: Path) -> None:
    fd = os.open(path, os.O_RDONLY)
    try:
        os.fsync(fd)
    finally:
        os.close(fd)
