"""``observatoire snapshot …``: the evaluators' immutable annual editions."""

from __future__ import annotations

import json
import sys
from pathlib import Path

import click


def _settings():
    from observatoire.cli_common import settings

    return settings()


def _fail(message: str) -> None:
    click.echo(f"SNAPSHOT ERROR: {message}", err=True)
    sys.exit(1)


@click.group()
def snapshot() -> None:
    """Annual editions for the evaluators: immutable, verifiable snapshots of the published warehouse.

    Written under $OBSERVATOIRE_DATA_DIR/snapshots/<version>/ (Parquet and DuckDB at full precision; French
    CSV and an XLSX workbook with French labels and units, rounded to each publisher's decimals; the static
    site in site/; manifest.json with every file's sha256, SHA256SUMS, a README in French). Signed
    (manifest.json.sig, Ed25519) when OBSERVATOIRE_SIGNING_KEY names the private key written by `snapshot keygen`.
    """


@snapshot.command("keygen")
@click.argument("directory", type=click.Path(file_okay=False, path_type=Path))
def keygen_cmd(directory: Path) -> None:
    """Write a new Ed25519 key pair to sign the editions: DIRECTORY/snapshot.key (private, mode 600) and
    DIRECTORY/snapshot.pub (public, for the evaluators).

    Prints both paths and the key's fingerprint (first 16 hex digits of the sha256 of the raw public key).
    Keep snapshot.key outside the data directory, readable by the signing account only, and set
    OBSERVATOIRE_SIGNING_KEY to its path. Exit status: 0 written, 1 refused (a key already exists there: a key
    is never overwritten).
    """
    from observatoire.snapshot import SIGNING_KEY_ENV, SnapshotError, _inside, keygen

    try:
        private, public, fingerprint = keygen(directory)
    except SnapshotError as err:
        _fail(str(err))
    except OSError as err:
        _fail(f"cannot write the key pair in {directory}: {err.strerror or err}")
    click.echo(f"private key: {private}")
    click.echo(f"public key:  {public}")
    click.echo(f"fingerprint: {fingerprint}")
    data_dir = _settings().data_dir
    if _inside(private, data_dir):
        click.echo(f"warning: {private} lies inside the data directory {data_dir}: move the key pair "
                   "outside it (the data directory is shared, copied and backed up with the data)", err=True)
    click.echo(f"Keep {private.name} secret (mode 600, on the machine that signs, never in the data directory) and "
               f"set {SIGNING_KEY_ENV}={private}; give {public.name} and its fingerprint {fingerprint} to the "
               "evaluators (docs/runbook.md, « Snapshot signatures: keys and rotation »).", err=True)


@snapshot.command("create")
@click.option("--edition", type=int, required=True, metavar="YEAR", help="The edition (year), e.g. 2025.")
@click.option("--correction", metavar="MOTIF",
              help="Write a correction of an existing edition (version 2025.1, 2025.2…) with this reason.")
@click.option("--demo", is_flag=True,
              help="The published warehouse holds demo data (the project's recordings, synthetic values) and an "
                   "edition of it is wanted anyway: it is marked « données de démonstration, valeurs synthétiques » "
                   "in its README.md, manifest.json, workbook notes and DuckDB file. Refused on live data.")
def create_cmd(edition: int, correction: str | None, demo: bool) -> None:
    """Freeze the latest published warehouse as an edition (refused if the edition exists).

    The edition holds every table in Parquet, CSV and DuckDB, the workbook observatoire_<version>.xlsx (notes,
    one sheet per défi in the contract's order, Dernières valeurs, key figures, fiches, evaluation, Dictionnaire)
    and the static site built from the publication (site/index.html).

    A demo publication is refused unless --demo is given. Prints the version and the directory written.
    Signed when OBSERVATOIRE_SIGNING_KEY names the private key written by `snapshot keygen` (manifest.json.sig).
    Exit status: 0 written, 1 refused (the edition exists, another territory) or failed, 2 usage (a demo
    publication without --demo, or --demo on live data, or an unusable OBSERVATOIRE_SIGNING_KEY: nothing written).
    """
    from observatoire.locking import LockTimeout
    from observatoire.snapshot import SigningKeyError, SnapshotDemoRefused, SnapshotError, create

    settings = _settings()
    try:
        snap = create(settings, edition, correction, demo=demo, log=lambda msg: click.echo(msg, err=True))
    except (SnapshotDemoRefused, SigningKeyError) as err:
        click.echo(f"Error: {err}", err=True)
        sys.exit(2)
    except (SnapshotError, LockTimeout) as err:
        _fail(str(err))
    except Exception as err:  # the machine's fault (disk full, read-only, a read-write connection on the file)
        from observatoire.failures import explain

        why = explain(err, data_dir=settings.data_dir)
        if why is None:
            raise
        _fail(f"snapshot {edition} not written: {why}")
    files = snap.manifest["files"]
    click.echo(f"snapshot {snap.version}: {len(files)} files, {sum(f['bytes'] for f in files):,} bytes", err=True)
    if snap.manifest.get("donnees_demonstration"):
        click.echo(f"snapshot {snap.version} is a demonstration edition: {snap.manifest['avertissement']}", err=True)
    click.echo(str(snap.path))


