"""Snapshots that prove who made them: an Ed25519 key pair (`snapshot keygen`), editions signed with the key named
by OBSERVATOIRE_SIGNING_KEY (manifest.json.sig), `snapshot verify --public-key` catching an edited file even when
its manifest.json and SHA256SUMS were updated to match, and the same check with OpenSSL alone."""

from __future__ import annotations

import base64
import hashlib
import json
import re
import shutil
import subprocess
from pathlib import Path

import duckdb
import openpyxl
import pytest

from observatoire import tasks
from observatoire.config import load_settings
from observatoire.snapshot import (
    SIGNATURE,
    SIGNING_KEY_ENV,
    SigningKeyError,
    check,
    create,
    keygen,
    verify,
)
from tests.conftest import run_cli, sha256_of

pytestmark = pytest.mark.slow


@pytest.fixture(scope="module")
def keys(tmp_path_factory):
    """Two key pairs: ours (``ours``) and somebody else's (``other``); each (private, public, fingerprint)."""
    root = tmp_path_factory.mktemp("keys")
    return {"ours": keygen(root / "ours"), "other": keygen(root / "other")}


@pytest.fixture(scope="module")
def signed_2025(published_demo, keys, tmp_path_factory):
    """Edition 2025 of the demo publication, signed with our key; never modified (copy it)."""
    data = tmp_path_factory.mktemp("signed") / "data"
    shutil.copytree(published_demo, data, symlinks=True)
    settings = load_settings({"OBSERVATOIRE_DATA_DIR": str(data)})
    snap = create(settings.model_copy(update={"signing_key": str(keys["ours"][0])}), 2025)
    return settings, snap


def _copy(settings, tmp_path, *versions: str):
    """A writable copy of the snapshots (and the published warehouse) in a new data directory."""
    data = tmp_path / "data"
    for v in versions:
        shutil.copytree(settings.data_dir / "snapshots" / v, data / "snapshots" / v)
        for p in (data / "snapshots" / v).rglob("*"):
            if p.is_file():
                p.chmod(0o644)
    return load_settings({"OBSERVATOIRE_DATA_DIR": str(data)}), data


def _env(data: Path, **extra: str) -> dict:
    return {"OBSERVATOIRE_DATA_DIR": str(data), "OBSERVATOIRE_MODE": "demo", **extra}


def _forge(root: Path, rel: str) -> None:
    """Edit ``rel`` and update manifest.json and SHA256SUMS to match: what a hash-only check cannot catch."""
    for p in (root / rel, root / "manifest.json", root / "SHA256SUMS"):
        p.chmod(0o644)  # an edition's files are read-only
    path = root / rel
    text = path.read_text(encoding="utf-8-sig")
    lines = text.splitlines(keepends=True)
    lines[1] = lines[1].replace("1", "9", 1) if "1" in lines[1] else lines[1].replace("0", "8", 1)
    path.write_text("".join(lines), encoding="utf-8-sig")
    manifest = json.loads((root / "manifest.json").read_text(encoding="utf-8"))
    for f in manifest["files"]:
        if f["path"] == rel:
            f["sha256"], f["bytes"] = sha256_of(path), path.stat().st_size
    (root / "manifest.json").write_text(json.dumps(manifest, ensure_ascii=False, indent=2) + "\n", encoding="utf-8")
    sums = [(f["sha256"], f["path"]) for f in manifest["files"]] + [(sha256_of(root / "manifest.json"), "manifest.json")]
    if (root / SIGNATURE).exists():
        sums.append((sha256_of(root / SIGNATURE), SIGNATURE))
    (root / "SHA256SUMS").write_text("".join(f"{h}  {p}\n" for h, p in sorted(sums, key=lambda x: x[1])),
                                     encoding="utf-8")


