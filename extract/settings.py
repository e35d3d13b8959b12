"""What extraction is allowed to do (timeouts, retries, size limits, URL overrides, credentials, proxies), as
one validated object. ``extract`` never reads the environment: the entry point builds the settings once
(``observatoire.config.load_settings``, a pydantic-settings object that extends :class:`ExtractSettings`) and
installs them with :func:`install`; every limit is then read from :func:`current`. Until an entry point installs
settings, :func:`current` holds the defaults.

The number rule is written once here (:func:`number`) and used by every numeric setting of the project, the
gates' and the run's too: a value is a decimal number (``5``, ``5.0``, ``5e0``), a whole number where a count is
expected, at least its minimum (or strictly above it); an empty value means the default. A refusal names the
variable, what it expects and what it got."""

from __future__ import annotations

import math
from collections.abc import Mapping
from typing import Annotated, Any, Generic, TypeVar

from pydantic import BaseModel, BeforeValidator, ConfigDict, Field, ValidationInfo

#: every variable of the project starts with this; a field ``http_timeout`` is ``OBSERVATOIRE_HTTP_TIMEOUT``
ENV_PREFIX = "OBSERVATOIRE_"
#: the per-source URL override: ``OBSERVATOIRE_URL_<SOURCE ID IN CAPITALS>``
URL_OVERRIDE_PREFIX = ENV_PREFIX + "URL_"
#: the proxy variables requests reads (the lower-case spelling wins, as in requests), and its list of exceptions
PROXY_VARIABLES = ("HTTPS_PROXY", "HTTP_PROXY", "ALL_PROXY")
NO_PROXY = "NO_PROXY"
#: the fields gathered from variables of their own names (not ``OBSERVATOIRE_<FIELD>``)
GATHERED = ("url_overrides", "api_keys", "proxies")


def variable(field_name: str) -> str:
    """The environment variable of a settings field: ``http_timeout`` → ``OBSERVATOIRE_HTTP_TIMEOUT``."""
    return ENV_PREFIX + field_name.upper()


def parse_number(raw: Any, *, name: str, unit: str, minimum: float = 0.0, integer: bool = False,
                 strict: bool = False) -> float | int:
    """``raw`` (text from the environment, or already a number) checked against the project's one number rule
    (see the module's text). ValueError naming ``name`` otherwise."""
    text = str(raw).strip()
    try:
        value = float(text)
    except ValueError:
        value = math.nan
    if integer and math.isfinite(value):
        value = int(value) if value.is_integer() else math.nan
    if not math.isfinite(value) or value < minimum or (strict and value == minimum):
        kind = "a whole number" if integer else "a number"
        bound = f"more than {minimum:g}" if strict else f"{minimum:g} or more"
        raise ValueError(f"{name} must be {kind} of {unit} ({bound}), got {text!r}")
    return value


def number(unit: str, minimum: float = 0.0, *, integer: bool = False, strict: bool = False, optional: bool = False):
    """A settings field type checked by :func:`parse_number` (``Annotated[int | float, …]``; with ``optional``,
    None too: unset)."""

    def check(raw: Any, info: ValidationInfo):
        if raw is None:
            return None
        return parse_number(raw, name=variable(info.field_name), unit=unit, minimum=minimum, integer=integer,
                            strict=strict)

    kind = int if integer else float
    return Annotated[kind | None if optional else kind, BeforeValidator(check)]


class ExtractSettings(BaseModel):
    """The limits of fetching and reading a source. Each field is the variable ``OBSERVATOIRE_<FIELD>``."""

    model_config = ConfigDict(frozen=True)

    http_timeout: number("seconds", 0, strict=True) = 60.0
    http_retries: number("retries", 0, integer=True) = 4
    http_backoff: number("seconds", 0) = 2.0
    http_max_retry_after: number("seconds", 0) = 300.0
    max_bytes: number("bytes", 1, integer=True) = 2 * 1024**3
    #: a ZIP archive read from a source: uncompressed bytes over all members, number of members
    max_unzipped_bytes: number("bytes", 1, integer=True) = 8 * 1024**3
    max_zip_members: number("members", 1, integer=True) = 1000
    #: overall time for one file (a paged API: all its pages), besides the read timeout; 0 = no deadline
    http_deadline: number("seconds", 0) = 1800.0
    #: ``OBSERVATOIRE_URL_<ID>`` → URL: the latest millésime of that source fetched from there instead
    url_overrides: Mapping[str, str] = Field(default_factory=dict)
    #: the credentials the registry names (a source's ``api_key_env``) → their value; never logged
    api_keys: Mapping[str, str] = Field(default_factory=dict, repr=False)
    #: the proxy variables as spelled in the environment (``https_proxy``, ``HTTPS_PROXY``…) → value, for the
    #: network diagnosis (requests reads them itself)
    proxies: Mapping[str, str] = Field(default_factory=dict, repr=False)


T = TypeVar("T")


class Installed(Generic[T]):
    """The settings object a package reads: the defaults until the entry point installs the ones it read (forked
    workers inherit them)."""

    def __init__(self, default: T) -> None:
        self.value = default

    def install(self, value: T) -> None:
        self.value = value

    def current(self) -> T:
        return self.value


_installed: Installed[ExtractSettings] = Installed(ExtractSettings())
install = _installed.install
current = _installed.current