@snapshot.command("list")
@click.option("--json", "as_json", is_flag=True, help="Print a JSON array.")
def list_cmd(as_json: bool) -> None:
    """List the snapshots (editions and their corrections)."""
    from observatoire.snapshot import SnapshotError, list_snapshots

    try:
        items = list_snapshots(_settings())
    except SnapshotError as err:
        _fail(str(err))
    if as_json:
        click.echo(json.dumps(items, ensure_ascii=False, indent=2))
        return
    if not items:
        click.echo("no snapshot yet (observatoire snapshot create --edition YEAR)", err=True)
        return
    for s in items:
        signed = f"signed {s['key_fingerprint']}" if s["signed"] else "unsigned"
        line = (f"{s['version']:<8} {s['created_at']}  run {s['run_id']}  {s['mode']}  {s['perimetre']}  "
                f"{s['files']} files  {s['bytes']:,} bytes  {signed}")
        if s["correction"]:
            line += f"\n         correction: {s['correction']}"
        click.echo(line)


@snapshot.command("verify")
@click.argument("version")
@click.option("--public-key", "public_key", metavar="FILE",
              help="The observatory's public key (snapshot.pub): also check manifest.json.sig, so that a file "
                   "edited with its manifest.json and SHA256SUMS updated to match is detected. An unsigned "
                   "snapshot then fails.")
def verify_cmd(version: str, public_key: str | None) -> None:
    """Recompute every file's sha256 and compare with manifest.json and SHA256SUMS; with --public-key, check the
    signature too.

    Without --public-key, says whether the snapshot is signed (and with which key) but does not check the
    signature: hashes alone do not resist an edit that updates manifest.json and SHA256SUMS as well.
    Exit status: 0 intact (and, with --public-key, signed with that key), 1 any difference (each altered,
    missing or added file is named; a signature that does not match, or none), 2 usage (an unusable --public-key).
    """
    from observatoire.snapshot import SigningKeyError, SnapshotError, check, load_public_key

    try:
        key = load_public_key(public_key) if public_key else None
    except SigningKeyError as err:
        raise click.BadParameter(str(err), param_hint="--public-key") from None
    try:
        result = check(_settings(), version, key)
    except SnapshotError as err:
        _fail(str(err))
    if result.signed and key is None:
        signature = (f"signed with key {result.key_fingerprint}, signature NOT checked (add --public-key FILE, the "
                     "observatory's public key, to check it)")
    elif result.signed is False and key is None:
        signature = ("unsigned: nothing proves who made it (hashes do not resist an edit that updates "
                     "manifest.json and SHA256SUMS too)")
    elif result.signature_valid:
        signature = f"signature valid (Ed25519, key {key.fingerprint}, public key {key.path})"
    else:
        signature = None
    if result.problems:
        click.echo(f"snapshot {version}: {len(result.problems)} problem(s)", err=True)
        for p in result.problems:
            click.echo(f"  {p}", err=True)
        if signature:
            click.echo(f"snapshot {version}: {signature}", err=True)
        sys.exit(1)
    click.echo(f"snapshot {version}: intact (every file's sha256); {signature}")


@snapshot.command("diff")
@click.argument("old")
@click.argument("new")
@click.option("--qpv", "code_qpv", metavar="CODE", help="Only this QPV.")
@click.option("--indicateur", metavar="ID", help="Only this indicator.")
@click.option("--json", "as_json", is_flag=True, help="Print JSON.")
def diff_cmd(old: str, new: str, code_qpv: str | None, indicateur: str | None, as_json: bool) -> None:
    """Indicators that moved between two versions, by QPV (latest values, and revised values)."""
    from observatoire.snapshot import SnapshotError, UnknownFilter, diff

    try:
        out = diff(_settings(), old, new, code_qpv=code_qpv, indicateur=indicateur)
    except UnknownFilter as err:
        raise click.BadParameter(str(err), param_hint=err.option) from None
    except SnapshotError as err:
        _fail(str(err))
    if as_json:
        click.echo(json.dumps(out, ensure_ascii=False, indent=2, default=str))
        return

    def fmt(v, statut):
        return f"{v:g}" if v is not None else f"({statut or 'absent'})"

    click.echo(f"{old} → {new}: {len(out['dernier'])} latest value(s) moved, {len(out['revisions'])} revision(s)")
    current = None
    for r in out["dernier"]:
        if r["code_qpv"] != current:
            current = r["code_qpv"]
            click.echo(f"\n{current} {r['libelle_qpv'] or ''}")
        line = (f"  {r['indicateur']:<40} {r['millesime_avant'] or '-'}: {fmt(r['valeur_avant'], r['statut_avant'])}"
                f"  →  {r['millesime_apres'] or '-'}: {fmt(r['valeur_apres'], r['statut_apres'])}")
        if r["variation"] is not None:
            line += f"  ({r['variation']:+g})"
        click.echo(line)
    if out["revisions"]:
        click.echo("\nrevisions (same millésime, value or statut changed):")
        for r in out["revisions"]:
            click.echo(f"  {r['code_qpv']} {r['indicateur']:<40} {r['millesime']}: "
                       f"{fmt(r['valeur_avant'], r['statut_avant'])} → {fmt(r['valeur_apres'], r['statut_apres'])}")