def test_keygen_writes_a_private_key_only_its_owner_reads_and_never_overwrites_it(tmp_path):
    from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey, Ed25519PublicKey
    from cryptography.hazmat.primitives.serialization import (
        Encoding,
        PublicFormat,
        load_pem_private_key,
        load_pem_public_key,
    )

    target = tmp_path / "cles"
    proc = run_cli("snapshot", "keygen", str(target))
    assert proc.returncode == 0, proc.stderr
    private, public = target / "snapshot.key", target / "snapshot.pub"
    assert private.stat().st_mode & 0o777 == 0o600
    assert private.read_bytes().startswith(b"-----BEGIN PRIVATE KEY-----")  # PKCS8
    assert public.read_bytes().startswith(b"-----BEGIN PUBLIC KEY-----")  # SubjectPublicKeyInfo
    key = load_pem_private_key(private.read_bytes(), password=None)
    pub = load_pem_public_key(public.read_bytes())
    assert isinstance(key, Ed25519PrivateKey) and isinstance(pub, Ed25519PublicKey)
    assert key.public_key().public_bytes(Encoding.Raw, PublicFormat.Raw) == pub.public_bytes(Encoding.Raw,
                                                                                               PublicFormat.Raw)
    fingerprint = hashlib.sha256(pub.public_bytes(Encoding.Raw, PublicFormat.Raw)).hexdigest()[:16]
    assert f"private key: {private}" in proc.stdout and f"public key:  {public}" in proc.stdout
    assert f"fingerprint: {fingerprint}" in proc.stdout and SIGNING_KEY_ENV in proc.stderr
    # never overwritten: the same directory again is refused, both files unchanged
    before = (private.read_bytes(), public.read_bytes())
    proc = run_cli("snapshot", "keygen", str(target))
    assert proc.returncode == 1 and "never overwritten" in proc.stderr and str(private) in proc.stderr, proc.stderr
    assert (private.read_bytes(), public.read_bytes()) == before
    # a public key alone there is not replaced either (evaluators may hold it)
    lone = tmp_path / "lone"
    lone.mkdir()
    (lone / "snapshot.pub").write_bytes(before[1])
    proc = run_cli("snapshot", "keygen", str(lone))
    assert proc.returncode == 1 and "snapshot.pub already exists" in proc.stderr, proc.stderr
    assert not (lone / "snapshot.key").exists() and (lone / "snapshot.pub").read_bytes() == before[1]


def test_a_signed_edition_verifies_with_its_key_and_fails_with_another(signed_2025, keys):
    settings, snap = signed_2025
    ours, other = keys["ours"], keys["other"]
    root = snap.path
    m = json.loads((root / "manifest.json").read_text(encoding="utf-8"))
    assert m["signature"] == {"signed": True, "algorithm": "Ed25519", "key_fingerprint": ours[2],
                              "file": SIGNATURE}
    assert (root / SIGNATURE).stat().st_mode & 0o222 == 0  # read-only like every file of the edition
    # the signature covers manifest.json's exact bytes, which list every file's sha256
    from cryptography.hazmat.primitives.serialization import load_pem_public_key

    load_pem_public_key(ours[1].read_bytes()).verify(base64.b64decode((root / SIGNATURE).read_bytes()),
                                                     (root / "manifest.json").read_bytes())
    # SHA256SUMS lists the signature too: `sha256sum -c` checks every file of the folder
    sums = dict(reversed(line.split("  ", 1)) for line in (root / "SHA256SUMS").read_text().splitlines())
    assert sums[SIGNATURE] == sha256_of(root / SIGNATURE)
    assert subprocess.run(["sha256sum", "--quiet", "-c", "SHA256SUMS"], cwd=root).returncode == 0
    readme = (root / "README.md").read_text(encoding="utf-8")
    assert "Vérifier la signature" in readme and ours[2] in readme and "n'est pas signée" not in readme
    wb = openpyxl.load_workbook(root / "observatoire_2025.xlsx", read_only=True)
    try:
        notes = {row[0]: row[1] for row in wb["notes"].iter_rows(values_only=True) if row and row[0]}
    finally:
        wb.close()
    assert notes["Signature"].startswith("version signée") and ours[2] in notes["Signature"]
    env = _env(settings.data_dir)
    proc = run_cli("snapshot", "verify", "2025", "--public-key", str(ours[1]), env=env)
    assert proc.returncode == 0, proc.stderr
    assert "signature valid" in proc.stdout and ours[2] in proc.stdout
    proc = run_cli("snapshot", "verify", "2025", "--public-key", str(other[1]), env=env)
    assert proc.returncode == 1
    assert f"{SIGNATURE}: signature does not match manifest.json with the public key {other[2]}" in proc.stderr
    assert f"signed with key {ours[2]}" in proc.stderr, proc.stderr
    # without a key: hashes only, and it says the signature exists but was not checked
    proc = run_cli("snapshot", "verify", "2025", env=env)
    assert proc.returncode == 0 and f"signed with key {ours[2]}" in proc.stdout and "NOT checked" in proc.stdout
    listed = json.loads(run_cli("snapshot", "list", "--json", env=env).stdout)
    assert listed[0]["signed"] is True and listed[0]["key_fingerprint"] == ours[2]
    assert f"signed {ours[2]}" in run_cli("snapshot", "list", env=env).stdout
    # a private key given as --public-key, or no file: usage errors
    proc = run_cli("snapshot", "verify", "2025", "--public-key", str(ours[0]), env=env)
    assert proc.returncode == 2 and "a private key" in proc.stderr, proc.stderr
    proc = run_cli("snapshot", "verify", "2025", "--public-key", str(ours[1]) + ".absent", env=env)
    assert proc.returncode == 2 and "--public-key" in proc.stderr and "no such file" in proc.stderr


