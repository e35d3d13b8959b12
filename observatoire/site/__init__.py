"""The observatory's static site (issue 19): what the comité de pilotage, the élus, the habitants and the
evaluators read, built from a published DuckDB file.

    from observatoire.site import build_site
    build_site(Path("data/warehouse/observatoire.duckdb"), Path("out/site"))

``build_site`` writes, into a temporary sibling of ``out`` renamed into place (the site is whole or absent):

* ``index.html``: the contract's key figures recomputed beside the contract's own, the publication (date,
  mode, with a banner on demo data), the sources with their millésimes and freshness, links to every page;
* ``defi/<defi>.html`` (the 10 défis, in the contract's order): each baromètre with its definition, unit,
  source and millésime, a chart of the QPV against their comparators and the table of the same values;
* ``qpv/<code_qpv>.html`` (one fiche per QPV): socle and baromètres, latest value, baseline, evolution,
  comparators, the statut and motif of every missing value, a map of the quartier;
* ``carte.html`` and ``carte/<indicateur>.html``: the perimeter's QPV coloured by an indicator;
* ``assets/site.css``, ``site.json`` (what was built, from which publication).

Every page opens from ``file://`` or an intranet with no internet: relative links only, SVG inline, no
script, no font or image from elsewhere; links to the publishers' pages are plain ``<a href>``.
"""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

from observatoire.site.errors import SITE_MARKER, SiteError

__all__ = ["build_site", "SiteError", "SITE_MARKER"]


def build_site(db: Path, out: Path, *, log: Callable[[str], None] | None = None) -> dict:
    """Write the static site of the published warehouse ``db`` (opened read-only) into ``out``.

    ``out`` is created whole or not at all: the site is written into a temporary sibling directory renamed
    into place; an existing ``out`` is replaced only if it is a site (holds ``site.json``), else refused.
    ``log``: a callable given progress lines. Returns ``{"path", "index", "version", "mode", "pages",
    "files", "bytes", "seconds"}``. Raises :class:`SiteError`.
    """
    from observatoire.site.build import build

    return build(Path(db), Path(out), log=log)
