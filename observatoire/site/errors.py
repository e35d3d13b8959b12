"""The names the site's package and its builder share (its own module: the package imports the builder lazily,
the builder never imports the package)."""

from __future__ import annotations

#: the file every site holds: ``build_site`` replaces an existing directory only when it holds this file
SITE_MARKER = "site.json"


class SiteError(RuntimeError):
    """The site could not be built (the message says why); nothing was written at ``out``."""