def test_an_edit_with_manifest_and_sums_updated_to_match_is_caught_by_the_signature(signed_2025, keys, tmp_path):
    settings, _ = signed_2025
    copy, data = _copy(settings, tmp_path, "2025")
    root = data / "snapshots" / "2025"
    _forge(root, "csv/fct_indicateur_qpv.csv")
    # the hashes agree again: a hash-only check cannot see the edit…
    assert verify(copy, "2025") == []
    # …the signature does
    result = check(copy, "2025", keys["ours"][1])
    assert not result.signature_valid and len(result.problems) == 1, result.problems
    assert result.problems[0].startswith(f"{SIGNATURE}: signature does not match manifest.json")
    assert "was changed after it was signed" in result.problems[0]
    proc = run_cli("snapshot", "verify", "2025", "--public-key", str(keys["ours"][1]), env=_env(data))
    assert proc.returncode == 1 and "signature does not match" in proc.stderr and keys["ours"][2] in proc.stderr
    # removing the signature and calling the edition unsigned does not help either
    manifest = json.loads((root / "manifest.json").read_text(encoding="utf-8"))
    manifest["signature"] = {"signed": False, "algorithm": None, "key_fingerprint": None, "file": None}
    (root / "manifest.json").write_text(json.dumps(manifest, ensure_ascii=False, indent=2) + "\n", encoding="utf-8")
    (root / SIGNATURE).unlink()
    _forge(root, "csv/dim_qpv.csv")  # rewrites SHA256SUMS without the signature
    assert verify(copy, "2025") == []
    proc = run_cli("snapshot", "verify", "2025", "--public-key", str(keys["ours"][1]), env=_env(data))
    assert proc.returncode == 1 and "unsigned" in proc.stderr, proc.stderr


def test_a_signature_file_removed_or_damaged_is_named(signed_2025, keys, tmp_path):
    settings, _ = signed_2025
    copy, data = _copy(settings, tmp_path, "2025")
    sig = data / "snapshots" / "2025" / SIGNATURE
    good = sig.read_bytes()
    sig.write_bytes(b"pas une signature\n")
    assert any(p.startswith(f"{SIGNATURE}: not a signature") for p in verify(copy, "2025")), verify(copy, "2025")
    assert any(p.startswith(f"{SIGNATURE}: sha256") for p in verify(copy, "2025"))
    sig.unlink()
    problems = verify(copy, "2025", keys["ours"][1])
    assert f"{SIGNATURE}: missing, although manifest.json says the snapshot is signed (key {keys['ours'][2]})" \
        in problems, problems
    sig.write_bytes(good)
    assert verify(copy, "2025", keys["ours"][1]) == []


