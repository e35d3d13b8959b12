"""Behaviour-preserving shortcuts in Great Expectations' validation path (docs/decisions.md, ADR 11).

GX 1.x rebuilds an expectation's whole configuration (a pydantic ``dict()``, which rebuilds every
argument's lists and dicts, value sets included) each time it reads *one* of its arguments: ``_get_domain_kwargs``,
``_get_success_kwargs`` and ``_get_runtime_kwargs`` do it once per key, ~80 times per expectation and
validation. That was ~40 % of the time of our gates on small tables. The replacements below read the
configuration once per call and return the same values (same keys, same defaults, the same warning for an
unknown key); a subclass that overrides one of these methods keeps its override. (The other shortcut, an
in-memory project that does not serialise its configuration for each suite, is in ``runner._context``.)

They are applied only to the GX version they were checked against (:data:`CHECKED_VERSION`, the one
``uv.lock`` pins); with another version GX runs unpatched, only slower; ``OBSERVATOIRE_GX_PATCHES=0`` turns
them off. ``tests/unit/test_gx_patches.py`` validates every expectation type the suites use, passing and
failing, with and without the patches, and requires identical results.
"""

from __future__ import annotations

import logging
from typing import Any

from expectations.settings import current

CHECKED_VERSION = "1.24.1"

_log = logging.getLogger("great_expectations.expectations.expectation")
_WARNED: list[str] = []  # the unchecked version already reported (once per process)
_ORIGINAL: dict[str, Any] = {}


def _get_domain_kwargs(self, _kwargs: dict | None = None) -> dict[str, Any]:
    kwargs = self.configuration.kwargs if _kwargs is None else _kwargs
    return {key: kwargs.get(key, self._get_default_value(key)) for key in self.domain_keys}


def _get_success_kwargs(self, _kwargs: dict | None = None) -> dict[str, Any]:
    kwargs = self.configuration.kwargs if _kwargs is None else _kwargs
    # GX's order: the domain kwargs first, then the success kwargs, updated with the domain ones
    own = type(self)._get_domain_kwargs is _get_domain_kwargs
    domain = _get_domain_kwargs(self, kwargs) if own else self._get_domain_kwargs()
    success = {key: kwargs.get(key, self._get_default_value(key)) for key in self.success_keys}
    success.update(domain)
    return success


def _success_kwarg(self, kwargs: dict, key: str) -> Any:
    """``Expectation._get_success_kwarg(key)`` on an already built configuration."""
    if key in kwargs:
        return kwargs[key]
    field = self.__fields__.get(key)
    if field is not None:
        return field.default if not field.required else None
    _log.warning(f'_get_success_kwarg called with key "{key}", but it is not a known field of {type(self).__name__}')
    return None


def _get_runtime_kwargs(self, runtime_configuration: dict | None = None) -> dict:
    from great_expectations.expectations.expectation_configuration import parse_result_format

    runtime_configuration = runtime_configuration or {}
    kwargs = self.configuration.kwargs
    own = type(self)._get_success_kwargs is _get_success_kwargs
    success = _get_success_kwargs(self, kwargs) if own else self._get_success_kwargs()
    own = type(self)._get_success_kwarg is _ORIGINAL["_get_success_kwarg"]
    runtime = {key: runtime_configuration.get(key, _success_kwarg(self, kwargs, key) if own
                                              else self._get_success_kwarg(key))
               for key in self.runtime_keys}
    runtime.update(success)
    runtime["result_format"] = parse_result_format(runtime["result_format"])
    return runtime


_REPLACEMENTS = {
    "_get_domain_kwargs": _get_domain_kwargs,
    "_get_success_kwargs": _get_success_kwargs,
    "_get_runtime_kwargs": _get_runtime_kwargs,
}


def wanted() -> bool:
    """The settings' ``OBSERVATOIRE_GX_PATCHES``: ``1`` (default) or ``0`` to run GX exactly as published (to rule
    the shortcuts out when a check behaves oddly)."""
    return current().gx_patches


def apply() -> bool:
    """Install the shortcuts (idempotent). Returns whether they are installed: False when
    ``OBSERVATOIRE_GX_PATCHES=0`` or for a GX version other than :data:`CHECKED_VERSION`."""
    import great_expectations
    from great_expectations.expectations.expectation import Expectation

    if not wanted():
        return False
    if great_expectations.__version__ != CHECKED_VERSION:
        if not _WARNED:
            _WARNED.append(great_expectations.__version__)
            logging.getLogger(__name__).warning(
                "Great Expectations %s is not the version the gates' shortcuts were checked against (%s): they are "
                "off, the gates run GX's own code (same verdicts, slower). Check them against the new version "
                "(tests/unit/test_gx_patches.py, CONTRIBUTING.md) and raise CHECKED_VERSION.",
                great_expectations.__version__, CHECKED_VERSION)
        return False
    if not _ORIGINAL:
        originals = {name: Expectation.__dict__[name] for name in (*_REPLACEMENTS, "_get_success_kwarg")}
        if any(fn.__module__ == __name__ for fn in originals.values()):  # this module was reloaded
            raise RuntimeError("GX's Expectation already carries shortcuts from an earlier copy of "
                               f"{__name__}: its own methods are lost; restart the process")
        _ORIGINAL.update(originals)
    for name, fn in _REPLACEMENTS.items():
        setattr(Expectation, name, fn)
    return True


def remove() -> None:
    """Put GX's own methods back (tests compare both)."""
    from great_expectations.expectations.expectation import Expectation

    for name in _REPLACEMENTS:
        if name in _ORIGINAL:
            setattr(Expectation, name, _ORIGINAL[name])


def applied() -> bool:
    from great_expectations.expectations.expectation import Expectation

    return all(Expectation.__dict__.get(name) is fn for name, fn in _REPLACEMENTS.items())
