"""The gates' settings, as one validated object: the gates never read the environment. The entry point builds the
settings once (``observatoire.config.load_settings``, which extends :class:`GateSettings`) and installs them with
:func:`install`; forked validation workers inherit them. Until then :func:`current` holds the defaults."""

from __future__ import annotations

from typing import Annotated, Any

from pydantic import BaseModel, BeforeValidator, ConfigDict

from extract.settings import Installed, number

DEFAULT_MAX_ROWS = 1_000_000


def _switch(raw: Any) -> bool:
    if isinstance(raw, bool):
        return raw
    value = str(raw).strip() if raw is not None else "1"
    if value not in ("0", "1"):
        raise ValueError(f"OBSERVATOIRE_GX_PATCHES must be 1 (GX's shortcuts on, the default) or 0 (off), "
                         f"got {value!r}")
    return value == "1"


class GateSettings(BaseModel):
    """Each field is the variable ``OBSERVATOIRE_<FIELD>``."""

    model_config = ConfigDict(frozen=True)

    #: processes validating suites at the same time; None: the cores this process may use, at most 4
    gx_workers: number("processes", 1, integer=True, optional=True) = None
    #: rows above which a file's row-level checks run in chunks of this many rows
    gx_max_rows: number("rows", 1, integer=True) = DEFAULT_MAX_ROWS
    #: GX's shortcuts (``expectations/gx_patches.py``) on (1, the default) or off (0: GX exactly as published)
    gx_patches: Annotated[bool, BeforeValidator(_switch)] = True


_installed: Installed[GateSettings] = Installed(GateSettings())
install = _installed.install
current = _installed.current
