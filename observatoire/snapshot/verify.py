"""``observatoire snapshot list``, ``verify`` and ``diff``: what exists, whether it is intact, what changed."""

from __future__ import annotations

import difflib
import os
import re
from dataclasses import dataclass
from pathlib import Path

from extract.landing import file_sha256 as sha256_file
from observatoire.config import Settings
from observatoire.snapshot.base import (
    EVALUATION_TABLE,
    MANIFEST,
    SIGNATURE,
    SIGNATURE_ALGORITHM,
    SUMS,
    SnapshotError,
    _dicts,
    open_snapshot,
    versions,
)
from observatoire.snapshot.signing import (
    PublicKey,
    _read_signature,
    load_public_key,
    signature_info,
)
from observatoire.warehouse import _lit  # shared with the publication

# -- list, verify, diff -----------------------------------------------------------------------------------


def list_snapshots(settings: Settings) -> list[dict]:
    out = []
    for v in versions(settings):
        snap = open_snapshot(settings, v)
        m = snap.manifest
        sig = signature_info(m)
        out.append({
            "version": v,
            "edition": m.get("edition"),
            "created_at": m.get("created_at"),
            "run_id": m.get("run_id"),
            "mode": (m.get("publication") or {}).get("mode"),
            "perimetre": (m.get("publication") or {}).get("perimetre"),
            "correction": (m.get("correction") or {}).get("motif"),
            "signed": bool(sig.get("signed")),
            "key_fingerprint": sig.get("key_fingerprint") if sig.get("signed") else None,
            "files": len(m.get("files", [])),
            "bytes": sum(f.get("bytes", 0) for f in m.get("files", [])),
            "path": str(snap.path),
        })
    return out


@dataclass(frozen=True)
class Verification:
    """What ``verify`` found: the problems (empty: intact), and what it can say of the signature."""

    version: str
    problems: list[str]
    #: the manifest says the edition is signed (None: the manifest cannot be read)
    signed: bool | None
    #: the key the manifest says it was signed with
    key_fingerprint: str | None
    #: the public key the signature was checked against (None: not checked)
    public_key: PublicKey | None
    #: the signature verified with ``public_key``
    signature_valid: bool


def verify(settings: Settings, version: str, public_key: PublicKey | str | os.PathLike | None = None) -> list[str]:
    """Recompute every hash (and, given ``public_key``, check the signature); returns the problems (empty when
    the snapshot is intact), each naming a file. See :func:`check`."""
    return check(settings, version, public_key).problems