def test_an_unsigned_edition_says_so_and_fails_verify_with_a_key(published_demo, keys, tmp_path):
    data = tmp_path / "data"
    shutil.copytree(published_demo, data, symlinks=True)
    env = _env(data)
    proc = run_cli("snapshot", "create", "--edition", "2025", "--demo", env=env)
    assert proc.returncode == 0, proc.stderr
    assert "unsigned (OBSERVATOIRE_SIGNING_KEY not set)" in proc.stderr
    root = data / "snapshots" / "2025"
    assert not (root / SIGNATURE).exists()
    assert json.loads((root / "manifest.json").read_text(encoding="utf-8"))["signature"]["signed"] is False
    readme = (root / "README.md").read_text(encoding="utf-8")
    assert "n'est pas signée" in readme and "Vérifier la signature" not in readme
    proc = run_cli("snapshot", "verify", "2025", env=env)
    assert proc.returncode == 0 and "unsigned" in proc.stdout, proc.stdout
    assert "unsigned" in run_cli("snapshot", "list", env=env).stdout
    proc = run_cli("snapshot", "verify", "2025", "--public-key", str(keys["ours"][1]), env=env)
    assert proc.returncode == 1 and "2025 is unsigned" in proc.stderr, proc.stderr
    # an edition made before signatures existed (no `signature` in its manifest) is unsigned too
    manifest = json.loads((root / "manifest.json").read_text(encoding="utf-8"))
    del manifest["signature"]
    (root / "manifest.json").chmod(0o644)
    (root / "manifest.json").write_text(json.dumps(manifest, ensure_ascii=False, indent=2) + "\n", encoding="utf-8")
    settings = load_settings({"OBSERVATOIRE_DATA_DIR": str(data)})
    result = check(settings, "2025", keys["ours"][1])
    assert result.signed is False and any("is unsigned" in p for p in result.problems)


def _bad_keys(tmp_path: Path, keys) -> dict[str, tuple[Path, str]]:
    """Unusable values of OBSERVATOIRE_SIGNING_KEY and what the message must say."""
    from cryptography.hazmat.primitives.asymmetric import ec
    from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey
    from cryptography.hazmat.primitives.serialization import (
        BestAvailableEncryption,
        Encoding,
        NoEncryption,
        PrivateFormat,
    )

    out = tmp_path / "bad"
    out.mkdir()
    readable = out / "readable.key"
    readable.write_bytes(keys["ours"][0].read_bytes())
    readable.chmod(0o640)
    ecdsa = out / "ec.key"
    ecdsa.write_bytes(ec.generate_private_key(ec.SECP256R1()).private_bytes(Encoding.PEM, PrivateFormat.PKCS8,
                                                                            NoEncryption()))
    encrypted = out / "encrypted.key"
    encrypted.write_bytes(Ed25519PrivateKey.generate().private_bytes(Encoding.PEM, PrivateFormat.PKCS8,
                                                                     BestAvailableEncryption(b"secret")))
    garbage = out / "garbage.key"
    garbage.write_text("not a key\n")
    for p in (ecdsa, encrypted, garbage):
        p.chmod(0o600)
    return {
        "missing": (out / "absent.key", "no such file"),
        "directory": (out, "not a file"),
        "readable by others": (readable, f"chmod 600 {readable}"),
        "public key": (keys["ours"][1], "a public key"),
        "not Ed25519": (ecdsa, "not an Ed25519 one"),
        "passphrase": (encrypted, "passphrase"),
        "not a key": (garbage, "not a PEM private key"),
    }


