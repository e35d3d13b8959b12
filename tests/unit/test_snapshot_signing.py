"""Signing keys of the snapshots: generation, fingerprints, and every way a key is refused."""

from __future__ import annotations

import hashlib
import os

import pytest
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey
from cryptography.hazmat.primitives.serialization import Encoding, NoEncryption, PrivateFormat, PublicFormat

from observatoire.config import load_settings
from observatoire.snapshot import (
    SIGNING_KEY_ENV,
    KeyExists,
    SigningKeyError,
    SnapshotError,
    create,
    key_fingerprint,
    keygen,
    load_public_key,
    load_signing_key,
    signing_key_of,
)

# RFC 8032, section 7.1, test 1
RFC_SECRET = bytes.fromhex("9d61b19deffd5a60ba844af492ec2cc44449c5697b326919703bac031cae7f60")
RFC_PUBLIC = bytes.fromhex("d75a980182b10ab7d54bfed3c964073a0ee172f3daa62325af021a68f707511a")


def _write(path, key, mode=0o600):
    path.write_bytes(key.private_bytes(Encoding.PEM, PrivateFormat.PKCS8, NoEncryption()))
    path.chmod(mode)
    return path


def test_the_fingerprint_is_the_start_of_the_sha256_of_the_raw_public_key(tmp_path):
    key = Ed25519PrivateKey.from_private_bytes(RFC_SECRET)
    assert key.public_key().public_bytes(Encoding.Raw, PublicFormat.Raw) == RFC_PUBLIC
    expected = hashlib.sha256(RFC_PUBLIC).hexdigest()[:16]
    assert key_fingerprint(key.public_key()) == expected
    loaded = load_signing_key(_write(tmp_path / "rfc.key", key))
    assert loaded.fingerprint == expected and loaded.path == tmp_path / "rfc.key"
    # the RFC's signature of the empty message: our keys sign plain Ed25519 (what openssl pkeyutl -rawin checks)
    assert loaded.key.sign(b"").hex().startswith("e5564300c360ac729086e2cc806e828a84877f1eb8e5d974d873e065224901555")


def test_keygen_writes_mode_600_whatever_the_umask_and_refuses_an_existing_key(tmp_path):
    old = os.umask(0)
    try:
        private, public, fingerprint = keygen(tmp_path / "a" / "b")
    finally:
        os.umask(old)
    assert private.stat().st_mode & 0o777 == 0o600 and public.stat().st_mode & 0o777 == 0o644
    assert (tmp_path / "a" / "b").stat().st_mode & 0o777 == 0o700
    assert load_signing_key(private).fingerprint == fingerprint == load_public_key(public).fingerprint
    before = private.read_bytes()
    with pytest.raises(KeyExists, match="never overwritten"):
        keygen(tmp_path / "a" / "b")
    assert private.read_bytes() == before
    # only the private key there (the public one was moved away): refused too
    public.unlink()
    with pytest.raises(KeyExists, match="snapshot.key already exists"):
        keygen(tmp_path / "a" / "b")
    assert not public.exists()
    (tmp_path / "file").write_text("x")
    with pytest.raises(SnapshotError, match="is a file"):
        keygen(tmp_path / "file")


@pytest.mark.parametrize("mode, ok", [(0o600, True), (0o400, True), (0o640, False), (0o604, False),
                                      (0o620, False), (0o644, False)])
def test_a_private_key_others_can_read_is_refused_with_the_chmod_to_run(tmp_path, mode, ok):
    path = _write(tmp_path / "k.key", Ed25519PrivateKey.generate(), mode)
    if ok:
        assert load_signing_key(path).path == path
        return
    with pytest.raises(SigningKeyError) as err:
        load_signing_key(path)
    assert f"{SIGNING_KEY_ENV}=" in str(err.value) and f"chmod 600 {path}" in str(err.value)
    assert f"mode {mode:03o}" in str(err.value)


def test_unusable_keys_are_refused_naming_the_variable_and_why(tmp_path):
    ecdsa = _write(tmp_path / "ec.key", ec.generate_private_key(ec.SECP256R1()))
    cases = {
        tmp_path / "absent.key": "no such file",
        tmp_path: "not a file",
        ecdsa: "not an Ed25519 one",
    }
    garbage = tmp_path / "garbage.key"
    garbage.write_text("-----BEGIN PRIVATE KEY-----\nnope\n-----END PRIVATE KEY-----\n")
    garbage.chmod(0o600)
    cases[garbage] = "not a PEM private key"
    for path, says in cases.items():
        with pytest.raises(SigningKeyError, match=says) as err:
            load_signing_key(path)
        assert str(err.value).startswith(f"{SIGNING_KEY_ENV}={str(path)!r}")
    assert signing_key_of(load_settings({})) is None
    assert signing_key_of(load_settings({SIGNING_KEY_ENV: "  "})) is None
    with pytest.raises(SigningKeyError, match="no such file"):
        signing_key_of(load_settings({SIGNING_KEY_ENV: str(tmp_path / "absent.key")}))


def test_public_keys_are_checked(tmp_path):
    private, public, fingerprint = keygen(tmp_path / "k")
    assert load_public_key(public).fingerprint == fingerprint
    ec_pub = tmp_path / "ec.pub"
    ec_pub.write_bytes(ec.generate_private_key(ec.SECP256R1()).public_key().public_bytes(
        Encoding.PEM, PublicFormat.SubjectPublicKeyInfo))
    for path, says in {private: "a private key", ec_pub: "not an Ed25519 one",
                       tmp_path / "absent.pub": "no such file"}.items():
        with pytest.raises(SigningKeyError, match=says) as err:
            load_public_key(path)
        assert str(err.value).startswith("--public-key ")


def test_create_checks_the_key_first_and_warns_when_it_lies_in_the_data_directory(tmp_path):
    data = tmp_path / "data"
    settings = load_settings({"OBSERVATOIRE_DATA_DIR": str(data)})
    with pytest.raises(SigningKeyError, match=SIGNING_KEY_ENV):  # before "nothing published yet"
        create(settings.model_copy(update={"signing_key": str(tmp_path / "absent.key")}), 2025)
    private, _, _ = keygen(data / "keys")
    messages = []
    with pytest.raises(SnapshotError, match="nothing published yet"):
        create(settings.model_copy(update={"signing_key": str(private)}), 2025, log=messages.append)
    assert any("inside the data directory" in m for m in messages), messages
    assert not (data / "snapshots").exists()