def check(settings: Settings, version: str, public_key: PublicKey | str | os.PathLike | None = None) -> Verification:
    """Recompute every hash and compare with manifest.json and SHA256SUMS; given ``public_key`` (a file or a
    :class:`PublicKey`), also check ``manifest.json.sig``: an unsigned edition, a signature made with another
    key or a manifest changed after signing is a problem. Hashes alone do not resist an edit that updates
    manifest.json and SHA256SUMS to match; the signature does."""
    if public_key is not None and not isinstance(public_key, PublicKey):
        public_key = load_public_key(public_key)
    try:
        snap = open_snapshot(settings, version)
    except SnapshotError as err:
        if "not valid JSON" not in str(err):
            raise
        problems = [f"{MANIFEST}: {err}"]
        if public_key is not None:
            problems.append(f"{SIGNATURE}: cannot be checked, {MANIFEST} is not readable")
        return Verification(str(version).strip(), problems, None, None, public_key, False)
    problems = []
    listed = {}
    for f in snap.manifest.get("files", []):
        listed[f["path"]] = f
    if not listed:
        problems.append(f"{MANIFEST}: lists no file")
    for rel, f in sorted(listed.items()):
        path = snap.path / rel
        if not path.is_file():
            problems.append(f"{rel}: missing")
            continue
        size = path.stat().st_size
        digest = sha256_file(path)
        if digest != f.get("sha256") or size != f.get("bytes"):
            problems.append(f"{rel}: sha256 {digest[:16]}… ({size} bytes) differs from the manifest's "
                            f"{str(f.get('sha256'))[:16]}… ({f.get('bytes')} bytes)")
    for path in sorted(snap.path.rglob("*")):
        rel = path.relative_to(snap.path).as_posix()
        if path.is_file() and rel not in listed and rel not in (MANIFEST, SUMS, SIGNATURE):
            problems.append(f"{rel}: not in the manifest (file added after the snapshot was made)")
    # the signature file: present exactly when the manifest says the edition is signed
    sig = signature_info(snap.manifest)
    signed = bool(sig.get("signed"))
    fingerprint = sig.get("key_fingerprint") if signed else None
    sig_path = snap.path / SIGNATURE
    raw_signature = None
    if signed:
        if sig.get("algorithm") != SIGNATURE_ALGORITHM:
            problems.append(f"{MANIFEST}: signature algorithm {sig.get('algorithm')!r}, expected "
                            f"{SIGNATURE_ALGORITHM!r}")
        if not sig_path.is_file():
            problems.append(f"{SIGNATURE}: missing, although {MANIFEST} says the snapshot is signed "
                            f"(key {fingerprint})")
        else:
            raw_signature = _read_signature(sig_path)
            if raw_signature is None:
                problems.append(f"{SIGNATURE}: not a signature (expected the base64 of a 64-byte "
                                f"{SIGNATURE_ALGORITHM} signature on one line)")
    elif sig_path.exists():
        problems.append(f"{SIGNATURE}: present although {MANIFEST} says the snapshot is unsigned (file added "
                        "after the snapshot was made)")
    # SHA256SUMS covers manifest.json itself: a changed byte in the manifest is caught here
    sums_path = snap.path / SUMS
    if not sums_path.is_file():
        problems.append(f"{SUMS}: missing")
    else:
        sums: dict[str, str] = {}
        for n, line in enumerate(sums_path.read_text(encoding="utf-8", errors="replace").splitlines(), start=1):
            m = re.fullmatch(r"([0-9a-f]{64})  (.+)", line)
            if not m:
                problems.append(f"{SUMS}: line {n} is not '<sha256>  <path>'")
                continue
            sums[m[2]] = m[1]
        manifest_digest = sha256_file(snap.path / MANIFEST)
        if sums.get(MANIFEST) != manifest_digest:
            problems.append(f"{MANIFEST}: sha256 {manifest_digest[:16]}… differs from the one recorded in {SUMS}")
        if signed and sig_path.is_file() and sums.get(SIGNATURE) != sha256_file(sig_path):
            problems.append(f"{SIGNATURE}: sha256 {sha256_file(sig_path)[:16]}… differs from the one recorded in "
                            f"{SUMS}")
        for rel, f in sorted(listed.items()):
            if sums.get(rel) != f.get("sha256"):
                problems.append(f"{SUMS}: the entry for {rel} disagrees with the manifest")
        for rel in sorted(set(sums) - set(listed) - {MANIFEST} - ({SIGNATURE} if signed else set())):
            problems.append(f"{SUMS}: lists {rel}, which the manifest does not")
    valid = False
    if public_key is not None:
        who = f"the public key {public_key.fingerprint}" + (f" ({public_key.path})" if public_key.path else "")
        if not signed:
            problems.append(f"{SIGNATURE}: snapshot {snap.version} is unsigned ({MANIFEST} records no signature): "
                            f"nothing proves who made it, so it cannot be checked against {who}")
        elif raw_signature is not None:
            from cryptography.exceptions import InvalidSignature

            try:
                public_key.key.verify(raw_signature, (snap.path / MANIFEST).read_bytes())
                valid = True
            except InvalidSignature:
                if fingerprint != public_key.fingerprint:
                    why = (f"{MANIFEST} says it was signed with key {fingerprint}: if that is one of the "
                           "observatory's older keys, check with its public key (an edition keeps the key it was "
                           "signed with); otherwise the snapshot was not signed by the holder of this key")
                else:
                    why = f"{MANIFEST} was changed after it was signed, or the signature was replaced"
                problems.append(f"{SIGNATURE}: signature does not match {MANIFEST} with {who}: {why}")
    return Verification(snap.version, problems, signed, fingerprint, public_key, valid)


