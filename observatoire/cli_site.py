"""``observatoire site [--out DIR]``: the static site of the published warehouse.

Registered in ``observatoire/cli.py`` with ``main.add_command(site)``.
"""

from __future__ import annotations

import sys
from pathlib import Path

import click


def _settings():
    from observatoire.cli import _settings as settings

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
    --out. Exit status: 0 written, 1 nothing published or the site could not be built.
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
        try:
            result = build_site(settings.published_db, out, log=lambda msg: click.echo(msg, err=True))
        except SiteError as err:
            _fail(str(err))
        except OSError as err:
            _fail(f"cannot write {out}: {err.strerror or err}")
    click.echo(f"site of publication {result['version']}: {result['pages']} pages, {result['bytes']:,} bytes, "
               f"{result['seconds']} s", err=True)
    click.echo(result["index"])


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
