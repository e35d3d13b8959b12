"""``observatoire site [--out DIR]``: the static site of the published warehouse.

Registered in ``observatoire/cli.py`` with ``main.add_command(site)``.
"""

from __future__ import annotations

import sys
from pathlib import Path

import click


def _settings():
    from observatoire.cli_common import settings

    return settings()


def _fail(message: str) -> None:
    click.echo(f"SITE ERROR: {message}", err=True)
    sys.exit(1)


@click.command("site")
@click.option("--out", type=click.Path(file_okay=False, path_type=Path), metavar="DIR",
              help="Write the site there instead of $OBSERVATOIRE_DATA_DIR/warehouse/site/<version>/ (a new "
                   "directory, or a site written earlier: it is replaced).")
def site(out: Path | None) -> None:
    """Write the static site of the published warehouse and print the path of its index.html.

    The site (home with the contract's key figures and the sources, one page per défi, one fiche per QPV,
    maps) opens from the file system or an intranet with no internet access: copy the whole directory. Each
    publication already writes it into warehouse/site/<version>/ (warehouse/site/current: the published one);
    this command writes it again, e.g. for a publication from before the site existed, or elsewhere with
    --out (never into an edition: a directory under snapshots/ or holding an edition's manifest.json or
    SHA256SUMS is refused). Exit status: 0 written, 1 nothing published, --out refused or the site could not
    be built.
    """
    from observatoire.site import SiteError, build_site
    from observatoire.warehouse import published_state, published_version, site_dir

    settings = _settings()
    state, why = published_state(settings)
    if state == "missing":
        _fail(f"nothing is published in {settings.data_dir}: run `observatoire run` first ({why})")
    if state != "ok":
        _fail(f"the published warehouse is {state}: {why}")
    version = published_version(settings)
    if not version:
        _fail(f"{settings.published_db} has no publication record")
    if out is None:
        result = _build_in_warehouse(settings, version, site_dir)
    else:
        why_not = frozen_edition_target(settings, out)
        if why_not:
            _fail(why_not)
        try:
            result = build_site(settings.published_db, out, log=lambda msg: click.echo(msg, err=True))
        except SiteError as err:
            _fail(str(err))
        except OSError as err:
            _fail(f"cannot write {out}: {err.strerror or err}")
    click.echo(f"site of publication {result['version']}: {result['pages']} pages, {result['bytes']:,} bytes, "
               f"{result['seconds']} s", err=True)
    click.echo(result["index"])


def _is_edition(directory: Path) -> bool:
    """Whether ``directory`` is a frozen edition: it holds SHA256SUMS, or a manifest.json with an edition and
    the list of its files (what ``observatoire snapshot create`` writes)."""
    import json

    from observatoire.snapshot import MANIFEST, SUMS

    if (directory / SUMS).is_file():
        return True
    try:
        doc = json.loads((directory / MANIFEST).read_text("utf-8"))
    except (OSError, ValueError):
        return False
    return isinstance(doc, dict) and "edition" in doc and "files" in doc


def frozen_edition_target(settings, out: Path) -> str | None:
    """Why ``--out`` must not be written (None when it may): a directory under the data directory's
    ``snapshots/``, or in (or under) an edition, would change files whose hashes the edition's manifest.json and
    SHA256SUMS freeze (``snapshot verify`` would then fail). ``snapshot create`` builds its site with
    ``build_site`` directly, not through this command."""
    from observatoire.snapshot import snapshots_dir

    target = out.expanduser().absolute().resolve()
    root = snapshots_dir(settings).absolute().resolve()
    if target == root or target.is_relative_to(root):
        return (f"{out} is inside {root}: the editions there are frozen (their manifest.json and SHA256SUMS "
                "hash every file, the site included), a site is not written into them; choose a directory "
                "outside snapshots/ (an edition's site is made by `observatoire snapshot create`)")
    for directory in (target, *target.parents):
        if directory.is_dir() and _is_edition(directory):
            return (f"{out} is inside the frozen edition {directory} (it holds manifest.json/SHA256SUMS): a site "
                    "is not written into an edition; choose another directory")
    return None


def _build_in_warehouse(settings, version: str, site_dir) -> dict:
    """warehouse/site/<version>/ under the writer lock (a run may be switching versions), then ``current``
    pointed at it when it is still the published version."""
    from observatoire.locking import LockTimeout, writer_lock
    from observatoire.site import SiteError, build_site
    from observatoire.warehouse import _switch_current, published_version

    try:
        with writer_lock(settings.lock_path, "observatoire site"):
            version = published_version(settings) or version  # a run may have published while we waited
            dest = site_dir(settings) / version
            dest.parent.mkdir(parents=True, exist_ok=True)
            result = build_site(settings.published_db, dest, log=lambda msg: click.echo(msg, err=True))
            _switch_current(site_dir(settings), version)
            return result
    except LockTimeout as err:
        _fail(str(err))
    except SiteError as err:
        _fail(str(err))
    except OSError as err:
        _fail(f"cannot write the site under {site_dir(settings)}: {err.strerror or err}")
    raise AssertionError("unreachable")
