"""Ed25519 signatures of a snapshot's manifest: key pairs, loading keys, the signature block and its check."""

from __future__ import annotations

import base64
import binascii
import hashlib
import os
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

from observatoire.snapshot.base import (
    PRIVATE_KEY_FILE,
    PUBLIC_KEY_FILE,
    SIGNATURE,
    SIGNATURE_ALGORITHM,
    SIGNING_KEY_ENV,
    KeyExists,
    SigningKeyError,
    SnapshotError,
)

if TYPE_CHECKING:
    from observatoire.config import Settings

# -- signatures -------------------------------------------------------------------------------------------


@dataclass(frozen=True)
class SigningKey:
    """The private key editions are signed with (``OBSERVATOIRE_SIGNING_KEY``)."""

    path: Path
    key: Any  # Ed25519PrivateKey
    fingerprint: str


@dataclass(frozen=True)
class PublicKey:
    """A public key an edition's signature is checked against (``--public-key``)."""

    path: Path | None
    key: Any  # Ed25519PublicKey
    fingerprint: str


def key_fingerprint(public_key) -> str:
    """A key's fingerprint: the first 16 hex digits of the sha256 of the raw 32-byte Ed25519 public key (with
    OpenSSL: ``openssl pkey -pubin -in snapshot.pub -outform DER | tail -c 32 | sha256sum | cut -c1-16``)."""
    from cryptography.hazmat.primitives.serialization import Encoding, PublicFormat

    return hashlib.sha256(public_key.public_bytes(Encoding.Raw, PublicFormat.Raw)).hexdigest()[:16]


def _write_new(path: Path, data: bytes, mode: int) -> None:
    """Create ``path`` with ``mode``; never replaces a file (O_EXCL: refused even if it appears meanwhile)."""
    fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, mode)
    try:
        os.fchmod(fd, mode)  # whatever the umask
        os.write(fd, data)
        os.fsync(fd)
    finally:
        os.close(fd)


def keygen(directory: Path | str) -> tuple[Path, Path, str]:
    """Write a new Ed25519 key pair: ``directory/snapshot.key`` (private, PEM PKCS8, mode 600) and
    ``directory/snapshot.pub`` (public, PEM SubjectPublicKeyInfo); returns both paths and the fingerprint.

    :class:`KeyExists` if either file exists: a key is never overwritten (the editions signed with it could no
    longer be checked against a key one still has)."""
    from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey
    from cryptography.hazmat.primitives.serialization import (
        Encoding,
        NoEncryption,
        PrivateFormat,
        PublicFormat,
    )

    directory = Path(directory).expanduser().absolute()
    if directory.exists() and not directory.is_dir():
        raise SnapshotError(f"{directory} is a file: expected a directory for the key pair")
    private, public = directory / PRIVATE_KEY_FILE, directory / PUBLIC_KEY_FILE
    existing = [p for p in (private, public) if p.exists() or p.is_symlink()]
    if existing:
        raise KeyExists(
            f"{' and '.join(map(str, existing))} already {'exist' if len(existing) > 1 else 'exists'}: "
            "a key is never overwritten (the editions signed "
            "with it could no longer be checked, and evaluators hold its public key). Nothing was written. To "
            "rotate, generate the new pair in another directory and keep the old public key (docs/runbook.md, "
            "« Snapshot signatures: keys and rotation »)")
    directory.mkdir(mode=0o700, parents=True, exist_ok=True)
    key = Ed25519PrivateKey.generate()
    _write_new(private, key.private_bytes(Encoding.PEM, PrivateFormat.PKCS8, NoEncryption()), 0o600)
    try:
        _write_new(public, key.public_key().public_bytes(Encoding.PEM, PublicFormat.SubjectPublicKeyInfo), 0o644)
    except BaseException:
        private.unlink()
        raise
    return private, public, key_fingerprint(key.public_key())


