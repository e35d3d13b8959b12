"""Landing: a file is kept under its sha256, untouched; landing the same bytes again keeps the copy, unless
the copy no longer has that sha256 (altered on disk)."""

from __future__ import annotations

import hashlib
import logging

from extract.landing import file_sha256, land_file


def _fetched(tmp_path, content: bytes, name: str = ".fetch-1"):
    path = tmp_path / name
    path.write_bytes(content)
    return path


def test_same_bytes_twice_keep_the_landed_copy(tmp_path):
    content = b"code_qpv;pop\nQN01306M;1200\n"
    sha = hashlib.sha256(content).hexdigest()
    raw = tmp_path / "raw"
    first = land_file(_fetched(tmp_path, content), raw, "insee_pop_qpv", 2021, sha, "csv")
    inode = first.stat().st_ino
    again = _fetched(tmp_path, content, ".fetch-2")
    assert land_file(again, raw, "insee_pop_qpv", 2021, sha, "csv") == first
    assert first.stat().st_ino == inode and not again.exists()
    assert first.stat().st_mode & 0o777 == 0o444
    assert file_sha256(first) == sha


def test_an_altered_landed_copy_is_replaced_by_the_fetched_bytes(tmp_path, caplog):
    content = b"code_qpv;pop\nQN01306M;1200\n"
    sha = hashlib.sha256(content).hexdigest()
    raw = tmp_path / "raw"
    landed = land_file(_fetched(tmp_path, content), raw, "insee_pop_qpv", 2021, sha, "csv")
    landed.chmod(0o644)
    landed.write_bytes(b"code_qpv;pop\nQN01306M;abc\n")
    with caplog.at_level(logging.WARNING, logger="observatoire.extract"):
        again = land_file(_fetched(tmp_path, content, ".fetch-2"), raw, "insee_pop_qpv", 2021, sha, "csv")
    assert again == landed
    assert landed.read_bytes() == content and file_sha256(landed) == sha
    assert landed.stat().st_mode & 0o777 == 0o444
    assert "no longer matches its sha256" in caplog.text and "insee_pop_qpv" in caplog.text