def _diff_fct(a: Path, b: Path, *, revisions_only: bool) -> list[dict]:
    import duckdb

    con = duckdb.connect()
    try:
        return _dicts(con, f"""
            with a as (select code_qpv, indicateur, millesime, valeur, statut from read_parquet({_lit(str(a))})),
                 b as (select code_qpv, indicateur, millesime, valeur, statut from read_parquet({_lit(str(b))}))
            select coalesce(a.code_qpv, b.code_qpv) as code_qpv, coalesce(a.indicateur, b.indicateur) as indicateur,
                   coalesce(a.millesime, b.millesime) as millesime,
                   a.valeur as valeur_avant, b.valeur as valeur_apres, a.statut as statut_avant, b.statut as statut_apres,
                   case when a.code_qpv is null then 'ajout' when b.code_qpv is null then 'retrait'
                        else 'revision' end as nature
            from a full join b using (code_qpv, indicateur, millesime)
            where (a.valeur is distinct from b.valeur or a.statut is distinct from b.statut)
              {"and a.code_qpv is not null and b.code_qpv is not null" if revisions_only else ""}
            order by 1, 2, 3""")
    finally:
        con.close()


class UnknownFilter(ValueError):
    """A ``diff`` filter names a QPV or an indicator neither version has."""

    def __init__(self, option: str, message: str) -> None:
        super().__init__(message)
        self.option = option


def diff(settings: Settings, old: str, new: str, *, code_qpv: str | None = None,
         indicateur: str | None = None) -> dict:
    """Indicators that moved between two versions, by QPV (only ``code_qpv``, ``indicateur`` when given:
    :class:`UnknownFilter` if neither version has it).

    ``dernier``: for each QPV and indicator whose latest value differs (a new millésime, a revision or a
    change of statut), both latest values; ``revisions``: values of the same millésime that changed."""
    import duckdb

    a, b = open_snapshot(settings, old), open_snapshot(settings, new)
    con = duckdb.connect()
    try:
        ev = [s.path / "parquet" / f"{EVALUATION_TABLE}.parquet" for s in (a, b)]
        for p in ev:
            if not p.exists():
                raise SnapshotError(f"{p}: missing (run `observatoire snapshot verify`)")
        both = f"read_parquet([{_lit(str(ev[0]))}, {_lit(str(ev[1]))}])"
        for option, column, value in (("--qpv", "code_qpv", code_qpv), ("--indicateur", "indicateur", indicateur)):
            if value is None:
                continue
            known = [r[0] for r in con.execute(f"SELECT DISTINCT {column} FROM {both} ORDER BY 1").fetchall()]
            if value not in known:
                close = difflib.get_close_matches(value, known, n=3)
                raise UnknownFilter(option, f"neither {a.version} nor {b.version} has {column} {value!r}"
                                    + (f"; did you mean {', '.join(close)}?" if close else
                                       f"; they have {len(known)}, e.g. {', '.join(known[:3])}"))
        dernier = _dicts(con, f"""
            with a as (select * from read_parquet({_lit(str(ev[0]))})),
                 b as (select * from read_parquet({_lit(str(ev[1]))}))
            select coalesce(b.code_qpv, a.code_qpv) as code_qpv, coalesce(b.libelle_qpv, a.libelle_qpv) as libelle_qpv,
                   coalesce(b.indicateur, a.indicateur) as indicateur,
                   a.millesime_dernier as millesime_avant, a.valeur_dernier as valeur_avant, a.statut_dernier as statut_avant,
                   b.millesime_dernier as millesime_apres, b.valeur_dernier as valeur_apres, b.statut_dernier as statut_apres,
                   case when a.statut_dernier = 'disponible' and b.statut_dernier = 'disponible'
                        then b.valeur_dernier - a.valeur_dernier end as variation
            from a full join b using (code_qpv, indicateur)
            where a.millesime_dernier is distinct from b.millesime_dernier
               or a.valeur_dernier is distinct from b.valeur_dernier
               or a.statut_dernier is distinct from b.statut_dernier
            order by 1, 3""")
    finally:
        con.close()
    revisions = _diff_fct(a.path / "parquet" / "fct_indicateur_qpv.parquet",
                          b.path / "parquet" / "fct_indicateur_qpv.parquet", revisions_only=True)
    out = {"avant": a.version, "apres": b.version, "dernier": dernier, "revisions": revisions}
    for key in ("dernier", "revisions"):
        out[key] = [r for r in out[key] if (not code_qpv or r["code_qpv"] == code_qpv)
                    and (not indicateur or r["indicateur"] == indicateur)]
    return out