def load_signing_key(value: str | os.PathLike, *, name: str = SIGNING_KEY_ENV) -> SigningKey:
    """The Ed25519 private key in file ``value`` (named by ``name`` in messages), checked: it exists, is readable
    by its owner only (like ssh, a key group or others can read is refused) and is an unencrypted PEM Ed25519
    private key. :class:`SigningKeyError` otherwise."""
    from cryptography.exceptions import UnsupportedAlgorithm
    from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey
    from cryptography.hazmat.primitives.serialization import load_pem_private_key

    path = Path(value).expanduser()
    where = f"{name}={str(value)!r}"
    keygen_hint = f"generate a key pair with `observatoire snapshot keygen DIR` and set {name}=DIR/{PRIVATE_KEY_FILE}"
    if not path.exists():
        raise SigningKeyError(f"{where}: no such file; expected the private key that signs the editions "
                              f"({keygen_hint}). Nothing was written")
    if not path.is_file():
        raise SigningKeyError(f"{where}: not a file; expected the private key that signs the editions "
                              f"({keygen_hint}). Nothing was written")
    try:
        data = path.read_bytes()
    except OSError as err:
        raise SigningKeyError(f"{where}: cannot read it ({err.strerror}). Nothing was written") from None
    try:
        key = load_pem_private_key(data, password=None)
    except TypeError:
        raise SigningKeyError(
            f"{where}: the private key is protected by a passphrase; editions are signed unattended (the "
            "Airflow worker), so the key must be unencrypted and protected as a secret file (mode 600). "
            "Nothing was written") from None
    except (ValueError, UnsupportedAlgorithm):
        what = ("a public key (the variable names the private half, snapshot.key)" if b"PUBLIC KEY-----" in data
                else "not a PEM private key")
        raise SigningKeyError(f"{where}: {what}; {keygen_hint}. Nothing was written") from None
    if not isinstance(key, Ed25519PrivateKey):
        raise SigningKeyError(f"{where}: a {type(key).__name__.lstrip('_')} key, not an Ed25519 one; "
                              f"{keygen_hint}. Nothing was written")
    mode = path.stat().st_mode & 0o777
    if mode & 0o077:
        raise SigningKeyError(
            f"{where}: the private key is accessible to group or others (mode {mode:03o}): anyone who can read it "
            f"can sign editions in the observatory's name, so it is refused (like ssh does). Run "
            f"`chmod 600 {path}` (and consider whether someone could have copied it: then rotate the key, "
            "docs/runbook.md). Nothing was written")
    return SigningKey(path=path.absolute(), key=key, fingerprint=key_fingerprint(key.public_key()))


def signing_key_of(settings: Settings) -> SigningKey | None:
    """The key the settings' ``OBSERVATOIRE_SIGNING_KEY`` names (checked: :class:`SigningKeyError`), or None when
    unset."""
    return load_signing_key(settings.signing_key) if settings.signing_key else None


def load_public_key(value: str | os.PathLike, *, name: str = "--public-key") -> PublicKey:
    """The Ed25519 public key in PEM file ``value``; :class:`SigningKeyError` naming ``name`` otherwise."""
    from cryptography.exceptions import UnsupportedAlgorithm
    from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PublicKey
    from cryptography.hazmat.primitives.serialization import load_pem_public_key

    path = Path(value).expanduser()
    where = f"{name} {str(value)!r}"
    if not path.is_file():
        raise SigningKeyError(f"{where}: no such file; expected the observatory's public key ({PUBLIC_KEY_FILE})")
    try:
        data = path.read_bytes()
        key = load_pem_public_key(data)
    except OSError as err:
        raise SigningKeyError(f"{where}: cannot read it ({err.strerror})") from None
    except (ValueError, UnsupportedAlgorithm):
        what = ("a private key: give the public half (snapshot.pub); the private key never leaves the machine "
                "that signs" if b"PRIVATE KEY-----" in data else "not a PEM public key")
        raise SigningKeyError(f"{where}: {what}") from None
    if not isinstance(key, Ed25519PublicKey):
        raise SigningKeyError(f"{where}: a {type(key).__name__.lstrip('_')} key, not an Ed25519 one")
    return PublicKey(path=path.absolute(), key=key, fingerprint=key_fingerprint(key))


def signature_info(manifest: dict) -> dict:
    """The manifest's ``signature`` block; editions made before signatures existed have none: unsigned."""
    info = manifest.get("signature") if isinstance(manifest, dict) else None
    if not isinstance(info, dict):
        return {"signed": False, "algorithm": None, "key_fingerprint": None, "file": None}
    return info


def _signature_block(signing: SigningKey | None) -> dict:
    if signing is None:
        return {"signed": False, "algorithm": None, "key_fingerprint": None, "file": None}
    return {"signed": True, "algorithm": SIGNATURE_ALGORITHM, "key_fingerprint": signing.fingerprint,
            "file": SIGNATURE}


def _read_signature(path: Path) -> bytes | None:
    """The raw 64-byte signature in a ``manifest.json.sig`` (base64), or None if it is not one."""
    try:
        raw = base64.b64decode(path.read_bytes().strip(), validate=True)
    except (binascii.Error, ValueError):
        return None
    return raw if len(raw) == 64 else None


def _inside(path: Path, directory: Path) -> bool:
    try:
        path.resolve().relative_to(directory.resolve())
    except ValueError:
        return False
    return True