def test_a_bad_signing_key_stops_create_before_anything_is_written(published_demo, keys, tmp_path):
    data = tmp_path / "data"
    shutil.copytree(published_demo, data, symlinks=True)
    settings = load_settings({"OBSERVATOIRE_DATA_DIR": str(data)})
    before = sorted(p.relative_to(data).as_posix() for p in data.rglob("*"))
    bad = _bad_keys(tmp_path, keys)
    for case, (path, says) in bad.items():
        with pytest.raises(SigningKeyError, match=re.escape(says)):
            create(settings.model_copy(update={"signing_key": str(path)}), 2025)
        assert not (data / "snapshots").exists(), case
    path, says = bad["readable by others"]
    proc = run_cli("snapshot", "create", "--edition", "2025", "--demo",
                   env=_env(data, **{SIGNING_KEY_ENV: str(path)}))
    assert proc.returncode == 2, proc.stderr
    assert f"{SIGNING_KEY_ENV}=" in proc.stderr and says in proc.stderr and "Nothing was written" in proc.stderr
    proc = run_cli("snapshot", "create", "--edition", "2025", "--demo",
                   env=_env(data, **{SIGNING_KEY_ENV: str(tmp_path / "absent.key")}))
    assert proc.returncode == 2 and f"{SIGNING_KEY_ENV}=" in proc.stderr and "no such file" in proc.stderr
    assert sorted(p.relative_to(data).as_posix() for p in data.rglob("*")) == before


def test_a_correction_is_signed_through_the_dag_functions(signed_2025, keys, tmp_path, monkeypatch):
    """tasks.snapshot_create/snapshot_verify (what observatoire_snapshot_annuel runs) sign with the key set in the
    worker's environment, and verify checks the signature with its public half."""
    settings, _ = signed_2025
    copy, data = _copy(settings, tmp_path, "2025")
    shutil.copytree(settings.data_dir / "warehouse", data / "warehouse", symlinks=True)
    shutil.copytree(settings.data_dir / "meta", data / "meta", symlinks=True)
    con = duckdb.connect(str(copy.published_db))
    try:
        con.execute("UPDATE fct_indicateur_qpv SET valeur = valeur + 1 WHERE indicateur = 'population' "
                    "AND code_qpv = 'QN01301M' AND valeur IS NOT NULL")
    finally:
        con.close()
    monkeypatch.setenv("OBSERVATOIRE_DATA_DIR", str(data))
    monkeypatch.setenv(SIGNING_KEY_ENV, str(keys["other"][0]))  # rotated: the correction gets the new key
    out = tasks.snapshot_create(2025, "population révisée", demo=True)
    assert out["version"] == "2025.1" and out["signed"] and out["key_fingerprint"] == keys["other"][2]
    assert tasks.snapshot_verify("2025.1") == {"version": "2025.1", "status": "intact", "signed": True,
                                               "key_fingerprint": keys["other"][2], "signature_checked": True}
    # each version keeps the key it was signed with
    assert verify(copy, "2025", keys["ours"][1]) == [] and verify(copy, "2025.1", keys["other"][1]) == []
    assert any("signature does not match" in p for p in verify(copy, "2025", keys["other"][1]))
    # the DAG's verify task fails on a signature that does not match its key
    _forge(data / "snapshots" / "2025.1", "csv/dim_qpv.csv")
    with pytest.raises(Exception, match="signature does not match"):
        tasks.snapshot_verify("2025.1")
    # an unusable key fails the DAG's create task before anything is written
    monkeypatch.setenv(SIGNING_KEY_ENV, str(keys["other"][1]))
    with pytest.raises(SigningKeyError, match=SIGNING_KEY_ENV):
        tasks.snapshot_create(2025, "encore", demo=True)
    assert sorted(p.name for p in (data / "snapshots").iterdir()) == ["2025", "2025.1"]


def _openssl_version() -> tuple[int, int] | None:
    if not shutil.which("openssl"):
        return None
    out = subprocess.run(["openssl", "version"], capture_output=True, text=True).stdout
    m = re.match(r"OpenSSL (\d+)\.(\d+)", out)
    return (int(m[1]), int(m[2])) if m else None


def _readme_commands(readme: str) -> list[str]:
    """The shell commands the edition's README gives for OpenSSL (the block after « Sans lui »)."""
    block = readme.split("Sans lui", 1)[1].split("```sh\n", 1)[1].split("```", 1)[0]
    commands = []
    for line in block.splitlines():
        if line.startswith("# sans jq : "):
            commands.append(line.removeprefix("# sans jq : "))
        elif line and not line.startswith("#"):
            commands.append(line.split("  #", 1)[0].strip())
    return commands


@pytest.mark.skipif((_openssl_version() or (0, 0)) < (3, 0), reason="needs OpenSSL 3.0+ (Ed25519 with -rawin)")
def test_openssl_alone_checks_the_signature_as_the_readme_says(signed_2025, keys, tmp_path):
    settings, snap = signed_2025
    readme = (snap.path / "README.md").read_text(encoding="utf-8")
    # the fingerprint as the README computes it
    fp_cmd = re.search(r"```sh\n(openssl pkey -pubin[^\n]+)\n```", readme)[1]
    shutil.copy(keys["ours"][1], tmp_path / "snapshot.pub")
    out = subprocess.run(["bash", "-o", "pipefail", "-c", fp_cmd], cwd=tmp_path, capture_output=True, text=True)
    assert out.returncode == 0 and out.stdout.strip() == keys["ours"][2], out
    commands = _readme_commands(readme)
    assert len(commands) == 4 and commands[1].startswith("openssl pkeyutl -verify -pubin -inkey snapshot.pub -rawin")
    work = tmp_path / "work"
    work.mkdir()

    def run(root: Path, public: Path, command: str) -> subprocess.CompletedProcess:
        """One README command, in the edition's folder with snapshot.pub beside it (its /tmp file in ``work``)."""
        shutil.copy(public, root / "snapshot.pub")
        try:
            return subprocess.run(["bash", "-o", "pipefail", "-c", command.replace("/tmp/", f"{work}/")], cwd=root,
                                  capture_output=True, text=True)
        finally:
            (root / "snapshot.pub").unlink()

    copy, data = _copy(settings, tmp_path, "2025")
    root = data / "snapshots" / "2025"
    decode, check_sig, jq_line, py_line = commands
    assert run(root, keys["ours"][1], decode).returncode == 0
    ok = run(root, keys["ours"][1], check_sig)
    assert ok.returncode == 0 and "Signature Verified Successfully" in ok.stdout, ok
    for line in (py_line, jq_line) if shutil.which("jq") else (py_line,):
        done = run(root, keys["ours"][1], line)
        assert done.returncode == 0 and done.stdout.count(": OK") == len(snap.manifest["files"]), done
    # another key: refused
    assert run(root, keys["other"][1], check_sig).returncode != 0
    # an edited file: caught by the manifest's hashes; updated in the manifest too: caught by the signature
    csv = root / "csv" / "dim_qpv.csv"
    csv.write_bytes(csv.read_bytes() + b"x")
    assert run(root, keys["ours"][1], py_line).returncode != 0
    _forge(root, "csv/fct_indicateur_qpv.csv")
    manifest = json.loads((root / "manifest.json").read_text(encoding="utf-8"))
    for f in manifest["files"]:
        if f["path"] == "csv/dim_qpv.csv":
            f["sha256"], f["bytes"] = sha256_of(csv), csv.stat().st_size
    (root / "manifest.json").write_text(json.dumps(manifest, ensure_ascii=False, indent=2) + "\n", encoding="utf-8")
    assert run(root, keys["ours"][1], py_line).returncode == 0
    assert run(root, keys["ours"][1], decode).returncode == 0
    refused = run(root, keys["ours"][1], check_sig)
    assert refused.returncode != 0 and "Signature Verification Failure" in refused.stdout + refused.stderr, refused
